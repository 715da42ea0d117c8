//! Golden files of the generated TypeScript and Rust for every shipped schema module.

use std::path::Path;

use tidings_codegen::ts::{self, TsOptions};

fn shipped() -> tidings_codegen::schema::Schema {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let paths = [root.join("schemas"), root.join("examples/schemas")];
    let (sources, result) = tidings_codegen::check_paths(&paths).expect("readable");
    match result {
        Ok(c) => c.schema,
        Err(d) => panic!("{}", d.render(&sources)),
    }
}

#[test]
fn typescript_output_is_golden_and_deterministic() {
    let schema = shipped();
    let files = ts::generate(
        &schema,
        &TsOptions {
            react: true,
            vue: true,
            publisher: true,
        },
    );
    assert_eq!(
        files,
        ts::generate(
            &schema,
            &TsOptions {
                react: true,
                vue: true,
                publisher: true,
            }
        ),
        "deterministic"
    );
    assert_eq!(
        files[Path::new("runtime.ts")],
        ts::RUNTIME_TS,
        "the runtime is embedded verbatim"
    );
    assert_eq!(files[Path::new("react.ts")], ts::REACT_TS);
    assert_eq!(files[Path::new("vue.ts")], ts::VUE_TS);
    assert_eq!(files[Path::new("publisher.ts")], ts::PUBLISHER_TS);
    for (name, content) in &files {
        let name = name.display().to_string();
        if ["runtime.ts", "react.ts", "vue.ts", "publisher.ts"].contains(&name.as_str()) {
            continue;
        }
        assert!(
            content.starts_with(tidings_codegen::output::GENERATED_MARKER),
            "{name}"
        );
        insta::assert_snapshot!(format!("ts__{name}"), content);
    }
    let plain = ts::generate(&schema, &TsOptions::default());
    assert!(!plain.contains_key(Path::new("react.ts")));
    assert!(!plain.contains_key(Path::new("vue.ts")));
    assert!(!plain.contains_key(Path::new("publisher.ts")));
}

#[test]
fn rust_output_is_golden_and_deterministic() {
    let schema = shipped();
    let files = tidings_codegen::rust::generate(&schema);
    assert_eq!(
        files,
        tidings_codegen::rust::generate(&schema),
        "deterministic"
    );
    for (name, content) in &files {
        let name = name.display().to_string();
        assert!(
            content.starts_with(tidings_codegen::output::GENERATED_MARKER),
            "{name}"
        );
        syn::parse_file(content).unwrap_or_else(|e| panic!("{name} is not valid Rust: {e}"));
        insta::assert_snapshot!(format!("rust__{name}"), content);
    }
}

#[test]
fn exports_are_golden_and_deterministic() {
    let schema = shipped();
    let asyncapi = tidings_codegen::asyncapi::generate(&schema);
    assert_eq!(asyncapi, tidings_codegen::asyncapi::generate(&schema));
    insta::assert_snapshot!("asyncapi", asyncapi);
    let catalog = tidings_codegen::catalog::generate(&schema);
    assert_eq!(catalog, tidings_codegen::catalog::generate(&schema));
    insta::assert_snapshot!("catalog_md", catalog[Path::new("catalog.md")]);
    let js = tidings_codegen::jsonschema::generate(&schema);
    assert_eq!(js, tidings_codegen::jsonschema::generate(&schema));
    insta::assert_snapshot!(
        "jsonschema_ticket_created",
        js[Path::new("ticket/events/created.schema.json")]
    );
}
