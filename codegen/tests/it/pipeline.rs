//! One contract from TOML modules and derived events: an IR document (`*.ir.json`, as an
//! export binary's `--ir` writes it) next to the TOML files reaches every output — one
//! TypeScript client, the catalog, the exports, compat at a git ref — and the Rust backend leaves
//! the derived module out (its Rust is the app's own).

use std::path::Path;
use std::process::Command;

use crate::cli::{text, tidings};

const DESK: &str = r#"module = "desk"
version = "1.0.0"

[types.Desk]
fields.name = "string"

[events.opened]
doc = "A desk was opened."
recipients.user = ["user_id"]
payload.user_id = "uuid"
payload.desk = "Desk"
"#;

/// The IR of the derived `jobs` module of the examples' `derive_user` (`--ir`).
fn jobs_ir() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/jobs.ir.json"))
        .expect("the IR fixture")
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("schemas")).expect("mkdir");
    std::fs::write(dir.path().join("schemas/desk.toml"), DESK).expect("write");
    std::fs::write(dir.path().join("schemas/jobs.ir.json"), jobs_ir()).expect("write");
    dir
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
}

#[test]
fn derived_events_in_an_ir_document_reach_every_output_but_rust() {
    let dir = project();
    let p = dir.path();
    let out = tidings(&["check"], p);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("checked 2 files: 2 modules"),
        "{}",
        text(&out.stdout)
    );

    let out = tidings(&["generate", "--ts", "web", "--rust", "src/events"], p);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let index = std::fs::read_to_string(p.join("web/index.ts")).expect("index.ts");
    assert!(
        index.contains("import * as jobs from \"./jobs.js\""),
        "one client with both modules"
    );
    assert!(index.contains("import * as desk from \"./desk.js\""));
    assert!(p.join("web/jobs.ts").exists());
    assert!(p.join("src/events/desk.rs").exists());
    assert!(
        !p.join("src/events/jobs.rs").exists(),
        "derived modules are Rust already"
    );
    let out = tidings(
        &["generate", "--ts", "web", "--rust", "src/events", "--check"],
        p,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    let out = tidings(&["docs", "--out", "catalog"], p);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let catalog = std::fs::read_to_string(p.join("catalog/README.md")).unwrap_or_default()
        + &std::fs::read_dir(p.join("catalog"))
            .expect("catalog")
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect::<String>();
    assert!(catalog.contains("jobs:stateChanged") && catalog.contains("desk:opened"));

    let out = tidings(&["export", "asyncapi", "--out", "asyncapi.json"], p);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let asyncapi = std::fs::read_to_string(p.join("asyncapi.json")).expect("asyncapi");
    assert!(asyncapi.contains("jobs:stateChanged") && asyncapi.contains("desk:opened"));
}

#[test]
fn compat_at_a_git_ref_judges_derived_events_too() {
    let dir = project();
    let p = dir.path();
    git(p, &["init", "-q", "-b", "main"]);
    git(p, &["add", "."]);
    git(p, &["commit", "-q", "-m", "v1"]);
    // The derived job event loses a field the deployed clients read.
    let mut ir: serde_json::Value = serde_json::from_str(&jobs_ir()).expect("json");
    let payload = ir["modules"][0]["events"][0]["payload"]
        .as_array_mut()
        .expect("payload");
    let before = payload.len();
    payload.retain(|f| f["name"] != "progress");
    assert_eq!(payload.len(), before - 1);
    std::fs::write(
        p.join("schemas/jobs.ir.json"),
        serde_json::to_string_pretty(&ir).expect("json"),
    )
    .expect("write");
    let out = tidings(&["compat", "--against", "git:main"], p);
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}{}", text(&out.stderr));
    assert!(
        report.contains("jobs:stateChanged") && report.contains("progress"),
        "{report}"
    );
    // The finding points into the committed document, where the event is named.
    let at = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("--> schemas/jobs.ir.json:"))
        .unwrap_or_else(|| panic!("no place in the IR document: {report}"));
    let line: usize = at
        .split(':')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a line");
    let doc = std::fs::read_to_string(p.join("schemas/jobs.ir.json")).expect("read");
    assert!(
        doc.lines()
            .nth(line - 1)
            .is_some_and(|l| l.contains("\"jobs:stateChanged\"")),
        "{report}"
    );

    // A field's finding points at the field.
    ir["modules"][0]["events"][0]["payload"]
        .as_array_mut()
        .expect("payload")
        .push(serde_json::json!({ "name": "extra", "type": { "primitive": "u32" } }));
    let doc = serde_json::to_string_pretty(&ir).expect("json");
    std::fs::write(p.join("schemas/jobs.ir.json"), &doc).expect("write");
    let out = tidings(&["compat", "--against", "git:main"], p);
    let report = text(&out.stdout);
    let at = report
        .lines()
        .skip_while(|l| !l.contains("extra"))
        .find_map(|l| l.trim().strip_prefix("--> schemas/jobs.ir.json:"))
        .unwrap_or_else(|| panic!("no place for the field: {report}"));
    let line: usize = at
        .split(':')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a line");
    assert!(
        doc.lines()
            .nth(line - 1)
            .is_some_and(|l| l.contains("\"extra\"")),
        "{report}"
    );
}

