use serde::{Deserialize, Serialize};

// The variant that takes undeclared values must be the last, with one field.
#[derive(Serialize, Deserialize, tidings::Describe)]
#[tidings(module = "ui")]
enum Mood {
    #[serde(untagged)]
    Unknown(String),
    Calm,
}

#[derive(Serialize, Deserialize, tidings::Describe)]
#[tidings(module = "ui")]
enum Weather {
    Sunny,
    #[serde(untagged)]
    Other,
}

fn main() {}
