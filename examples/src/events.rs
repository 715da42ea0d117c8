//! Events of the shipped schemas (`schemas/ticket.toml`, `chat.toml`, `operation.toml`),
//! implemented by hand on the `tidings` API — the code `tidings generate --rust` emits for them
//! has this shape.

use serde::{Deserialize, Serialize};
use tidings::schema::{Delivery, Direction};
use tidings::{to_user, Event, Recipients, Violation};

/// `ticket:created`: to the creator, the assignee, the participants and the tenant's admins and
/// super admins, never the actor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketCreated {
    /// The ticket.
    pub ticket: Ticket,
    /// Who made the change.
    pub actor_id: String,
}

/// A support ticket (subset of `ticket.Ticket`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ticket {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// One-line summary.
    pub title: String,
    /// Who opened it.
    pub created_by: String,
    /// Who works on it.
    pub assignee_id: Option<String>,
    /// Who follows it.
    pub participant_ids: Vec<String>,
}

impl Event for TicketCreated {
    const NAME: &'static str = "ticket:created";
    const MODULE: &'static str = "ticket";
    const DIRECTION: Direction = Direction::ServerToClient;
    const DELIVERY: Delivery = Delivery::Durable;
    type Reply = ();

    fn recipients(&self) -> Recipients {
        to_user(&self.ticket.created_by)
            .to_user_opt(self.ticket.assignee_id.as_deref())
            .to_users(&self.ticket.participant_ids)
            .to_role("admin")
            .to_role("super_admin")
            .in_tenant(&self.ticket.tenant_id)
            .except(&self.actor_id)
    }

    fn validate(&self) -> Result<(), Violation> {
        let len = self.ticket.title.chars().count();
        if !(1..=200).contains(&len) {
            return Err(Violation::new(
                "ticket.title",
                format!("must be 1 to 200 characters long, got {len}"),
            ));
        }
        Ok(())
    }
}

/// `chat:message`: to the room `chat:{chat_id}` of the message's tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The stored message.
    pub message: StoredMessage,
}

/// A stored chat message (subset of `chat.ChatMessage`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredMessage {
    /// Id.
    pub id: u64,
    /// Chat.
    pub chat_id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Sender.
    pub sender_id: String,
    /// Text.
    pub text: String,
}

impl Event for ChatMessage {
    const NAME: &'static str = "chat:message";
    const MODULE: &'static str = "chat";
    const DIRECTION: Direction = Direction::ServerToClient;
    const DELIVERY: Delivery = Delivery::Durable;
    type Reply = ();

    fn recipients(&self) -> Recipients {
        tidings::to_room(format!("chat:{}", self.message.chat_id))
            .in_tenant(&self.message.tenant_id)
    }
}

/// `chat:typing`: ephemeral, to the room, except the typist.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Typing {
    /// Chat.
    pub chat_id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Who types.
    pub user_id: String,
    /// Started or stopped.
    pub is_typing: bool,
}

impl Event for Typing {
    const NAME: &'static str = "chat:typing";
    const MODULE: &'static str = "chat";
    const DIRECTION: Direction = Direction::ServerToClient;
    const DELIVERY: Delivery = Delivery::Ephemeral;
    type Reply = ();

    fn recipients(&self) -> Recipients {
        tidings::to_room(format!("chat:{}", self.chat_id))
            .in_tenant(&self.tenant_id)
            .except(&self.user_id)
    }
}

/// `chat:sendMessage`: a client posts a message; the reply is the stored message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendMessage {
    /// Chat.
    pub chat_id: String,
    /// Text, 1 to 10,000 characters.
    pub text: String,
}

impl Event for SendMessage {
    const NAME: &'static str = "chat:sendMessage";
    const MODULE: &'static str = "chat";
    const DIRECTION: Direction = Direction::ClientToServer;
    const DELIVERY: Delivery = Delivery::Durable;
    type Reply = StoredMessage;

    fn validate(&self) -> Result<(), Violation> {
        let len = self.text.chars().count();
        if !(1..=10_000).contains(&len) {
            return Err(Violation::new(
                "text",
                format!("must be 1 to 10000 characters long, got {len}"),
            ));
        }
        Ok(())
    }
}

/// `operation:progress`: to the user who started the operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OperationProgress {
    /// Operation.
    pub operation_id: String,
    /// Kind of operation.
    pub operation_type: String,
    /// Who started it.
    pub user_id: String,
    /// Current step.
    pub stage: String,
    /// 0 to 100.
    pub percentage: u8,
}

impl Event for OperationProgress {
    const NAME: &'static str = "operation:progress";
    const MODULE: &'static str = "operation";
    const DIRECTION: Direction = Direction::ServerToClient;
    const DELIVERY: Delivery = Delivery::Durable;
    type Reply = ();

    fn recipients(&self) -> Recipients {
        to_user(&self.user_id)
    }

    fn validate(&self) -> Result<(), Violation> {
        if self.percentage > 100 {
            return Err(Violation::new(
                "percentage",
                format!("must be at most 100, got {}", self.percentage),
            ));
        }
        Ok(())
    }
}
