use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tidings::{Describe, Event};

#[derive(Serialize, Deserialize, Describe)]
#[tidings(module = "shop")]
#[serde(rename_all = "camelCase")]
struct Base {
    created_at_ms: u64,
}

/// A product.
#[derive(Serialize, Deserialize, Describe)]
#[tidings(module = "shop")]
struct Product {
    #[tidings(uuid)]
    id: String,
    #[serde(rename = "displayName")]
    #[tidings(min_length = 1)]
    name: String,
    #[serde(flatten)]
    base: Base,
    #[serde(skip)]
    cache: Option<u32>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[deprecated(note = "use attributes")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    color: Option<String>,
}

/// Changed.
#[derive(Serialize, Deserialize, Event)]
#[event(module = "shop", name = "shop:productChanged", tenant = "tenant_id", everyone, except = "actor_id")]
#[event(user = "product.id", users = "watchers", role = "admin", room = "shop:{tenant_id}:{kind}")]
struct ProductChanged {
    product: Product,
    tenant_id: String,
    kind: u32,
    actor_id: Option<String>,
    watchers: Option<Vec<u64>>,
}

#[derive(Serialize, Deserialize, Event)]
#[event(module = "shop", direction = "both", delivery = "ephemeral", reply = Product, platform, role = "ops")]
struct Ping {}

fn main() {
    let schema = tidings::describe::schema().expect("one schema");
    assert_eq!(schema.modules[0].events.len(), 2);
}
