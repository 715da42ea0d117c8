//! Shared pieces of the examples: the event types generated from `schemas/` and
//! `examples/schemas/` by `build.rs`, a demo authenticator, and demo identities.

pub mod app;

/// The generated event types: one module per schema module.
pub mod events {
    tidings::include_events!();
}

use tidings::{AuthError, Principal, UpgradeRequest};

/// A stable UUID for a demo name (`alice`, `acme`), so demo users and tenants have the ids the
/// schemas require. Not a standard UUID version: a hash, formatted.
pub fn demo_id(name: &str) -> String {
    // FNV-1a, 128 bits: deterministic across runs and platforms.
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in name.as_bytes() {
        h ^= u128::from(*b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    let hex = format!("{h:032x}");
    format!(
        "{}-{}-8{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// The current time as RFC 3339.
pub fn now() -> String {
    tidings::protocol::rfc3339(std::time::SystemTime::now())
}

/// A demo-only authenticator that trusts the query string: `?user=alice&tenant=acme&roles=admin`.
/// Names become ids with [`demo_id`]. Never use it outside a demo: anyone can claim to be
/// anyone. Real servers use `tidings::JwtAuthenticator` or their own.
///
/// # Errors
/// 401 when there is no `user`.
pub fn trust_the_query(req: &UpgradeRequest) -> Result<Principal, AuthError> {
    let user = req.query("user").filter(|u| !u.is_empty()).ok_or_else(|| {
        AuthError::unauthorized("demo: connect with ?user=<name>[&tenant=<t>][&roles=a,b]")
    })?;
    let mut p = Principal::user(demo_id(&user));
    if let Some(t) = req.query("tenant").filter(|t| !t.is_empty()) {
        p = p.in_tenant(demo_id(&t));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_ids_are_stable_uuids() {
        let a = demo_id("alice");
        assert_eq!(a, demo_id("alice"));
        assert_ne!(a, demo_id("bob"));
        assert!(tidings::validate::is_uuid(&a), "{a}");
    }
}
