use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, tidings::Event)]
#[event(user = "user_id")]
struct Progress {
    user_id: String,
}

#[derive(Serialize, Deserialize, tidings::Describe)]
struct Ticket {
    id: String,
}

fn main() {}
