//! Shared pieces of the examples: the demo's events, written by hand against the `tidings`
//! API exactly as generated code implements them, and a demo authenticator.

pub mod events;

use tidings::{AuthError, Principal, UpgradeRequest};

/// A demo-only authenticator that trusts the query string: `?user=alice&tenant=acme&roles=admin`.
/// Never use it outside a demo: anyone can claim to be anyone. Real servers use
/// `tidings::JwtAuthenticator` or their own.
///
/// # Errors
/// 401 when there is no `user`.
pub fn trust_the_query(req: &UpgradeRequest) -> Result<Principal, AuthError> {
    let user = req.query("user").filter(|u| !u.is_empty()).ok_or_else(|| {
        AuthError::unauthorized("demo: connect with ?user=<name>[&tenant=<t>][&roles=a,b]")
    })?;
    let mut p = Principal::user(user);
    if let Some(t) = req.query("tenant").filter(|t| !t.is_empty()) {
        p = p.in_tenant(t);
    }
    for role in req
        .query("roles")
        .unwrap_or_default()
        .split(',')
        .filter(|r| !r.is_empty())
    {
        p = p.with_role(role);
    }
    Ok(p)
}