/// The catalog an app commits: counts in words, anchors GitHub renders, no link to a file the
/// app lacks, linked type names, frames as they travel, and no recipients for client events.
#[test]
fn the_catalog_is_ready_to_commit() {
    let dir = project();
    let p = dir.path();
    std::fs::remove_file(p.join("schemas/jobs.ir.json")).expect("rm");
    let out = tidings(&["docs", "--out", "catalog"], p);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let md = std::fs::read_to_string(p.join("catalog/catalog.md")).expect("catalog.md");
    assert!(md.contains("1 module, 1 event."), "{md}");
    assert!(!md.contains("{#"), "no heading ids GitHub shows literally");
    assert!(md.contains("<a id=\"module-desk\"></a>"));
    assert!(
        !md.contains("(docs/protocol.md)"),
        "no link to a file the app does not have"
    );
    assert!(
        md.contains("[`desk.Desk`](#type-desk-desk)"),
        "type names link to their section"
    );
    assert!(md.contains("<a id=\"type-desk-desk\"></a>"));
    assert!(
        md.contains("\"id\": ") && md.contains("\"ts\": ") && md.contains("\"seq\": 42"),
        "{md}"
    );
    // A client → server event: handled by the app, with its reply frame; no recipients.
    std::fs::write(
        p.join("schemas/desk.toml"),
        format!("{DESK}\n[events.ping]\ndirection = \"to_server\"\npayload.n = \"u8\"\n"),
    )
    .expect("write");
    let out = tidings(&["docs", "--out", "catalog"], p);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let md = std::fs::read_to_string(p.join("catalog/catalog.md")).expect("catalog.md");
    let ping = &md[md.find("### `desk:ping`").expect("the ping section")..];
    let ping = &ping[..ping.find("<a id=").unwrap_or(ping.len())];
    assert!(
        ping.contains("**Handled by:** the app's handler on the server"),
        "{ping}"
    );
    assert!(!ping.contains("Recipients"), "{ping}");
    assert!(
        ping.contains("\"cid\": 7") && ping.contains("\"$reply\""),
        "{ping}"
    );

    // A `|` in a description or a default stays inside its cell (GFM: `\|`), and a list's
    // minimum length shows in its sample.
    std::fs::write(
        p.join("schemas/desk.toml"),
        format!(
            "{DESK}\n[events.piped]\npayload.mode = {{ type = \"string\", default = \"a|b\", doc = \"`a|b` or c | d\" }}\n\
             payload.tags = {{ type = \"[string]\", min_length = 3 }}\nrecipients.user = [\"user_id\"]\npayload.user_id = \"uuid\"\n"
        ),
    )
    .expect("write");
    let out = tidings(&["docs", "--out", "catalog"], p);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let md = std::fs::read_to_string(p.join("catalog/catalog.md")).expect("catalog.md");
    let row = md
        .lines()
        .find(|l| l.starts_with("| `mode` |"))
        .expect("the row of `mode`");
    assert_eq!(
        row.matches('|').count() - row.matches("\\|").count(),
        6,
        "five cells, every other pipe escaped: {row}"
    );
    assert!(row.contains("`a\\|b` or c \\| d"), "{row}");
    assert!(
        md.contains("\"tags\": [\n") && md.matches("\"example\"").count() >= 3,
        "{md}"
    );
}

