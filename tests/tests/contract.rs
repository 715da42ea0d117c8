//! The differential test of the contract: for every event of the shipped schemas, the example
//! schemas and a schema written to cover every type and constraint of the language
//! (`tests/contract/coverage.toml`), documents at and around every boundary and shape are judged
//! by three sides, which must agree:
//!
//! - **Rust**: the generated event type, decoded as the server decodes an inbound payload
//!   (`tidings::validate::decode`: the IR contract, serde) and validated (`Event::validate`);
//! - **JSON Schema**: the exported schema of the payload, with the `jsonschema` crate (formats
//!   checked). Chosen over ajv because it compares integers exactly at 64-bit edges: ajv reads
//!   numbers as JavaScript doubles, in which `9223372036854775807` and `…808` are one number;
//! - **TypeScript**: the generated guard, in Node, on `JSON.parse(text)`.
//!
//! Rust and JSON Schema judge the text and must agree on every document. The guard judges the
//! value JavaScript holds, where every number is a double: it must agree with Rust on the
//! document as JavaScript holds it ([`js_view`]: identical for every document without an integer
//! beyond 2^53 or a decimal finer than a double). Every payload Rust accepts is encoded again as
//! the server would send it; that value must pass the JSON Schema and the guard, and type-check
//! against the generated TypeScript (`tsc --strict --exactOptionalPropertyTypes
//! --noUncheckedIndexedAccess`).
//!
//! Needs Node and `clients/ts/node_modules` (`npm ci` in clients/ts, which `./scripts/test`
//! does first).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use tidings_codegen::ts::{self, TsOptions};
use tidings_tests::contract::{
    corpus, decode_event, js_view, recipients_of, schema_accepts, validators, Doc,
};
use tidings_tests::repo_root;

fn schema() -> tidings::schema::Schema {
    let root = repo_root();
    let paths = [
        root.join("schemas"),
        root.join("examples/schemas"),
        root.join("tests/contract"),
    ];
    let (sources, result) = tidings_codegen::check_paths(&paths).expect("schemas are readable");
    match result {
        Ok(checked) => checked.schema,
        Err(d) => panic!("{}", d.render(&sources)),
    }
}

/// What one side says of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Accepted; for the guard, the value it leaves (defaults filled in), as JSON.
    Accept(Option<String>),
    Refuse(String),
}

impl Verdict {
    fn accepts(&self) -> bool {
        matches!(self, Verdict::Accept(_))
    }
}

