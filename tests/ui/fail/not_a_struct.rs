use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, tidings::Event)]
#[event(module = "jobs")]
struct Tuple(String);

#[derive(Serialize, Deserialize, tidings::Event)]
#[event(module = "jobs")]
enum State {
    Running,
}

fn main() {}
