//! The example app behind the demo page and the client tests: a small ticket service, long
//! operations, announcements, notifications and chat, written against the generated API.
//!
//! Every `Handlers` trait below is generated from a schema: a new client event in a schema is a
//! compile error here until it is handled.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tidings::protocol::ErrorCode;
use tidings::schema::{Delivery, Direction};
use tidings::{Event, HandlerError, Hub, Principal, Session};

use crate::events::{chat, common, demo, notification, tenant, ticket};
use crate::{demo_id, now};

/// The app's state: the tickets it holds and a counter for ids.
#[derive(Clone, Default)]
pub struct App {
    tickets: Arc<Mutex<HashMap<String, ticket::Ticket>>>,
    next: Arc<AtomicU64>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

fn emit_failed(e: tidings::EmitError) -> HandlerError {
    HandlerError::internal(e.to_string())
}

fn tenant_of(p: &Principal) -> Result<String, HandlerError> {
    p.tenant
        .clone()
        .ok_or_else(|| HandlerError::forbidden("this action needs a tenant"))
}

impl App {
    fn id(&self, kind: &str) -> String {
        demo_id(&format!(
            "{kind}-{}",
            self.next.fetch_add(1, Ordering::Relaxed)
        ))
    }

    /// The hub of the example server: the demo authenticator, every generated router merged, and
    /// a join policy (chat rooms, for connections with a tenant).
    pub fn hub(self) -> Hub {
        self.hub_builder().build()
    }

    /// The example server's hub, still to be configured (a broker, limits, history).
    pub fn hub_builder(self) -> tidings::HubBuilder {
        let router = demo::router(self.clone())
            .merge(chat::router(self.clone()))
            .merge(notification::router(self));
        Hub::builder()
            .authenticator(crate::trust_the_query)
            .router(router)
            // Chat rooms (`chat:{chat_id}`, read with the generated reader), for connections with a tenant.
            .allow_join(|p: &Principal, room: &str| {
                p.tenant.is_some() && chat::rooms::read_chat(room).is_some()
            })
            // Who opens and leaves a chat, announced by the hub (schemas/chat.toml).
            .presence_event::<chat::MemberJoined>()
            .presence_event::<chat::MemberLeft>()
    }
}

/// An `operation:progress` as a broken server would send it: no constraint checks, so the
/// client's guard is what catches the percentage.
#[derive(Serialize, Deserialize)]
struct UncheckedProgress {
    operation_id: String,
    operation_type: String,
    user_id: String,
    stage: String,
    percentage: u16,
}

impl Event for UncheckedProgress {
    const NAME: &'static str = "operation:progress";
    const MODULE: &'static str = "operation";
    const DIRECTION: Direction = Direction::ServerToClient;
    const DELIVERY: Delivery = Delivery::Ephemeral;
    type Reply = ();
}

impl demo::Handlers for App {
    async fn open_ticket(
        &self,
        session: Session,
        event: demo::OpenTicket,
    ) -> Result<ticket::Ticket, HandlerError> {
        let who = session.principal();
        let at = now();
        let t = ticket::Ticket {
            id: self.id("ticket"),
            tenant_id: tenant_of(&who)?,
            title: event.title,
            description: None,
            status: ticket::TicketStatus::Open,
            priority: ticket::TicketPriority::Normal,
            created_by: who.user_id.clone(),
            assignee_id: event.assignee.as_deref().map(demo_id),
            participant_ids: event.participants.iter().map(|p| demo_id(p)).collect(),
            tags: Vec::new(),
            created_at: at.clone(),
            updated_at: at,
        };
        self.tickets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(t.id.clone(), t.clone());
        ticket::Created {
            ticket: t.clone(),
            actor_id: who.user_id.clone(),
        }
        .emit(session.hub())
        .map_err(emit_failed)?;
        Ok(t)
    }

    async fn change_status(
        &self,
        session: Session,
        event: demo::ChangeStatus,
    ) -> Result<ticket::Ticket, HandlerError> {
        let who = session.principal();
        let (t, previous) = {
            let mut tickets = self
                .tickets
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let t = tickets
                .get_mut(&event.ticket_id)
                .filter(|t| Some(&t.tenant_id) == who.tenant.as_ref())
                .ok_or_else(|| {
                    HandlerError::new("not_found", "no such ticket in your tenant")
                        .with_field("ticket_id")
                })?;
            let previous = t.status;
            t.status = event.status;
            t.updated_at = now();
            (t.clone(), previous)
        };
        ticket::StatusChanged {
            ticket: t.clone(),
            previous_status: previous,
            actor_id: who.user_id.clone(),
        }
        .emit(session.hub())
        .map_err(emit_failed)?;
        Ok(t)
    }

