use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, tidings::Describe)]
#[tidings(module = "chat")]
enum Body {
    Text(String),
    Deleted,
}

#[derive(Serialize, Deserialize, tidings::Describe)]
#[tidings(module = "chat")]
#[serde(tag = "type")]
enum Shape {
    Circle { radius: f64 },
}

fn main() {}
