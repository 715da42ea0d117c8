//! The front end never panics: arbitrary bytes, and arbitrary but valid TOML built from the
//! schema vocabulary, always end in a schema or in diagnostics.

use proptest::prelude::*;
use tidings_codegen::{check, Sources};

const KEYS: &[&str] = &[
    "module",
    "description",
    "version",
    "imports",
    "types",
    "events",
    "kind",
    "doc",
    "fields",
    "values",
    "tag",
    "variants",
    "type",
    "min",
    "max",
    "min_length",
    "max_length",
    "default",
    "deprecated",
    "name",
    "direction",
    "delivery",
    "payload",
    "reply",
    "tenant",
    "platform",
    "recipients",
    "user",
    "users",
    "roles",
    "rooms",
    "everyone",
    "except",
    "a",
    "id",
    "T",
];

const STRINGS: &[&str] = &[
    "uuid",
    "string?",
    "[uuid]",
    "map<i64>",
    "T",
    "x.T",
    "[T?]?",
    "enum",
    "union",
    "struct",
    "to_server",
    "both",
    "ephemeral",
    "a",
    "id",
    "chat:{id}",
    "{",
    "}",
    "t.id",
    "",
    "ü{ß}",
    "u8",
    "json?",
    "a:b",
];

fn value() -> impl Strategy<Value = toml::Value> {
    let leaf = prop_oneof![
        prop::sample::select(STRINGS).prop_map(|s| toml::Value::String(s.to_owned())),
        any::<i64>().prop_map(toml::Value::Integer),
        any::<bool>().prop_map(toml::Value::Boolean),
        (-1e6f64..1e6).prop_map(toml::Value::Float),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                toml::Value::Table(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut sources = Sources::new();
        sources.add("fuzz.toml", String::from_utf8_lossy(&bytes).into_owned());
        let _ = check(&sources).map_err(|d| d.render(&sources));
    }

    #[test]
    fn arbitrary_schema_shaped_toml_never_panics(
        tables in prop::collection::vec(prop::collection::vec((prop::sample::select(KEYS), value()), 0..8), 1..3)
    ) {
        let mut sources = Sources::new();
        for (i, table) in tables.into_iter().enumerate() {
            let table: toml::Table = table.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            let text = toml::to_string(&table).expect("a table serializes");
            sources.add(format!("f{i}.toml"), text);
        }
        match check(&sources) {
            Ok(checked) => { let _ = serde_json::to_string(&checked.schema); }
            Err(diags) => {
                prop_assert!(diags.has_errors());
                let rendered = diags.render(&sources);
                prop_assert!(rendered.contains("error["));
                let _ = diags.to_json(&sources);
            }
        }
    }
}

/// Type expressions nested thousands deep (lists, maps, optionals between them) end in a located
/// error, not in a stack overflow of any later stage.
#[test]
fn types_nested_thousands_deep_are_a_located_error() {
    for (open, close) in [("[", "]"), ("map<", ">"), ("[", "?]")] {
        let depth = 20_000;
        let ty = format!("{}string{}", open.repeat(depth), close.repeat(depth));
        let text = format!("module = \"deep\"\n[types.Deep]\nfields.deep = \"{ty}\"\n");
        let mut sources = Sources::new();
        sources.add("deep.toml", text);
        let diagnostics = check(&sources).expect_err("refused");
        let rendered = diagnostics.render(&sources);
        assert!(
            rendered.contains("nest deeper than 32 levels"),
            "{open}: {rendered}"
        );
    }
}
