//! `tidings compat`: a table of old/new schema pairs, each with its exact findings (rule,
//! severity, the deployed side it breaks); git baselines on a temporary repository; and every
//! output format as golden text.

use tidings_codegen::compat::{self, Finding, Mode, Severity};
use tidings_codegen::{check, Sources};

fn schema(text: &str) -> tidings_codegen::schema::Schema {
    let mut sources = Sources::new();
    sources.add("m.toml", format!("module = \"m\"\n{text}"));
    match check(&sources) {
        Ok(c) => c.schema,
        Err(d) => panic!("{}\n{text}", d.render(&sources)),
    }
}

fn describe(f: &Finding) -> String {
    let breaks = match (f.breaks.clients, f.breaks.servers) {
        (true, true) => "both",
        (true, false) => "clients",
        (false, true) => "servers",
        (false, false) => "none",
    };
    format!("{} {} {breaks}", f.rule, f.severity.as_str())
}

/// Server→client event `e` with this payload.
fn s2c(payload: &str) -> String {
    format!("[events.e]\n{payload}\n")
}

/// Client→server event `s` with this payload.
fn c2s(payload: &str) -> String {
    format!("[events.s]\ndirection = \"to_server\"\n{payload}\n")
}

/// Both: the same type read by clients (event `e`) and by servers (event `s`).
fn both_ways(types: &str) -> String {
    format!("{types}\n[events.e]\npayload.v = \"T\"\n[events.s]\ndirection = \"to_server\"\npayload.v = \"T\"\n")
}

