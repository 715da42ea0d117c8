//! Events used by the tests, implemented by hand the way generated code will implement them.

use serde::{Deserialize, Serialize};
use tidings::schema::{Delivery, Direction};
use tidings::{to_user, Event, Recipients, Violation};

/// A ticket event: creator, assignee and participants, the tenant's admins, never the actor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TicketCreated {
    pub(crate) tenant_id: String,
    pub(crate) ticket_id: String,
    pub(crate) created_by: String,
    pub(crate) assignee_id: Option<String>,
    pub(crate) participant_ids: Vec<String>,
    pub(crate) actor_id: String,
}

impl Event for TicketCreated {
    const NAME: &'static str = "ticket:created";
    const MODULE: &'static str = "ticket";
    const DIRECTION: Direction = Direction::ServerToClient;
    const DELIVERY: Delivery = Delivery::Durable;
    type Reply = ();

    fn recipients(&self) -> Recipients {
        to_user(&self.created_by)
            .to_user_opt(self.assignee_id.as_deref())
            .to_users(&self.participant_ids)
            .to_role("admin")
            .in_tenant(&self.tenant_id)
            .except(&self.actor_id)
    }
}

/// Ephemeral, to a room of a tenant, except the typist.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Typing {
    pub(crate) tenant_id: String,
    pub(crate) chat_id: String,
    pub(crate) user_id: String,
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

/// Everyone in a tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Announcement {
    pub(crate) tenant_id: String,
    pub(crate) title: String,
}

impl Event for Announcement {
    const NAME: &'static str = "tenant:announcement";
    const MODULE: &'static str = "tenant";
    const DIRECTION: Direction = Direction::ServerToClient;
    const DELIVERY: Delivery = Delivery::Durable;
    type Reply = ();

    fn recipients(&self) -> Recipients {
        tidings::to_tenant(&self.tenant_id)
    }
}

/// Every platform admin, whatever their tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PlatformAlert {
    pub(crate) message: String,
}

impl Event for PlatformAlert {
    const NAME: &'static str = "platform:alert";
    const MODULE: &'static str = "tenant";
    const DIRECTION: Direction = Direction::ServerToClient;
    const DELIVERY: Delivery = Delivery::Durable;
    type Reply = ();

    fn recipients(&self) -> Recipients {
        tidings::to_role("platform_admin").across_platform()
    }
}

/// Progress of an operation: `percentage` is 0..=100.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Progress {
    pub(crate) user_id: String,
    pub(crate) percentage: u8,
}

impl Event for Progress {
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

/// A client sends a message; the reply is the stored message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SendMessage {
    pub(crate) chat_id: String,
    pub(crate) text: String,
}

/// The reply to [`SendMessage`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct StoredMessage {
    pub(crate) id: u64,
    pub(crate) chat_id: String,
    pub(crate) text: String,
    pub(crate) sender: String,
}

impl Event for SendMessage {
    const NAME: &'static str = "chat:sendMessage";
    const MODULE: &'static str = "chat";
    const DIRECTION: Direction = Direction::ClientToServer;
    const DELIVERY: Delivery = Delivery::Durable;
    type Reply = StoredMessage;

    fn validate(&self) -> Result<(), Violation> {
        if self.text.is_empty() || self.text.chars().count() > 20 {
            return Err(Violation::new("text", "must be 1 to 20 characters long"));
        }
        Ok(())
    }
}
