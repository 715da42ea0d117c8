//! The IR is the contract between the compiler (`tidings-codegen`) and everything that reads it
//! (`tidings`, backends, `tidings compat`). These tests hold it stable and deterministic.

use tidings::schema::Schema;
use tidings_tests::shipped_schema;

#[test]
fn compiling_twice_gives_the_same_ir() {
    let a = serde_json::to_string(&shipped_schema()).expect("serializes");
    let b = serde_json::to_string(&shipped_schema()).expect("serializes");
    assert_eq!(a, b);
}

#[test]
fn the_runtime_crate_reads_the_compilers_ir() {
    let json = serde_json::to_value(shipped_schema()).expect("serializes");
    let schema: Schema = serde_json::from_value(json).expect("tidings reads the IR");
    assert_eq!(schema.ir_version, tidings::schema::IR_VERSION);
    let (module, event) = schema
        .event_by_wire_name("tenant:adminNotification")
        .expect("shipped event");
    assert_eq!(module.name, "tenant");
    let rooms: Vec<_> = event
        .recipients
        .iter()
        .flat_map(|r| &r.rules)
        .filter_map(|r| match r {
            tidings::schema::Rule::Room { template } => Some(template.template.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(rooms, ["tenant:{tenant_id}:admins"]);
}

/// The whole IR of the shipped schemas, as JSON: any change to the IR format or to the shipped
/// schemas shows up here for review.
#[test]
fn shipped_ir_snapshot() {
    let mut json = serde_json::to_value(shipped_schema()).expect("serializes");
    // Locations hold the path as given, which depends on where the checkout is.
    strip_locations(&mut json);
    insta::assert_json_snapshot!(json);
}

fn strip_locations(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.remove("location");
            map.values_mut().for_each(strip_locations);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_locations),
        _ => {}
    }
}