/// Whether everything Rust's value holds, the guard's holds too (the guard keeps unknown fields,
/// which the Rust type drops): the guard filled in every default Rust did.
fn covers(js: &Value, rust: &Value) -> bool {
    match (js, rust) {
        (Value::Object(j), Value::Object(r)) => r
            .iter()
            .all(|(k, rv)| j.get(k).is_some_and(|jv| covers(jv, rv))),
        (Value::Array(j), Value::Array(r)) => {
            j.len() == r.len() && j.iter().zip(r).all(|(a, b)| covers(a, b))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

fn rust(event: &str, text: &str) -> (Verdict, Option<String>) {
    match decode_event(event, text).expect("every event has a Rust type") {
        Ok(emitted) => (Verdict::Accept(None), Some(emitted)),
        Err(refusal) => (Verdict::Refuse(refusal.to_string()), None),
    }
}

/// The guard's verdicts on `texts` (event wire name, text), from Node; also type-checks
/// `emitted` (event wire name, whether the server sends it, text) against the generated types;
/// `test` names the calling test, whose working directory it is.
fn typescript(
    test: &str,
    schema: &tidings::schema::Schema,
    texts: &[(String, String)],
    emitted: &[(String, bool, String)],
) -> Vec<Verdict> {
    let root = repo_root();
    let tsc = root.join("clients/ts/node_modules/.bin/tsc");
    assert!(
        tsc.exists(),
        "tsc is missing: run `npm ci` in clients/ts (./scripts/test does)"
    );
    // A directory per calling test: tests run in parallel, and each empties its own first.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("contract-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    let gen = dir.join("gen");
    std::fs::create_dir_all(&gen).expect("create the output dir");
    for (file, text) in ts::generate(schema, &TsOptions::default()) {
        std::fs::write(gen.join(file), text).expect("write generated TypeScript");
    }
    let mut values = String::from(
        "// Payloads the Rust side encoded: each must type-check against the generated types.\n\
         import type { ClientEvents, ServerEvents } from \"./index.js\";\n",
    );
    for (i, (event, server, text)) in emitted.iter().enumerate() {
        let map = if *server {
            "ServerEvents"
        } else {
            "ClientEvents"
        };
        let _ = writeln!(values, "export const v{i}: {map}[{event:?}] = {text};");
    }
    std::fs::write(gen.join("emitted.ts"), values).expect("write emitted.ts");
    // ES modules, as the generated imports (`./runtime.js`) expect.
    std::fs::write(dir.join("package.json"), r#"{ "type": "module" }"#).expect("write");
    std::fs::write(
        dir.join("tsconfig.json"),
        r#"{
  "compilerOptions": {
    "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext",
    "lib": ["ES2022", "DOM"], "types": [], "strict": true, "outDir": "out", "rootDir": "gen",
    "noUncheckedIndexedAccess": true, "exactOptionalPropertyTypes": true,
    "noImplicitOverride": true, "noFallthroughCasesInSwitch": true
  },
  "include": ["gen/**/*.ts"]
}
"#,
    )
    .expect("write tsconfig.json");
    let out = Command::new(&tsc)
        .args(["-p", "tsconfig.json"])
        .current_dir(&dir)
        .output()
        .expect("tsc runs");
    assert!(
        out.status.success(),
        "the generated TypeScript, or a payload Rust encoded, does not type-check:\n{}{}",
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );

    let checks: std::collections::HashMap<&str, (String, String)> = schema
        .events()
        .map(|(m, e)| {
            let check = format!("check{}", tidings_codegen::names::event_type_name(&e.key));
            (e.name.as_str(), (m.name.clone(), check))
        })
        .collect();
    let entries: Vec<Value> = texts
        .iter()
        .map(|(event, text)| {
            let (module, check) = &checks[event.as_str()];
            json!({ "module": module, "check": check, "text": text })
        })
        .collect();
    let corpus = dir.join("corpus.json");
    std::fs::write(&corpus, serde_json::to_string(&entries).expect("JSON")).expect("write");
    std::fs::copy(
        root.join("tests/contract/harness.mjs"),
        dir.join("harness.mjs"),
    )
    .expect("copy");
    let out = Command::new("node")
        .arg(dir.join("harness.mjs"))
        .arg(dir.join("out"))
        .arg(&corpus)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "the harness failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<Verdict> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| match l.strip_prefix("no ") {
            Some(why) => Verdict::Refuse(why.to_owned()),
            None => Verdict::Accept(l.strip_prefix("ok ").map(str::to_owned)),
        })
        .collect();
    assert_eq!(verdicts.len(), texts.len(), "one verdict per document");
    verdicts
}

fn short(text: &str) -> String {
    if text.chars().count() > 160 {
        format!("{}…", text.chars().take(160).collect::<String>())
    } else {
        text.to_owned()
    }
}

/// Whether the payload `text` of `event` holds a value or variant of an open type that the
/// schema does not declare.
fn holds_undeclared(schema: &tidings::schema::Schema, event: &str, text: &str) -> bool {
    use tidings::schema::{TypeKind, TypeRef};
    fn walk(
        schema: &tidings::schema::Schema,
        ty: &TypeRef,
        v: &serde_json::Value,
        depth: usize,
    ) -> bool {
        if depth > 64 {
            return false;
        }
        match (ty, v) {
            (TypeRef::Optional(inner), v) => walk(schema, inner, v, depth + 1),
            (TypeRef::List(inner), serde_json::Value::Array(items)) => {
                items.iter().any(|i| walk(schema, inner, i, depth + 1))
            }
            (TypeRef::Map(inner), serde_json::Value::Object(map)) => {
                map.values().any(|i| walk(schema, inner, i, depth + 1))
            }
            (TypeRef::Named { module, name }, v) => {
                match schema.type_def(module, name).map(|t| &t.kind) {
                    Some(TypeKind::Enum { values, open: true }) => v
                        .as_str()
                        .is_some_and(|s| !values.iter().any(|x| x.name == s)),
                    Some(TypeKind::Struct { fields }) => fields.iter().any(|f| {
                        v.get(&f.name)
                            .is_some_and(|x| walk(schema, &f.ty, x, depth + 1))
                    }),
                    Some(TypeKind::Union {
                        tag,
                        variants,
                        open,
                    }) => {
                        let known = v
                            .get(tag)
                            .and_then(|t| t.as_str())
                            .and_then(|t| variants.iter().find(|x| x.name == t));
                        match known {
                            None => *open,
                            Some(variant) => variant
                                .payload
                                .as_ref()
                                .is_some_and(|p| walk(schema, p, v, depth + 1)),
                        }
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return false;
    };
    schema
        .events()
        .find(|(_, e)| e.name == event)
        .is_some_and(|(_, e)| {
            e.payload.iter().any(|f| {
                value
                    .get(&f.name)
                    .is_some_and(|x| walk(schema, &f.ty, x, 0))
            })
        })
}

/// The fourth side: the publish API of `tidings serve` (`Published::check`, what `POST
/// /api/publish` runs on `data`), for events the server sends. It must accept what Rust
/// accepts; and of an accepted payload, send what Rust would encode (the same JSON value) to
/// whom the generated `recipients()` names.
fn publish_disagrees(
    catalog: &tidings_serve::catalog::Catalog,
    doc: &Doc,
    rust: &Verdict,
    rust_out: Option<&str>,
) -> Option<String> {
    let event = catalog.get(&doc.event)?;
    let verdict = serde_json::from_str::<Value>(&doc.text)
        .map_err(|e| e.to_string())
        .and_then(|v| event.check(v).map_err(|e| e.to_string()));
    let prefix = || format!("{} {}: the publish API", doc.event, doc.what);
    match (verdict, rust_out) {
        (Ok((data, to)), Some(out)) => {
            let data: Value = serde_json::from_str(&data).expect("the API sends JSON");
            let out: Value = serde_json::from_str(out).expect("Rust encodes JSON");
            if data != out {
                return Some(format!(
                    "{} sends another payload than Rust encodes
    API:  {}
    Rust: {}",
                    prefix(),
                    short(&data.to_string()),
                    short(&out.to_string())
                ));
            }
            let typed = recipients_of(&doc.event, &doc.text).flatten()?;
            (routing(&to) != routing(&typed)).then(|| {
                format!(
                    "{} routes to {:?}, the generated code to {:?}
    {}",
                    prefix(),
                    routing(&to),
                    routing(&typed),
                    short(&doc.text)
                )
            })
        }
        (Err(_), None) => None,
        (Ok(_), None) => Some(format!(
            "{} accepts, Rust {rust:?}
    {}",
            prefix(),
            short(&doc.text)
        )),
        (Err(e), Some(_)) => Some(format!(
            "{} refuses ({e}), Rust accepts
    {}",
            prefix(),
            short(&doc.text)
        )),
    }
}

/// Recipients as a set: the scope, then users, roles, rooms, everyone and the excluded, sorted.
fn routing(r: &tidings::Recipients) -> String {
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    format!(
        "{:?} users {:?} roles {:?} rooms {:?} everyone {} except {:?}",
        r.scope(),
        sorted(r.users()),
        sorted(r.roles()),
        sorted(r.rooms()),
        r.is_everyone(),
        sorted(r.excluded())
    )
}

#[test]
fn rust_typescript_and_json_schema_agree_on_every_document() {
    let schema = schema();
    let docs: Vec<Doc> = corpus(&schema);
    let validators = validators(&schema);
    let server_sends: std::collections::HashMap<&str, bool> = schema
        .events()
        .map(|(_, e)| (e.name.as_str(), e.direction.server_sends()))
        .collect();

    let mut disagreements = Vec::new();
    let mut emitted: Vec<(String, bool, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut rust_on_js = Vec::new();
    let mut accepted = 0;
    let catalog = tidings_serve::catalog::Catalog::new(&schema);
    let mut published = 0;
    for doc in &docs {
        let (r, out) = rust(&doc.event, &doc.text);
        if server_sends[doc.event.as_str()] {
            published += 1;
            if let Some(d) = publish_disagrees(&catalog, doc, &r, out.as_deref()) {
                disagreements.push(d);
            }
        }
        let s = schema_accepts(&validators[&doc.event], &doc.text);
        if r.accepts() != s {
            disagreements.push(format!(
                "{} {}: Rust {:?}, JSON Schema {}\n    {}",
                doc.event,
                doc.what,
                r,
                if s { "accepts" } else { "refuses" },
                short(&doc.text)
            ));
        }
        if let Some(out) = out {
            accepted += 1;
            if !schema_accepts(&validators[&doc.event], &out) {
                disagreements.push(format!(
                    "{} {}: Rust encoded a payload the JSON Schema refuses\n    {}",
                    doc.event,
                    doc.what,
                    short(&out)
                ));
            }
            // A value an open enum or union does not declare has no literal type: it reaches
            // TypeScript through the guard only, so it is not type-checked as a literal.
            if !holds_undeclared(&schema, &doc.event, &out)
                && seen.insert((doc.event.clone(), out.clone()))
            {
                emitted.push((doc.event.clone(), server_sends[doc.event.as_str()], out));
            }
        }
        rust_on_js.push(rust(&doc.event, &js_view(&doc.text)));
    }

    // The guard, on every document and on every payload Rust encoded.
    let mut texts: Vec<(String, String)> = docs
        .iter()
        .map(|d| (d.event.clone(), d.text.clone()))
        .collect();
    texts.extend(emitted.iter().map(|(e, _, t)| (e.clone(), t.clone())));
    let guard = typescript("documents", &schema, &texts, &emitted);
    for (i, doc) in docs.iter().enumerate() {
        if let (Verdict::Accept(Some(js)), Some(r)) = (&guard[i], &rust_on_js[i].1) {
            let js: Value = serde_json::from_str(js).expect("the harness prints JSON");
            let r: Value = serde_json::from_str(r).expect("Rust encodes JSON");
            if !covers(&js, &r) {
                disagreements.push(format!(
                    "{} {}: the value the guard leaves lacks what Rust decoded\n    guard: {}\n    Rust:  {}",
                    doc.event,
                    doc.what,
                    short(&js.to_string()),
                    short(&r.to_string())
                ));
            }
        }
        if guard[i].accepts() != rust_on_js[i].0.accepts() {
            disagreements.push(format!(
                "{} {}: the guard {:?}, Rust on the value JavaScript holds {:?}\n    {}",
                doc.event,
                doc.what,
                guard[i],
                rust_on_js[i].0,
                short(&doc.text)
            ));
        }
    }
    for (j, (event, _, text)) in emitted.iter().enumerate() {
        let verdict = &guard[docs.len() + j];
        let expected = rust(event, &js_view(text)).0;
        if verdict.accepts() != expected.accepts() {
            disagreements.push(format!(
                "{event}: the guard {verdict:?} a payload Rust encoded (Rust on the value JavaScript holds: {expected:?})\n    {}",
                short(text)
            ));
        }
    }
    eprintln!(
        "{} documents over {} events ({} accepted), {} encoded payloads type-checked, {} judged by the publish API",
        docs.len(),
        schema.events().count(),
        accepted,
        emitted.len(),
        published
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements
            .iter()
            .take(60)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        docs.len() > 1000 && accepted > 100,
        "the corpus is too small to mean anything"
    );
}

/// The TypeScript guard uses the same format patterns as Rust and the JSON Schema.
#[test]
fn the_guard_uses_the_format_patterns_of_the_contract() {
    let runtime = std::fs::read_to_string(repo_root().join("codegen/ts/runtime.ts")).expect("read");
    for pattern in [
        tidings::format::UUID_PATTERN,
        tidings::format::TIMESTAMP_PATTERN,
    ] {
        assert!(
            runtime.contains(&format!("/{pattern}/")),
            "codegen/ts/runtime.ts does not use {pattern}"
        );
    }
}

/// The failing samples of the issue that asked for one exact contract, each with the verdict of
/// Rust and the JSON Schema (`rust`) and of the guard (`ts`) on a payload of the coverage schema.
#[test]
fn each_sample_has_one_verdict_everywhere() {
    const INTS: &str = r#""a_i8":0,"a_i16":0,"a_i32":0,"a_i64":0,"a_u16":0,"a_u32":0,"a_u64":0"#;
    const SMALL: &str = r#""a_u8":0,"a_i8":0,"a_i16":0,"a_i32":0,"a_u16":0,"a_u32":0"#;
    const BOUNDS: &str = r#""percent":1,"delta":0,"ratio":0.1,"small":0,"any":0"#;
    const STRINGS: &str = r#""name":"ab","free":"","id":"0f8fad5b-d9cb-469f-a165-70867728950e","flag":true,"blob":null"#;
    const SHAPE: &str =
        r#""shape":{"kind":"nothing"},"shapes":[],"tree":{"value":1,"children":[]}"#;
    let at = |t: &str| format!(r#"{{{STRINGS},"level":"low","at":"{t}"}}"#);
    let samples: Vec<(&str, &str, String, bool, bool)> = vec![
        // Integral numbers written with a fraction or exponent are integers.
        (
            "u8 1.0",
            "coverage:integers",
            format!(r#"{{{INTS},"a_u8":1.0}}"#),
            true,
            true,
        ),
        (
            "u8 1e2",
            "coverage:integers",
            format!(r#"{{{INTS},"a_u8":1e2}}"#),
            true,
            true,
        ),
        (
            "u8 -0",
            "coverage:integers",
            format!(r#"{{{INTS},"a_u8":-0}}"#),
            true,
            true,
        ),
        (
            "u8 1.5",
            "coverage:integers",
            format!(r#"{{{INTS},"a_u8":1.5}}"#),
            false,
            false,
        ),
        // 64-bit ranges, exactly; JavaScript judges the double it holds.
        (
            "i64 2^63",
            "coverage:integers",
            format!(r#"{{{SMALL},"a_u64":0,"a_i64":9223372036854775808}}"#),
            false,
            false,
        ),
        (
            "i64 max",
            "coverage:integers",
            format!(r#"{{{SMALL},"a_u64":0,"a_i64":9223372036854775807}}"#),
            true,
            false,
        ),
        (
            "u64 2^64",
            "coverage:integers",
            format!(r#"{{{SMALL},"a_i64":0,"a_u64":18446744073709551616}}"#),
            false,
            false,
        ),
        // Declared bounds survive exactly.
        (
            "u64 min 2^53+1, value 2^53",
            "coverage:bounds",
            format!(r#"{{{BOUNDS},"wide":0,"big":9007199254740992}}"#),
            false,
            false,
        ),
        (
            "u64 min 2^53+1, value 2^53+1",
            "coverage:bounds",
            format!(r#"{{{BOUNDS},"wide":0,"big":9007199254740993}}"#),
            true,
            false,
        ),
        (
            "u64 min 2^53+1, value 2^53+2",
            "coverage:bounds",
            format!(r#"{{{BOUNDS},"wide":0,"big":9007199254740994}}"#),
            true,
            true,
        ),
        // A float outside its type's finite range.
        (
            "f32 1e39",
            "coverage:bounds",
            format!(r#"{{{BOUNDS},"big":9007199254740994,"wide":1e39}}"#),
            false,
            false,
        ),
        (
            "f32 max as written",
            "coverage:bounds",
            format!(r#"{{{BOUNDS},"big":9007199254740994,"wide":3.4028235e38}}"#),
            true,
            true,
        ),
        // Timestamps, calendar-exact.
        (
            "month 13",
            "coverage:strings",
            at("2026-13-01T00:00:00Z"),
            false,
            false,
        ),
        (
            "February 29 of 2025",
            "coverage:strings",
            at("2025-02-29T10:00:00Z"),
            false,
            false,
        ),
        (
            "April 31",
            "coverage:strings",
            at("2026-04-31T00:00:00Z"),
            false,
            false,
        ),
        (
            "February 29 of 2024",
            "coverage:strings",
            at("2024-02-29T10:00:00Z"),
            true,
            true,
        ),
        // Shapes: a struct is an object, an enum value a string.
        (
            "a struct as an array",
            "coverage:shapes",
            format!(
                r#"{{{SHAPE},"point":["hello"],"proto":{{"constructor":"c","toString":1,"valueOf":9}}}}"#
            ),
            false,
            false,
        ),
        (
            "an enum value as a map",
            "coverage:strings",
            format!(r#"{{{STRINGS},"at":"2026-11-22T03:04:05Z","level":{{"low":null}}}}"#),
            false,
            false,
        ),
        // Own properties only.
        (
            "no toString",
            "coverage:shapes",
            format!(
                r#"{{{SHAPE},"point":{{"x":1,"y":0}},"proto":{{"constructor":"c","valueOf":9}}}}"#
            ),
            false,
            false,
        ),
        (
            "constructor and toString",
            "coverage:shapes",
            format!(
                r#"{{{SHAPE},"point":{{"x":1,"y":0}},"proto":{{"constructor":"c","toString":null,"valueOf":9}}}}"#
            ),
            true,
            true,
        ),
        // null is not absent for a field with a default.
        (
            "a default field null",
            "coverage:defaults",
            r#"{"level":null}"#.to_owned(),
            false,
            false,
        ),
        (
            "a default field absent",
            "coverage:defaults",
            "{}".to_owned(),
            true,
            true,
        ),
    ];
    let schema = schema();
    let validators = validators(&schema);
    let texts: Vec<(String, String)> = samples
        .iter()
        .map(|(_, e, t, _, _)| ((*e).to_owned(), t.clone()))
        .collect();
    let guard = typescript("samples", &schema, &texts, &[]);
    let mut wrong = Vec::new();
    for ((what, event, text, rust_ok, ts_ok), ts) in samples.iter().zip(&guard) {
        let (r, _) = rust(event, text);
        let s = schema_accepts(&validators[*event], text);
        if r.accepts() != *rust_ok || s != *rust_ok || ts.accepts() != *ts_ok {
            wrong.push(format!(
                "{what}: Rust {r:?}, JSON Schema {s}, guard {ts:?}; expected {rust_ok} / guard {ts_ok}\n    {text}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// What Rust emits is what the others accept: a float JSON cannot carry (serde_json would send
/// `null`) is refused before it is sent, and an `f32` bound is judged on the `f32`'s wire form.
#[test]
fn rust_refuses_to_emit_what_no_reader_accepts() {
    use tidings::Event as _;
    use tidings_tests::events::coverage::Bounds;
    let ok = Bounds {
        percent: 1,
        delta: 0,
        big: 9_007_199_254_740_993,
        ratio: 0.1,
        small: 0.25,
        wide: f32::MAX,
        any: 0.0,
    };
    assert_eq!(ok.validate(), Ok(()));
    let text = serde_json::to_string(&ok).expect("serializes");
    assert!(
        schema_accepts(&validators(&schema())["coverage:bounds"], &text),
        "{text}"
    );
    for bad in [
        Bounds {
            wide: f32::INFINITY,
            ..ok
        },
        Bounds {
            any: f64::NAN,
            ..ok
        },
        Bounds {
            ratio: 0.09999999999999999,
            ..ok
        },
        Bounds {
            small: 0.250_000_03,
            ..ok
        },
        Bounds {
            big: 9_007_199_254_740_992,
            ..ok
        },
    ] {
        assert!(
            bad.validate().is_err(),
            "{}",
            serde_json::to_string(&bad).unwrap_or_default()
        );
    }
}

/// One implementation: the contract a generated event decodes with is built by the derive from
/// the generated Rust types, and it is the IR the schema files declare, field for field and type
/// for type.
#[test]
fn generated_events_decode_with_the_ir_of_their_schema() {
    use tidings::schema::{Field, TypeDef, TypeKind};
    fn bare(f: &Field) -> Field {
        Field {
            doc: None,
            deprecated: None,
            location: None,
            ..f.clone()
        }
    }
    fn bare_type(t: &TypeDef) -> TypeDef {
        let kind = match &t.kind {
            TypeKind::Struct { fields } => TypeKind::Struct {
                fields: fields.iter().map(bare).collect(),
            },
            TypeKind::Enum { values, open } => TypeKind::Enum {
                open: *open,
                values: values
                    .iter()
                    .map(|v| tidings::schema::EnumValue {
                        doc: None,
                        deprecated: None,
                        ..v.clone()
                    })
                    .collect(),
            },
            TypeKind::Union {
                tag,
                variants,
                open,
            } => TypeKind::Union {
                open: *open,
                tag: tag.clone(),
                variants: variants
                    .iter()
                    .map(|v| tidings::schema::Variant {
                        doc: None,
                        deprecated: None,
                        ..v.clone()
                    })
                    .collect(),
            },
        };
        TypeDef {
            doc: None,
            deprecated: None,
            location: None,
            renamed_from: None,
            kind,
            ..t.clone()
        }
    }
    let schema = schema();
    let mut types_checked = 0;
    for (_, e) in schema.events() {
        let contract = tidings_tests::contract::contract_of(&e.name).expect("a contract");
        let declared: Vec<Field> = e.payload.iter().map(bare).collect();
        let derived: Vec<Field> = contract.fields().iter().map(bare).collect();
        assert_eq!(derived, declared, "{}", e.name);
        for m in &schema.modules {
            for t in &m.types {
                if let Some(d) = contract.types().get(&m.name, &t.name) {
                    assert_eq!(
                        bare_type(d),
                        bare_type(t),
                        "{}.{} in {}",
                        m.name,
                        t.name,
                        e.name
                    );
                    types_checked += 1;
                }
            }
        }
    }
    assert!(types_checked > 20, "only {types_checked} types compared");
}

/// The sample payload the catalog shows for every event is a document of its contract: the Rust
/// decoder and the JSON Schema accept it — for every event here, and for length and range
/// bounds a sample must stretch to (a list of at least three, a map of at least two, a float
/// below 1.5, a long minimum string, a list that must be empty).
#[test]
fn every_catalog_sample_is_accepted_by_its_contract() {
    let schema = schema();
    let judges = validators(&schema);
    for (_, e) in schema.events() {
        let text = tidings_codegen::catalog::sample_payload(&schema, e).to_string();
        let rust = decode_event(&e.name, &text).expect("every event has a Rust type");
        assert!(
            rust.is_ok(),
            "{}: Rust refuses the sample {text}: {rust:?}",
            e.name
        );
        assert!(
            schema_accepts(&judges[&e.name], &text),
            "{}: the JSON Schema refuses the sample {text}",
            e.name
        );
    }

    let mut sources = tidings_codegen::Sources::new();
    sources.add(
        "bounds.toml",
        r#"module = "bounds"
[types.Pair]
fields.a = { type = "f64", max = 0.25 }
fields.tags = { type = "[string]", min_length = 3, max_length = 5 }

[events.stretched]
payload.list = { type = "[Pair]", min_length = 3 }
payload.map = { type = "map<u8>", min_length = 2, max_length = 4 }
payload.none = { type = "[u8]", max_length = 0 }
payload.long = { type = "string", min_length = 12 }
payload.short = { type = "string", max_length = 2 }
payload.cold = { type = "f32", min = -40.5, max = -10 }
"#,
    );
    let checked =
        tidings_codegen::check(&sources).unwrap_or_else(|d| panic!("{}", d.render(&sources)));
    let contracts = tidings::validate::Contracts::new(&checked.schema);
    let judges = validators(&checked.schema);
    let (_, e) = checked
        .schema
        .event_by_wire_name("bounds:stretched")
        .expect("declared");
    let mut sample = tidings_codegen::catalog::sample_payload(&checked.schema, e);
    let text = sample.to_string();
    assert_eq!(sample["list"].as_array().map(Vec::len), Some(3), "{text}");
    assert_eq!(
        sample["map"].as_object().map(|m| m.len()),
        Some(2),
        "{text}"
    );
    assert!(schema_accepts(&judges["bounds:stretched"], &text), "{text}");
    contracts
        .get("bounds:stretched")
        .expect("a contract")
        .check(&mut sample)
        .unwrap_or_else(|r| panic!("{text}: {r:?}"));
}
