use serde::{Deserialize, Serialize};

mod as_string {
    pub fn serialize<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s: String = serde::Deserialize::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Serialize, Deserialize, tidings::Event)]
#[event(module = "billing")]
struct Invoiced {
    #[serde(with = "as_string")]
    total: u64,
    #[serde(with = "as_string")]
    #[tidings(type = "strng")]
    tax: u64,
}

fn main() {}
