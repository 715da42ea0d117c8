//! Arbitrary pairs of schema versions: the input split at a `#===` line into an old and a new
//! set (each split at `#---` lines into files); when both check, `tidings compat` compares them
//! and renders every format. Invariants: no panic; the JSON report is one valid document; a
//! finding that breaks a side is breaking, and the verdict names an order only when one side
//! breaks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_codegen::compat::{self, Impact, Mode, Order, ReportFormat, Run, Verdict};
use tidings_codegen::{check, Sources};

fn schema(text: &str) -> Option<(Sources, tidings_codegen::schema::Schema)> {
    let mut sources = Sources::new();
    for (i, file) in text.split("\n#---").take(8).enumerate() {
        sources.add(format!("f{i}.toml"), file.to_owned());
    }
    let checked = check(&sources).ok()?;
    Some((sources, checked.schema))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Some((old_text, new_text)) = text.split_once("\n#===") else {
        return;
    };
    let (Some((old_sources, old)), Some((new_sources, new))) = (schema(old_text), schema(new_text))
    else {
        return;
    };
    let findings = compat::compare(&old, &new);
    for f in &findings {
        assert_eq!(f.breaks.any(), f.severity == Impact::Breaking, "{f:?}");
        assert_eq!(f.deploy_first, f.breaks.deploy_first(), "{f:?}");
    }
    let verdict = Verdict::of(&findings);
    let clients = findings.iter().any(|f| f.severity == Impact::Breaking && f.breaks.clients);
    let servers = findings.iter().any(|f| f.severity == Impact::Breaking && f.breaks.servers);
    let expected = match (clients, servers) {
        (false, false) => Order::Any,
        (true, false) => Order::ClientsFirst,
        (false, true) => Order::ServersFirst,
        (true, true) => Order::NoSafeOrder,
    };
    assert_eq!(verdict.order, expected);
    let runs = [Run {
        baseline: "old".to_owned(),
        findings,
    }];
    let sources = [&new_sources, &old_sources];
    for format in [
        ReportFormat::Human,
        ReportFormat::Json,
        ReportFormat::Github,
        ReportFormat::Junit,
    ] {
        let out = compat::render(&runs, Mode::Full, format, &sources);
        if format == ReportFormat::Json {
            let _: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
        }
    }
});
