use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, tidings::Event)]
#[event(module = "ticket", user = "creatd_by", except = "actor")]
struct Created {
    created_by: String,
    actor_id: String,
}

fn main() {}