#[allow(clippy::type_complexity)]
const CASES: &[(&str, fn() -> (String, String), &[&str])] = &[
    // ── server → client payloads: clients read ──
    (
        "s2c optional field added",
        || {
            (
                s2c("payload.a = \"string\""),
                s2c("payload.a = \"string\"\npayload.b = \"string?\""),
            )
        },
        &["field-added info none"],
    ),
    (
        "s2c required field added",
        || {
            (
                s2c("payload.a = \"string\""),
                s2c("payload.a = \"string\"\npayload.b = \"string\""),
            )
        },
        &["field-added breaking servers"],
    ),
    (
        "s2c required field removed",
        || {
            (
                s2c("payload.a = \"string\"\npayload.b = \"string\""),
                s2c("payload.a = \"string\""),
            )
        },
        &["field-removed breaking clients"],
    ),
    (
        "s2c optional field removed",
        || {
            (
                s2c("payload.a = \"string\"\npayload.b = \"string?\""),
                s2c("payload.a = \"string\""),
            )
        },
        &["field-removed info none"],
    ),
    (
        "s2c required becomes optional",
        || {
            (
                s2c("payload.a = \"string\""),
                s2c("payload.a = \"string?\""),
            )
        },
        &["field-optional breaking clients"],
    ),
    (
        "s2c optional becomes required",
        || {
            (
                s2c("payload.a = \"string?\""),
                s2c("payload.a = \"string\""),
            )
        },
        &["field-required breaking servers"],
    ),
    (
        "s2c type changed",
        || (s2c("payload.a = \"string\""), s2c("payload.a = \"i32\"")),
        &["field-type-changed breaking both"],
    ),
    (
        "s2c integer widened",
        || (s2c("payload.a = \"u8\""), s2c("payload.a = \"u32\"")),
        &["field-type-widened breaking clients"],
    ),
    (
        "s2c integer narrowed",
        || (s2c("payload.a = \"u32\""), s2c("payload.a = \"u8\"")),
        &["field-type-narrowed breaking servers"],
    ),
    (
        "s2c uuid to string",
        || (s2c("payload.a = \"uuid\""), s2c("payload.a = \"string\"")),
        &["field-type-widened breaking clients"],
    ),
    (
        "s2c string to uuid",
        || (s2c("payload.a = \"string\""), s2c("payload.a = \"uuid\"")),
        &["field-type-narrowed breaking servers"],
    ),
    (
        "s2c integer to float",
        || (s2c("payload.a = \"i32\""), s2c("payload.a = \"f64\"")),
        &["field-type-widened breaking clients"],
    ),
    (
        "s2c anything to json",
        || (s2c("payload.a = \"[string]\""), s2c("payload.a = \"json\"")),
        &["field-type-widened breaking clients"],
    ),
    (
        "s2c json to string",
        || (s2c("payload.a = \"json\""), s2c("payload.a = \"string\"")),
        &["field-type-narrowed breaking servers"],
    ),
    (
        "s2c list items become optional",
        || {
            (
                s2c("payload.a = \"[string]\""),
                s2c("payload.a = \"[string?]\""),
            )
        },
        &["field-type-widened breaking clients"],
    ),
    (
        "s2c map value type changed",
        || {
            (
                s2c("payload.a = \"map<string>\""),
                s2c("payload.a = \"map<bool>\""),
            )
        },
        &["field-type-changed breaking both"],
    ),
    (
        "s2c max raised",
        || {
            (
                s2c("payload.a = { type = \"u8\", max = 100 }"),
                s2c("payload.a = { type = \"u8\", max = 200 }"),
            )
        },
        &["constraint-widened breaking clients"],
    ),
    (
        "s2c max lowered",
        || {
            (
                s2c("payload.a = { type = \"u8\", max = 100 }"),
                s2c("payload.a = { type = \"u8\", max = 50 }"),
            )
        },
        &["constraint-narrowed breaking servers"],
    ),
    (
        "s2c min raised",
        || {
            (
                s2c("payload.a = { type = \"i32\", min = 0 }"),
                s2c("payload.a = { type = \"i32\", min = 10 }"),
            )
        },
        &["constraint-narrowed breaking servers"],
    ),
    (
        "s2c max_length added",
        || {
            (
                s2c("payload.a = \"string\""),
                s2c("payload.a = { type = \"string\", max_length = 10 }"),
            )
        },
        &["constraint-narrowed breaking servers"],
    ),
    (
        "s2c min_length removed",
        || {
            (
                s2c("payload.a = { type = \"[string]\", min_length = 1 }"),
                s2c("payload.a = \"[string]\""),
            )
        },
        &["constraint-widened breaking clients"],
    ),
    (
        "s2c range shifted",
        || {
            (
                s2c("payload.a = { type = \"i32\", min = 0, max = 10 }"),
                s2c("payload.a = { type = \"i32\", min = 5, max = 20 }"),
            )
        },
        &["constraint-changed breaking both"],
    ),
    (
        "s2c default changed",
        || {
            (
                s2c("payload.a = { type = \"u8?\", default = 1 }"),
                s2c("payload.a = { type = \"u8?\", default = 2 }"),
            )
        },
        &["default-changed warning none"],
    ),
    (
        "s2c default added to a required field",
        || {
            (
                s2c("payload.a = \"u8\""),
                s2c("payload.a = { type = \"u8\", default = 1 }"),
            )
        },
        &["field-optional breaking clients"],
    ),
    (
        "s2c docs and deprecations only",
        || {
            (
                s2c("payload.a = \"u8\""),
                s2c("payload.a = { type = \"u8\", doc = \"new doc\", deprecated = true }"),
            )
        },
        &[],
    ),
    // ── client → server payloads: servers read, deployed clients write ──
    (
        "c2s required field added",
        || {
            (
                c2s("payload.a = \"string\""),
                c2s("payload.a = \"string\"\npayload.b = \"string\""),
            )
        },
        &["field-added breaking clients"],
    ),
    (
        "c2s optional field added",
        || {
            (
                c2s("payload.a = \"string\""),
                c2s("payload.a = \"string\"\npayload.b = \"string?\""),
            )
        },
        &["field-added info none"],
    ),
    (
        "c2s required field removed",
        || {
            (
                c2s("payload.a = \"string\"\npayload.b = \"string\""),
                c2s("payload.a = \"string\""),
            )
        },
        &["field-removed breaking servers"],
    ),
    (
        "c2s optional field removed",
        || {
            (
                c2s("payload.a = \"string\"\npayload.b = \"string?\""),
                c2s("payload.a = \"string\""),
            )
        },
        &["field-removed info none"],
    ),
    (
        "c2s required becomes optional",
        || {
            (
                c2s("payload.a = \"string\""),
                c2s("payload.a = \"string?\""),
            )
        },
        &["field-optional breaking servers"],
    ),
    (
        "c2s optional becomes required",
        || {
            (
                c2s("payload.a = \"string?\""),
                c2s("payload.a = \"string\""),
            )
        },
        &["field-required breaking clients"],
    ),
    (
        "c2s integer widened",
        || (c2s("payload.a = \"u8\""), c2s("payload.a = \"u32\"")),
        &["field-type-widened breaking servers"],
    ),
    (
        "c2s integer narrowed",
        || (c2s("payload.a = \"u32\""), c2s("payload.a = \"u8\"")),
        &["field-type-narrowed breaking clients"],
    ),
    (
        "c2s max lowered",
        || {
            (
                c2s("payload.a = { type = \"u8\", max = 100 }"),
                c2s("payload.a = { type = \"u8\", max = 50 }"),
            )
        },
        &["constraint-narrowed breaking clients"],
    ),
    (
        "c2s max raised",
        || {
            (
                c2s("payload.a = { type = \"u8\", max = 50 }"),
                c2s("payload.a = { type = \"u8\", max = 100 }"),
            )
        },
        &["constraint-widened breaking servers"],
    ),
    (
        "c2s type changed",
        || (c2s("payload.a = \"bool\""), c2s("payload.a = \"string\"")),
        &["field-type-changed breaking both"],
    ),
    // ── enums and unions, by who reads them ──
    (
        "s2c enum value added",
        || {
            (
                format!(
                    "types.K = {{ kind = \"enum\", values = [\"a\"] }}\n{}",
                    s2c("payload.k = \"K\"")
                ),
                format!(
                    "types.K = {{ kind = \"enum\", values = [\"a\", \"b\"] }}\n{}",
                    s2c("payload.k = \"K\"")
                ),
            )
        },
        &["enum-value-added breaking clients"],
    ),
    (
        "s2c enum value removed",
        || {
            (
                format!(
                    "types.K = {{ kind = \"enum\", values = [\"a\", \"b\"] }}\n{}",
                    s2c("payload.k = \"K\"")
                ),
                format!(
                    "types.K = {{ kind = \"enum\", values = [\"a\"] }}\n{}",
                    s2c("payload.k = \"K\"")
                ),
            )
        },
        &["enum-value-removed breaking servers"],
    ),
    (
        "c2s enum value added",
        || {
            (
                format!(
                    "types.K = {{ kind = \"enum\", values = [\"a\"] }}\n{}",
                    c2s("payload.k = \"K\"")
                ),
                format!(
                    "types.K = {{ kind = \"enum\", values = [\"a\", \"b\"] }}\n{}",
                    c2s("payload.k = \"K\"")
                ),
            )
        },
        &["enum-value-added breaking servers"],
    ),
    (
        "c2s enum value removed",
        || {
            (
                format!(
                    "types.K = {{ kind = \"enum\", values = [\"a\", \"b\"] }}\n{}",
                    c2s("payload.k = \"K\"")
                ),
                format!(
                    "types.K = {{ kind = \"enum\", values = [\"a\"] }}\n{}",
                    c2s("payload.k = \"K\"")
                ),
            )
        },
        &["enum-value-removed breaking clients"],
    ),
    (
        "enum read both ways gains a value",
        || {
            (
                both_ways("types.T = { kind = \"enum\", values = [\"a\"] }"),
                both_ways("types.T = { kind = \"enum\", values = [\"a\", \"b\"] }"),
            )
        },
        &["enum-value-added breaking both"],
    ),
    (
        "enum reached through a list and a nested struct",
        || {
            (format!("types.K = {{ kind = \"enum\", values = [\"a\"] }}\ntypes.W = {{ fields = {{ ks = \"[K]\" }} }}\n{}", s2c("payload.w = \"W?\"")), format!("types.K = {{ kind = \"enum\", values = [\"a\", \"b\"] }}\ntypes.W = {{ fields = {{ ks = \"[K]\" }} }}\n{}", s2c("payload.w = \"W?\"")))
        },
        &["enum-value-added breaking clients"],
    ),
    (
        "unused enum changes break nothing",
        || {
            (
                "types.K = { kind = \"enum\", values = [\"a\"] }".into(),
                "types.K = { kind = \"enum\", values = [\"b\"] }".into(),
            )
        },
        &["enum-value-added info none", "enum-value-removed info none"],
    ),
    (
        "s2c union variant added",
        || {
            (format!("types.A = {{ fields = {{ x = \"u8\" }} }}\ntypes.U = {{ kind = \"union\", variants = {{ a = \"A\" }} }}\n{}", s2c("payload.u = \"U\"")), format!("types.A = {{ fields = {{ x = \"u8\" }} }}\ntypes.U = {{ kind = \"union\", variants = {{ a = \"A\", b = {{}} }} }}\n{}", s2c("payload.u = \"U\"")))
        },
        &["union-variant-added breaking clients"],
    ),
    (
        "c2s union variant removed",
        || {
            (format!("types.A = {{ fields = {{ x = \"u8\" }} }}\ntypes.U = {{ kind = \"union\", variants = {{ a = \"A\", b = {{}} }} }}\n{}", c2s("payload.u = \"U\"")), format!("types.A = {{ fields = {{ x = \"u8\" }} }}\ntypes.U = {{ kind = \"union\", variants = {{ a = \"A\" }} }}\n{}", c2s("payload.u = \"U\"")))
        },
        &["union-variant-removed breaking clients"],
    ),
    (
        "union tag changed",
        || {
            (format!("types.U = {{ kind = \"union\", variants = {{ a = {{}} }} }}\n{}", s2c("payload.u = \"U\"")), format!("types.U = {{ kind = \"union\", tag = \"kind\", variants = {{ a = {{}} }} }}\n{}", s2c("payload.u = \"U\"")))
        },
        &["union-tag-changed breaking both"],
    ),
    (
        "union variant carries another type",
        || {
            (format!("types.A = {{ fields = {{ x = \"u8\" }} }}\ntypes.B = {{ fields = {{ y = \"u8\" }} }}\ntypes.U = {{ kind = \"union\", variants = {{ a = \"A\" }} }}\n{}", s2c("payload.u = \"U\"")), format!("types.A = {{ fields = {{ x = \"u8\" }} }}\ntypes.B = {{ fields = {{ y = \"u8\" }} }}\ntypes.U = {{ kind = \"union\", variants = {{ a = \"B\" }} }}\n{}", s2c("payload.u = \"U\"")))
        },
        &["union-variant-changed breaking both"],
    ),
    (
        "type kind changed",
        || {
            (
                format!(
                    "types.T = {{ fields = {{ x = \"u8\" }} }}\n{}",
                    s2c("payload.t = \"T\"")
                ),
                format!(
                    "types.T = {{ kind = \"enum\", values = [\"x\"] }}\n{}",
                    s2c("payload.t = \"T\"")
                ),
            )
        },
        &["type-kind-changed breaking both"],
    ),
    (
        "field of a nested struct removed",
        || {
            (
                format!(
                    "types.T = {{ fields = {{ x = \"u8\", y = \"u8\" }} }}\n{}",
                    s2c("payload.t = \"T\"")
                ),
                format!(
                    "types.T = {{ fields = {{ x = \"u8\" }} }}\n{}",
                    s2c("payload.t = \"T\"")
                ),
            )
        },
        &["field-removed breaking clients"],
    ),
    (
        "declared type rename",
        || {
            (
                format!(
                    "types.Old = {{ fields = {{ x = \"u8\" }} }}\n{}",
                    s2c("payload.t = \"Old\"")
                ),
                format!(
                    "types.New = {{ renamed_from = \"Old\", fields = {{ x = \"u8\" }} }}\n{}",
                    s2c("payload.t = \"New\"")
                ),
            )
        },
        &["type-renamed warning none"],
    ),
    (
        "undeclared type rename",
        || {
            (
                format!(
                    "types.Old = {{ fields = {{ x = \"u8\" }} }}\n{}",
                    s2c("payload.t = \"Old\"")
                ),
                format!(
                    "types.New = {{ fields = {{ x = \"u8\" }} }}\n{}",
                    s2c("payload.t = \"New\"")
                ),
            )
        },
        &["field-type-changed breaking both", "type-removed info none"],
    ),
    (
        "type used both ways loses a required field",
        || {
            (
                both_ways("types.T = { fields = { x = \"u8\", y = \"u8\" } }"),
                both_ways("types.T = { fields = { x = \"u8\" } }"),
            )
        },
        &["field-removed breaking both"],
    ),
    // ── events ──
    (
        "s2c event removed",
        || (s2c("payload.a = \"u8\"") + &c2s(""), c2s("")),
        &["event-removed breaking clients"],
    ),
    (
        "c2s event removed",
        || (s2c("") + &c2s("payload.a = \"u8\""), s2c("")),
        &["event-removed breaking clients"],
    ),
    (
        "deprecated event removed",
        || (s2c("deprecated = \"use f\"") + &c2s(""), c2s("")),
        &["deprecated-event-removed warning none"],
    ),
    (
        "s2c event added",
        || (c2s(""), c2s("") + &s2c("")),
        &["event-added info none"],
    ),
    (
        "c2s event added",
        || (s2c(""), s2c("") + &c2s("")),
        &["event-added breaking servers"],
    ),
    (
        "declared event rename",
        || (s2c(""), "[events.f]\nrenamed_from = \"e\"\n".into()),
        &["event-renamed breaking both"],
    ),
    (
        "wire name changed",
        || (s2c(""), s2c("name = \"m:eee\"")),
        &["wire-name-changed breaking both"],
    ),
    (
        "direction widened to both",
        || (s2c(""), s2c("direction = \"both\"")),
        &["direction-changed breaking servers"],
    ),
    (
        "direction narrowed from both",
        || (s2c("direction = \"both\""), s2c("")),
        &["direction-changed breaking clients"],
    ),
    (
        "direction reversed",
        || (s2c(""), s2c("direction = \"to_server\"")),
        &["direction-changed breaking both"],
    ),
    (
        "durable becomes ephemeral",
        || (s2c(""), s2c("delivery = \"ephemeral\"")),
        &["delivery-changed warning none"],
    ),
    (
        "ephemeral becomes durable",
        || (s2c("delivery = \"ephemeral\""), s2c("")),
        &["delivery-changed info none"],
    ),
    (
        "reply added",
        || (c2s(""), c2s("reply = \"u8\"")),
        &["reply-added breaking servers"],
    ),
    (
        "reply removed",
        || (c2s("reply = \"u8\""), c2s("")),
        &["reply-removed breaking clients"],
    ),
    (
        "reply type changed",
        || (c2s("reply = \"u8\""), c2s("reply = \"string\"")),
        &["reply-changed breaking both"],
    ),
    (
        "reply widened",
        || (c2s("reply = \"u8\""), c2s("reply = \"u32\"")),
        &["reply-changed breaking clients"],
    ),
    (
        "recipients widened by a role",
        || {
            (s2c("tenant = \"t\"\nrecipients.user = [\"u\"]\npayload.t = \"uuid\"\npayload.u = \"uuid\""), s2c("tenant = \"t\"\nrecipients.user = [\"u\"]\nrecipients.roles = [\"admin\"]\npayload.t = \"uuid\"\npayload.u = \"uuid\""))
        },
        &["recipients-widened warning none"],
    ),
    (
        "recipients narrowed by except",
        || {
            (s2c("recipients.user = [\"u\"]\npayload.u = \"uuid\"\npayload.a = \"uuid\""), s2c("recipients.user = [\"u\"]\nrecipients.except = \"a\"\npayload.u = \"uuid\"\npayload.a = \"uuid\""))
        },
        &["recipients-narrowed warning none"],
    ),
    (
        "recipients cross tenants",
        || {
            (
                s2c("tenant = \"t\"\nrecipients.roles = [\"admin\"]\npayload.t = \"uuid\""),
                s2c("platform = true\nrecipients.roles = [\"admin\"]\npayload.t = \"uuid\""),
            )
        },
        &["recipients-widened warning none"],
    ),
    (
        "recipients swapped",
        || {
            (
                s2c("tenant = \"t\"\nrecipients.roles = [\"admin\"]\npayload.t = \"uuid\""),
                s2c("tenant = \"t\"\nrecipients.roles = [\"agent\"]\npayload.t = \"uuid\""),
            )
        },
        &["recipients-changed warning none"],
    ),
    (
        "event deprecated",
        || (s2c(""), s2c("deprecated = true")),
        &["event-deprecated info none"],
    ),
    (
        "nothing changed",
        || {
            (
                s2c("payload.a = \"u8\"") + &c2s("reply = \"u8\""),
                s2c("payload.a = \"u8\"") + &c2s("reply = \"u8\""),
            )
        },
        &[],
    ),
    (
        "module removed",
        || (s2c("") + "[events.f]\n", String::new()),
        &[
            "event-removed breaking clients",
            "event-removed breaking clients",
        ],
    ),
];

