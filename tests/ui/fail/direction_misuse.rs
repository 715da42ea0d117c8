use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, tidings::Event)]
#[event(module = "chat", reply = String, user = "user_id")]
struct Notice {
    user_id: String,
}

#[derive(Serialize, Deserialize, tidings::Event)]
#[event(module = "chat", direction = "to_servr")]
struct Send {
    text: String,
}

#[derive(Serialize, Deserialize, tidings::Event)]
#[event(module = "chat", direction = "to_server", delivery = "ephemeral", user = "user_id")]
struct Post {
    user_id: String,
}

fn main() {}
