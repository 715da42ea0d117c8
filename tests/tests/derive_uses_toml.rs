//! A derived event may use a type generated from a schema file: `describe::schema` leaves the
//! type out of its IR (the schema file holds it) and refers to it by module and name, and the
//! contract that joins the TOML modules and that IR document resolves the reference — one
//! TypeScript client with both.

use serde::{Deserialize, Serialize};
use tidings::schema::TypeRef;
use tidings::Event;
use tidings_tests::events::common::{Link, Severity};

/// A build finished; the team sees it with the severity and link types of `schemas/common.toml`.
#[derive(Debug, Serialize, Deserialize, Event)]
#[event(module = "builds", name = "builds:finished", platform)]
struct BuildFinished {
    build_id: String,
    severity: Severity,
    link: Option<Link>,
}

#[test]
fn a_derived_event_uses_types_generated_from_toml_and_the_joined_contract_checks() {
    let derived = tidings::describe::schema().expect("a derived event may use generated types");
    assert!(
        derived.module("common").is_none(),
        "the TOML module's types stay in the schema files"
    );
    let builds = derived.module("builds").expect("the derived module");
    assert_eq!(builds.imports, ["common"]);
    let (_, event) = derived
        .event_by_wire_name("builds:finished")
        .expect("derived");
    assert!(event.payload.iter().any(|f| f.ty
        == TypeRef::Named {
            module: "common".into(),
            name: "Severity".into()
        }));

    // The IR document joins the shipped schemas: the reference resolves, one client has both.
    let mut sources = tidings_codegen::Sources::new();
    sources
        .add_path(tidings_tests::repo_root().join("schemas"))
        .expect("schemas/");
    sources.add(
        "schemas/builds.ir.json",
        serde_json::to_string_pretty(&derived).expect("IR"),
    );
    let checked =
        tidings_codegen::check(&sources).unwrap_or_else(|d| panic!("{}", d.render(&sources)));
    assert_eq!(checked.derived, ["builds"]);
    let ts = tidings_codegen::ts::generate(&checked.schema, &Default::default());
    let module = &ts[std::path::Path::new("builds.ts")];
    assert!(
        module.contains("import * as common from \"./common.js\";")
            && module.contains("common.Severity"),
        "{module}"
    );

    // And the generated type serializes as the contract says.
    let wire = serde_json::to_value(BuildFinished {
        build_id: "b1".into(),
        severity: Severity::Warning,
        link: None,
    })
    .expect("serializes");
    assert_eq!(wire["severity"], "warning");
    assert_eq!(BuildFinished::NAME, "builds:finished");
}