#[test]
fn every_kind_of_change_has_its_exact_findings() {
    assert!(CASES.len() >= 60, "{} cases", CASES.len());
    let mut failures = Vec::new();
    for (name, make, expected) in CASES {
        let (old, new) = make();
        let old = schema(&old);
        let new = if new.is_empty() {
            tidings_codegen::schema::Schema::default()
        } else {
            schema(&new)
        };
        let mut got: Vec<String> = compat::compare(&old, &new).iter().map(describe).collect();
        got.sort();
        let mut want: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        want.sort();
        if got != want {
            failures.push(format!("{name}:\n  want {want:?}\n  got  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rule_is_exercised_and_documented() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/compat.md"))
        .expect("docs/compat.md");
    let mut seen = std::collections::BTreeSet::new();
    for (_, make, expected) in CASES {
        let _ = make;
        for e in *expected {
            seen.insert(e.split(' ').next().unwrap_or_default().to_owned());
        }
    }
    for rule in compat::rules::RULES {
        assert!(
            docs.contains(&format!("`{rule}`")),
            "docs/compat.md does not describe `{rule}`"
        );
        assert!(seen.contains(*rule), "no case exercises `{rule}`");
    }
}

#[test]
fn modes_decide_which_breaks_fail() {
    let old = schema(&(s2c("payload.a = \"u8\"") + &c2s("payload.b = \"u8\"")));
    let new = schema(&(s2c("payload.a = \"u32\"") + &c2s("payload.b = \"u32\"")));
    let findings = compat::compare(&old, &new);
    let failing = |mode| findings.iter().filter(|f: &&Finding| f.fails(mode)).count();
    assert_eq!(
        (
            failing(Mode::Backward),
            failing(Mode::Forward),
            failing(Mode::Full)
        ),
        (1, 1, 2)
    );
    assert!(findings.iter().all(|f| f.severity == Severity::Breaking));
}

// ── the command: git baselines, formats, config, exit codes ──

use std::path::Path;
use std::process::{Command, Output};

fn tidings(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("runs")
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const V1: &str = r#"module = "ticket"

[types.Status]
kind = "enum"
values = ["open", "closed"]

[events.changed]
doc = "A ticket changed."
payload.id = "uuid"
payload.status = "Status"
payload.title = { type = "string", max_length = 100 }

[events.close]
direction = "to_server"
payload.id = "uuid"
"#;

fn write(dir: &Path, text: &str) {
    std::fs::create_dir_all(dir.join("schemas")).expect("mkdir");
    std::fs::write(dir.join("schemas/ticket.toml"), text).expect("write");
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn git_baselines_tags_and_exit_codes() {
    let repo = tempfile::tempdir().expect("temp dir");
    let dir = repo.path();
    git(dir, &["init", "-q", "-b", "main"]);
    write(dir, V1);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "v1"]);
    git(dir, &["tag", "v1"]);
    write(
        dir,
        &V1.replace(
            r#"values = ["open", "closed"]"#,
            r#"values = ["open", "closed", "archived"]"#,
        ),
    );
    git(dir, &["commit", "-q", "-am", "v2"]);
    git(dir, &["tag", "v2"]);

    // The working tree against the tags: v1 lacks `archived`; v2 has it.
    let o = tidings(dir, &["compat", "--against", "git:v1", "schemas"]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains("breaking[enum-value-added] ticket.Status"),
        "{}",
        out(&o)
    );
    let o = tidings(dir, &["compat", "--against", "git:v2"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        out(&o).contains("compatible with git:v2 (backward mode): 0 breaking"),
        "{}",
        out(&o)
    );

    // A removal in the working tree: located in the old file, at the ref.
    write(
        dir,
        &V1.replace(
            "[events.close]\ndirection = \"to_server\"\npayload.id = \"uuid\"\n",
            "",
        )
        .replace(r#"["open", "closed"]"#, r#"["open", "closed", "archived"]"#),
    );
    let o = tidings(dir, &["compat", "--against", "git:main"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out(&o).contains("--> main:schemas/ticket.toml:13:9"),
        "{}",
        out(&o)
    );
    assert!(
        out(&o).contains("[events.close]"),
        "the old source line is shown: {}",
        out(&o)
    );

    let o = tidings(
        dir,
        &["compat", "--transitive", "git:v*", "--format", "json"],
    );
    assert_eq!(o.status.code(), Some(1));
    let text = out(&o);
    assert!(
        text.contains("\"baseline\": \"git:v1\"") && text.contains("\"baseline\": \"git:v2\""),
        "{text}"
    );

    // Forward mode: removing an event clients send breaks deployed clients, not servers.
    let o = tidings(dir, &["compat", "--against", "git:v2", "--mode", "forward"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));

    let o = tidings(dir, &["compat", "--against", "git:nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("`nope` is not a commit, branch or tag"));
    let o = tidings(dir, &["compat"]);
    assert_eq!(o.status.code(), Some(2));

    // The config re-grades: the removal becomes a warning, and the check passes.
    std::fs::write(
        dir.join("tidings-compat.toml"),
        "[events.\"ticket:close\"]\nevent-removed = \"warning\"\n",
    )
    .expect("write");
    let o = tidings(dir, &["compat", "--against", "git:v2"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    std::fs::write(
        dir.join("tidings-compat.toml"),
        "[rules]\nevent-remove = \"ignore\"\n",
    )
    .expect("write");
    let o = tidings(dir, &["compat", "--against", "git:v2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("did you mean `event-removed`?"));
}

#[test]
fn every_output_format_is_golden() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    for (sub, text) in [
        ("old", V1.to_owned()),
        (
            "new",
            V1.replace(r#"["open", "closed"]"#, r#"["open", "closed", "archived"]"#)
                .replace("max_length = 100", "max_length = 50")
                .replace("[events.close]", "[events.close]\nreply = \"bool\"")
                .replace(
                    "doc = \"A ticket changed.\"",
                    "doc = \"A ticket changed.\"\ndelivery = \"ephemeral\"",
                ),
        ),
    ] {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
        std::fs::write(dir.join(sub).join("ticket.toml"), text).expect("write");
    }
    for format in ["human", "json", "github", "junit"] {
        let o = tidings(
            dir,
            &[
                "compat",
                "--against",
                "old",
                "--mode",
                "full",
                "--format",
                format,
                "new",
            ],
        );
        assert_eq!(o.status.code(), Some(1), "{format}");
        insta::assert_snapshot!(format!("compat_format_{format}"), out(&o));
    }
}
