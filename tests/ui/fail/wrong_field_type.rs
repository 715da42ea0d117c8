use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, tidings::Event)]
#[event(module = "ticket", user = "participant_ids", users = "created_by")]
struct Created {
    created_by: String,
    participant_ids: Vec<String>,
}

fn main() {}
