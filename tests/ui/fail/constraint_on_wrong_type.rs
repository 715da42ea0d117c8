use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, tidings::Event)]
#[event(module = "operation")]
struct Progress {
    #[tidings(min = 0, max = 100)]
    stage: String,
    #[tidings(max_length = 3)]
    percentage: u8,
    #[tidings(uuid)]
    user_id: u64,
}

fn main() {}
