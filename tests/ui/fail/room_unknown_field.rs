use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, tidings::Event)]
#[event(module = "chat", tenant = "tenant_id", room = "chat:{chat}", room = "chat:{chat_id")]
struct Typing {
    chat_id: String,
    tenant_id: String,
}

fn main() {}
