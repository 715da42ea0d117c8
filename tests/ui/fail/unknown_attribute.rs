use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, tidings::Event)]
#[event(module = "jobs", delivry = "ephemeral")]
struct Ping {
    #[tidings(uid)]
    id: String,
}

fn main() {}
