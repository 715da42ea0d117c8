use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, tidings::Event)]
#[event(module = "tenant", tenant = "tenant_id", platform, everyone)]
struct Announcement {
    tenant_id: String,
}

#[derive(Serialize, Deserialize, tidings::Event)]
#[event(module = "tenant", role = "admin", everyone)]
struct Unscoped {
    title: String,
}

fn main() {}
