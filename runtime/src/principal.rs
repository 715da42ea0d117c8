//! Who is on the other end of a connection.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// The authenticated identity of a connection: a user, their roles, and their tenant.
///
/// Ids are strings on the wire and in the hub, whatever their type in the schema: a UUID in its
/// hyphenated lowercase form, an integer in decimal. Generated code converts with `to_string()`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The user id. Every connection has one; several connections may share it (tabs, devices).
    pub user_id: String,
    /// Roles such as `admin`; role rules select connections by these.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The tenant the connection belongs to. A connection without a tenant never receives an
    /// event scoped to a tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// When the credentials expire; the session is closed with
    /// [`close::AUTH_EXPIRED`](crate::protocol::close::AUTH_EXPIRED) then, unless refreshed.
    #[serde(skip)]
    pub expires_at: Option<SystemTime>,
}

impl Principal {
    /// A principal for `user_id`, with no roles, no tenant and no expiry.
    pub fn user(user_id: impl Into<String>) -> Principal {
        Principal {
            user_id: user_id.into(),
            roles: Vec::new(),
            tenant: None,
            expires_at: None,
        }
    }

    /// Sets the tenant.
    pub fn in_tenant(mut self, tenant: impl Into<String>) -> Principal {
        self.tenant = Some(tenant.into());
        self
    }

    /// Adds a role.
    pub fn with_role(mut self, role: impl Into<String>) -> Principal {
        self.roles.push(role.into());
        self
    }

    /// Sets the expiry.
    pub fn expires_at(mut self, at: SystemTime) -> Principal {
        self.expires_at = Some(at);
        self
    }

    /// Whether the principal holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}