    async fn start_operation(
        &self,
        session: Session,
        event: demo::StartOperation,
    ) -> Result<demo::OperationStarted, HandlerError> {
        // The runtime's operations helper emits the generic operation events: progress clamped
        // and never decreasing, one ending, and state a late client can ask for ($operations).
        let operations = match &event.id {
            // The app's own id (the job's), as the operations helper checks it.
            Some(id) => session.hub().operations().with_id(id.clone()),
            None => session.hub().operations(),
        };
        let op = operations
            .start(&session.principal(), &event.operation_type)
            .map_err(|e| match e {
                tidings::operations::OperationError::InvalidId(_) => {
                    HandlerError::protocol(ErrorCode::InvalidPayload, e.to_string())
                        .with_field("id")
                }
                e => HandlerError::internal(e.to_string()),
            })?;
        let operation_id = op.id().to_owned();
        tokio::spawn(async move {
            let steps = u32::from(event.steps);
            for step in 1..=steps {
                tokio::time::sleep(Duration::from_millis(u64::from(event.step_ms))).await;
                let percentage = u8::try_from(step * 100 / steps).unwrap_or(100);
                if op
                    .progress(&format!("step {step} of {steps}"), percentage, None)
                    .is_err()
                {
                    return;
                }
            }
            let _ = op.complete(
                tidings::json::json!({ "rows": 42 }),
                &["tickets"],
                Some("done"),
            );
        });
        Ok(demo::OperationStarted { operation_id })
    }

    async fn announce(&self, session: Session, event: demo::Announce) -> Result<(), HandlerError> {
        let who = session.principal();
        tenant::Announcement {
            tenant_id: tenant_of(&who)?,
            announcement_id: self.id("announcement"),
            severity: common::Severity::Info,
            title: event.title,
            body: event.body,
            link: None,
            published_by: who.user_id.clone(),
        }
        .emit(session.hub())
        .map_err(emit_failed)?;
        Ok(())
    }

    async fn raise_alert(
        &self,
        session: Session,
        event: demo::RaiseAlert,
    ) -> Result<(), HandlerError> {
        tenant::PlatformAlert {
            alert_id: self.id("alert"),
            severity: common::Severity::Critical,
            component: "demo".to_owned(),
            title: "Demo alert".to_owned(),
            message: event.message,
            raised_at: now(),
        }
        .emit(session.hub())
        .map_err(emit_failed)?;
        Ok(())
    }

    async fn notify(&self, session: Session, event: demo::Notify) -> Result<(), HandlerError> {
        notification::Received {
            notification: notification::Notification {
                id: self.id("notification"),
                user_id: demo_id(&event.user),
                severity: common::Severity::Info,
                title: event.title,
                body: None,
                link: None,
                created_at: now(),
            },
        }
        .emit(session.hub())
        .map_err(emit_failed)?;
        Ok(())
    }

    async fn send_malformed(
        &self,
        session: Session,
        _: demo::SendMalformed,
    ) -> Result<(), HandlerError> {
        let bad = UncheckedProgress {
            operation_id: self.id("operation"),
            operation_type: "broken".to_owned(),
            user_id: session.principal().user_id.clone(),
            stage: "beyond".to_owned(),
            percentage: 150,
        };
        session.send(&bad).map_err(emit_failed)
    }
}

impl chat::Handlers for App {
    async fn send_message(
        &self,
        session: Session,
        event: chat::SendMessage,
    ) -> Result<chat::ChatMessage, HandlerError> {
        let who = session.principal();
        if !session.rooms().contains(&format!("chat:{}", event.chat_id)) {
            return Err(
                HandlerError::forbidden("join the chat before posting to it").with_field("chat_id"),
            );
        }
        let message = chat::ChatMessage {
            id: self.id("message"),
            chat_id: event.chat_id,
            tenant_id: tenant_of(&who)?,
            sender_id: who.user_id.clone(),
            body: event.body,
            client_id: event.client_id,
            sent_at: now(),
            edited_at: None,
        };
        chat::Message {
            message: message.clone(),
        }
        .emit(session.hub())
        .map_err(emit_failed)?;
        Ok(message)
    }

    async fn set_typing(
        &self,
        session: Session,
        event: chat::SetTyping,
    ) -> Result<(), HandlerError> {
        let who = session.principal();
        chat::Typing {
            chat_id: event.chat_id,
            tenant_id: tenant_of(&who)?,
            user_id: who.user_id.clone(),
            is_typing: event.is_typing,
        }
        .emit(session.hub())
        .map_err(emit_failed)?;
        Ok(())
    }
}

impl notification::Handlers for App {
    async fn mark_read(
        &self,
        session: Session,
        event: notification::MarkRead,
    ) -> Result<notification::MarkReadResult, HandlerError> {
        let updated = u32::try_from(event.notification_ids.len()).unwrap_or(u32::MAX);
        notification::Read {
            user_id: session.principal().user_id.clone(),
            notification_ids: event.notification_ids,
        }
        .emit(session.hub())
        .map_err(emit_failed)?;
        Ok(notification::MarkReadResult { updated })
    }
}
