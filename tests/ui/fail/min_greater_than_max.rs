use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, tidings::Event)]
#[event(module = "operation")]
struct Progress {
    #[tidings(min = 10, max = 5)]
    steps: u32,
    #[tidings(min_length = -1)]
    stage: String,
    #[tidings(max = "ten")]
    percentage: u8,
}

fn main() {}