/// An export that would write an IR document the schemas beside it could not take (the whole
/// contract again, next to the TOML it came from) writes nothing and says why: the app's own
/// build would otherwise fail, export binary included.
#[test]
fn an_ir_document_that_would_break_its_directory_is_not_written() {
    let dir = project();
    let p = dir.path();
    let out = tidings(&["generate", "--ir", "schemas/all.ir.json"], p);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("schemas/all.ir.json not written") && err.contains("declared twice"),
        "{err}"
    );
    assert!(!p.join("schemas/all.ir.json").exists());
    let out = tidings(&["check"], p);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Elsewhere it is written; rewriting a document in place replaces it.
    let out = tidings(&["generate", "--ir", "ir/all.ir.json"], p);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(p.join("ir/all.ir.json").exists());
    std::fs::create_dir_all(p.join("derived")).expect("mkdir");
    std::fs::write(p.join("derived/jobs.ir.json"), jobs_ir()).expect("write");
    let out = tidings(&["generate", "--ir", "derived/jobs.ir.json", "derived"], p);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// The AsyncAPI document carries the app's identity from `tidings.toml`, and without it only
/// what the schemas say — no invented contact, licence or server.
#[test]
fn exports_carry_the_apps_identity() {
    let dir = project();
    let p = dir.path();
    let out = tidings(&["export", "asyncapi", "--out", "plain.json"], p);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plain: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("plain.json")).expect("read"))
            .expect("json");
    assert_eq!(plain["info"]["title"], "Events of desk, jobs");
    assert_eq!(plain["info"]["version"], "1.0.0");
    assert!(plain["info"].get("contact").is_none() && plain["info"].get("license").is_none());
    assert!(plain.get("servers").is_none(), "no localhost:8080 invented");
    std::fs::write(
        p.join("tidings.toml"),
        "[project]\nname = \"Help desk\"\nversion = \"3.0.0\"\ncontact = { email = \"desk@example.com\" }\nlicense = { name = \"MIT\" }\n\n[project.servers.production]\nhost = \"rt.example.com\"\n",
    )
    .expect("write");
    let out = tidings(&["export", "asyncapi", "--out", "named.json"], p);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let named: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("named.json")).expect("read"))
            .expect("json");
    assert_eq!(named["info"]["title"], "Help desk");
    assert_eq!(named["info"]["version"], "3.0.0");
    assert_eq!(named["info"]["contact"]["email"], "desk@example.com");
    assert_eq!(named["info"]["license"]["name"], "MIT");
    assert_eq!(named["servers"]["production"]["host"], "rt.example.com");
    assert_eq!(named["servers"]["production"]["protocol"], "wss");
    // The catalog is titled and opened with the same table.
    std::fs::write(
        p.join("tidings.toml"),
        "[project]\nname = \"Help desk\"\ndescription = \"Realtime events of the help desk.\"\n",
    )
    .expect("write");
    let out = tidings(&["docs", "--out", "catalog"], p);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let md = std::fs::read_to_string(p.join("catalog/catalog.md")).expect("catalog.md");
    assert!(
        md.contains("# Help desk: event catalog\n\nRealtime events of the help desk.\n"),
        "{md}"
    );
    let html = std::fs::read_to_string(p.join("catalog/catalog.html")).expect("catalog.html");
    assert!(
        html.contains("<title>Help desk: event catalog</title>"),
        "{html}"
    );

    // Every unknown key at once, a misspelled table too, with its place.
    std::fs::write(
        p.join("tidings.toml"),
        "[projcet]\nname = \"x\"\n[project]\ntitle = \"x\"\n",
    )
    .expect("write");
    for command in [&["export", "asyncapi"][..], &["docs", "--out", "catalog"]] {
        let out = tidings(command, p);
        assert_eq!(out.status.code(), Some(2), "{command:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains("tidings.toml:1:2: unknown key `projcet`; did you mean `project`?")
                && err.contains("tidings.toml:4:1: unknown key `project.title`"),
            "{err}"
        );
    }
    // A project file that is not there is said once.
    let out = tidings(&["docs", "--project", "nope.toml"], p);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
    assert!(err.contains("cannot read nope.toml"), "{err}");
}
