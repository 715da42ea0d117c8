//! `tidings compat`: a table of old/new schema pairs, each with its exact findings (rule,
//! severity, the deployed side it breaks); git baselines on a temporary repository; and every
//! output format as golden text.

use tidings_codegen::compat::{self, Finding, Impact, Mode};
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
        // Every uuid has 36 characters: lengths that admit 36 narrow nothing.
        "s2c uuid to a bounded string that holds every uuid",
        || {
            (
                s2c("payload.a = \"uuid\""),
                s2c("payload.a = { type = \"string\", min_length = 1, max_length = 128 }"),
            )
        },
        &["field-type-widened breaking clients"],
    ),
    (
        "s2c uuid to a string too short for a uuid",
        || {
            (
                s2c("payload.a = \"uuid\""),
                s2c("payload.a = { type = \"string\", max_length = 10 }"),
            )
        },
        &[
            "field-type-widened breaking clients",
            "constraint-changed breaking both",
        ],
    ),
    (
        "s2c timestamp to a string of at least 20 characters",
        || {
            (
                s2c("payload.a = \"timestamp\""),
                s2c("payload.a = { type = \"string\", min_length = 20 }"),
            )
        },
        &["field-type-widened breaking clients"],
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
        "a type no event uses is not on the wire",
        || {
            (
                "types.K = { kind = \"enum\", values = [\"a\"] }".into(),
                "types.K = { kind = \"enum\", values = [\"b\"] }".into(),
            )
        },
        &[],
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
        // Compared by shape: `A { x }` → `B { y }` loses x and gains y.
        &[
            "field-added breaking servers",
            "field-removed breaking clients",
            "type-renamed info none",
        ],
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
        &["type-renamed info none"],
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
        // The same shape under another name: the wire did not change.
        &["type-renamed info none"],
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

/// A set of schema files: sections after `#--- name.toml` lines (each declaring its module).
fn files(text: &str) -> tidings_codegen::schema::Schema {
    let mut sources = Sources::new();
    let mut name = None;
    let mut body = String::new();
    for line in text.lines().chain(std::iter::once("#--- end")) {
        if let Some(next) = line.strip_prefix("#--- ") {
            if let Some(n) = name.take() {
                sources.add(n, std::mem::take(&mut body));
            }
            name = Some(next.to_owned());
        } else {
            body.push_str(line);
            body.push('\n');
        }
    }
    match check(&sources) {
        Ok(c) => c.schema,
        Err(d) => panic!("{}\n{text}", d.render(&sources)),
    }
}

fn order(findings: &[Finding]) -> &'static str {
    match compat::Verdict::of(findings).order {
        compat::Order::Any => "any",
        compat::Order::ClientsFirst => "clients first",
        compat::Order::ServersFirst => "servers first",
        compat::Order::NoSafeOrder => "no safe order",
    }
}

/// What travels on the wire: (name, old files, new files, findings, verdict).
const WIRE_CASES: &[(&str, &str, &str, &[&str], &str)] = &[
    (
        "an enum renamed with the same values: the wire did not change",
        "#--- a.toml\nmodule = \"a\"\n[types.Channel]\nkind = \"enum\"\nvalues = [\"email\", \"sms\"]\n[events.sent]\npayload.channel = \"Channel\"\n",
        "#--- a.toml\nmodule = \"a\"\n[types.Medium]\nkind = \"enum\"\nvalues = [\"email\", \"sms\"]\n[events.sent]\npayload.channel = \"Medium\"\n",
        &["type-renamed info none"],
        "any",
    ),
    (
        "an enum renamed and widened on a to_client event: clients first",
        "#--- a.toml\nmodule = \"a\"\n[types.Channel]\nkind = \"enum\"\nvalues = [\"email\", \"sms\"]\n[events.sent]\npayload.channel = \"Channel\"\n",
        "#--- a.toml\nmodule = \"a\"\n[types.Medium]\nkind = \"enum\"\nvalues = [\"email\", \"sms\", \"push\"]\n[events.sent]\npayload.channel = \"Medium\"\n",
        &["enum-value-added breaking clients", "type-renamed info none"],
        "clients first",
    ),
    (
        "a reply type replaced by one with an extra optional field",
        "#--- a.toml\nmodule = \"a\"\n[types.Receipt]\nfields.id = \"uuid\"\n[events.pay]\ndirection = \"to_server\"\nreply = \"Receipt\"\npayload.x = \"u8\"\n",
        "#--- a.toml\nmodule = \"a\"\n[types.ReceiptV2]\nfields.id = \"uuid\"\nfields.note = \"string?\"\n[events.pay]\ndirection = \"to_server\"\nreply = \"ReceiptV2\"\npayload.x = \"u8\"\n",
        &["field-added info none", "type-renamed info none"],
        "any",
    ),
    (
        "a variant with no fields gains a struct of optional fields",
        "#--- a.toml\nmodule = \"a\"\n[types.Pay]\nkind = \"union\"\nvariants = { cash = {}, card = \"Card\" }\n[types.Card]\nfields.last4 = \"string\"\n[events.paid]\npayload.how = \"Pay\"\n",
        "#--- a.toml\nmodule = \"a\"\n[types.Pay]\nkind = \"union\"\nvariants = { cash = \"CashPayment\", card = \"Card\" }\n[types.Card]\nfields.last4 = \"string\"\n[types.CashPayment]\nfields.change = \"u32?\"\n[events.paid]\npayload.how = \"Pay\"\n",
        &["field-added info none"],
        "any",
    ),
    (
        "an enum field becomes a string on a to_client event: widened",
        "#--- a.toml\nmodule = \"a\"\n[types.Level]\nkind = \"enum\"\nvalues = [\"low\", \"high\"]\n[events.alert]\npayload.level = \"Level\"\n",
        "#--- a.toml\nmodule = \"a\"\n[types.Level]\nkind = \"enum\"\nvalues = [\"low\", \"high\"]\n[events.alert]\npayload.level = \"string\"\n",
        &["field-type-widened breaking clients"],
        "clients first",
    ),
    (
        "a string field becomes an enum on a to_client event: narrowed",
        "#--- a.toml\nmodule = \"a\"\n[types.Level]\nkind = \"enum\"\nvalues = [\"low\", \"high\"]\n[events.alert]\npayload.level = \"string\"\n",
        "#--- a.toml\nmodule = \"a\"\n[types.Level]\nkind = \"enum\"\nvalues = [\"low\", \"high\"]\n[events.alert]\npayload.level = \"Level\"\n",
        &["field-type-narrowed breaking servers"],
        "servers first",
    ),
    (
        "an enum field becomes a string on a to_server event: servers first",
        "#--- a.toml\nmodule = \"a\"\n[types.Level]\nkind = \"enum\"\nvalues = [\"low\", \"high\"]\n[events.report]\ndirection = \"to_server\"\npayload.level = \"Level\"\n",
        "#--- a.toml\nmodule = \"a\"\n[types.Level]\nkind = \"enum\"\nvalues = [\"low\", \"high\"]\n[events.report]\ndirection = \"to_server\"\npayload.level = \"string\"\n",
        &["field-type-widened breaking servers"],
        "servers first",
    ),
    (
        "an enum moves to another module unchanged",
        "#--- common.toml\nmodule = \"common\"\n[types.Impact]\nkind = \"enum\"\nvalues = [\"low\", \"high\"]\n#--- alerts.toml\nmodule = \"alerts\"\nimports = [\"common\"]\n[events.raised]\npayload.severity = \"common.Impact\"\n",
        "#--- common.toml\nmodule = \"common\"\n[types.Unrelated]\nfields.x = \"u8\"\n#--- alerts.toml\nmodule = \"alerts\"\n[types.Impact]\nkind = \"enum\"\nrenamed_from = \"common.Impact\"\nvalues = [\"low\", \"high\"]\n[events.raised]\npayload.severity = \"Impact\"\n",
        &["type-renamed info none"],
        "any",
    ),
    (
        "a module renamed, every event keeping its wire name",
        "#--- shop.toml\nmodule = \"shop\"\n[types.Item]\nfields.sku = \"string\"\n[events.added]\npayload.item = \"Item\"\n[events.buy]\ndirection = \"to_server\"\npayload.sku = \"string\"\n",
        "#--- store.toml\nmodule = \"store\"\n[types.Item]\nfields.sku = \"string\"\n[events.added]\nname = \"shop:added\"\npayload.item = \"Item\"\n[events.buy]\nname = \"shop:buy\"\ndirection = \"to_server\"\npayload.sku = \"string\"\n",
        &["type-renamed info none"],
        "any",
    ),
    (
        "an event key renamed, its wire name kept",
        "#--- a.toml\nmodule = \"a\"\n[events.created]\npayload.x = \"u8\"\n",
        "#--- a.toml\nmodule = \"a\"\n[events.made]\nname = \"a:created\"\npayload.x = \"u8\"\n",
        &[],
        "any",
    ),
    (
        "a type changed only for an event added in the same release",
        "#--- a.toml\nmodule = \"a\"\n[types.Coupon]\nfields.code = \"string\"\n[events.other]\npayload.x = \"u8\"\n",
        "#--- a.toml\nmodule = \"a\"\n[types.Coupon]\nfields.code = \"string\"\nfields.discount = \"u8\"\n[events.other]\npayload.x = \"u8\"\n[events.redeem]\ndirection = \"to_server\"\npayload.coupon = \"Coupon\"\n",
        &["event-added breaking servers"],
        "servers first",
    ),
    (
        "an enum gains a value: only the flow of both versions counts",
        "#--- a.toml\nmodule = \"a\"\n[types.Tier]\nkind = \"enum\"\nvalues = [\"free\", \"pro\"]\n[events.upgrade]\ndirection = \"to_server\"\npayload.tier = \"Tier\"\n",
        "#--- a.toml\nmodule = \"a\"\n[types.Tier]\nkind = \"enum\"\nvalues = [\"free\", \"pro\", \"team\"]\n[events.upgrade]\ndirection = \"to_server\"\npayload.tier = \"Tier\"\n[events.upgraded]\npayload.tier = \"Tier\"\n",
        &["enum-value-added breaking servers", "event-added info none"],
        "servers first",
    ),
    (
        "the tenant is read from another field",
        "#--- a.toml\nmodule = \"a\"\n[types.Order]\nfields.tenant_id = \"uuid\"\nfields.seller_tenant_id = \"uuid\"\n[events.placed]\ntenant = \"order.tenant_id\"\nrecipients.roles = [\"admin\"]\npayload.order = \"Order\"\n",
        "#--- a.toml\nmodule = \"a\"\n[types.Order]\nfields.tenant_id = \"uuid\"\nfields.seller_tenant_id = \"uuid\"\n[events.placed]\ntenant = \"order.seller_tenant_id\"\nrecipients.roles = [\"admin\"]\npayload.order = \"Order\"\n",
        &["recipients-changed warning none"],
        "any",
    ),
    (
        "another user is excluded",
        "#--- a.toml\nmodule = \"a\"\n[events.edited]\nrecipients.user = [\"owner_id\"]\nrecipients.except = \"actor_id\"\npayload.owner_id = \"uuid\"\npayload.actor_id = \"uuid\"\npayload.bot_id = \"uuid\"\n",
        "#--- a.toml\nmodule = \"a\"\n[events.edited]\nrecipients.user = [\"owner_id\"]\nrecipients.except = \"bot_id\"\npayload.owner_id = \"uuid\"\npayload.actor_id = \"uuid\"\npayload.bot_id = \"uuid\"\n",
        &["recipients-changed warning none"],
        "any",
    ),
    (
        "a type removed with the only event that used it",
        "#--- a.toml\nmodule = \"a\"\n[types.Old]\nfields.x = \"u8\"\n[events.gone]\npayload.o = \"Old\"\n[events.kept]\npayload.x = \"u8\"\n",
        "#--- a.toml\nmodule = \"a\"\n[events.kept]\npayload.x = \"u8\"\n",
        &["event-removed breaking clients", "type-removed info none"],
        "clients first",
    ),
    (
        "a recursive type renamed, gaining an optional field: cycles compared once",
        "#--- a.toml\nmodule = \"a\"\n[types.Tree]\nfields.children = \"[Tree]\"\nfields.label = \"string\"\n[events.grown]\npayload.root = \"Tree\"\n",
        "#--- a.toml\nmodule = \"a\"\n[types.Node]\nfields.children = \"[Node]\"\nfields.label = \"string\"\nfields.color = \"string?\"\n[events.grown]\npayload.root = \"Node\"\n",
        &["field-added info none", "type-renamed info none"],
        "any",
    ),
    (
        "a change two named types deep, on a client event",
        "#--- a.toml\nmodule = \"a\"\n[types.Outer]\nfields.inner = \"Inner\"\n[types.Inner]\nfields.a = \"u8\"\n[events.send]\ndirection = \"to_server\"\npayload.o = \"Outer\"\n",
        "#--- a.toml\nmodule = \"a\"\n[types.Outer]\nfields.inner = \"Inner\"\n[types.Inner]\nfields.a = \"u8\"\nfields.b = \"u8\"\n[events.send]\ndirection = \"to_server\"\npayload.o = \"Outer\"\n",
        &["field-added breaking clients"],
        "clients first",
    ),
    (
        "one type in two events of opposite directions: one finding, both flows",
        "#--- a.toml\nmodule = \"a\"\n[types.T]\nfields.a = \"u8\"\n[events.down]\npayload.t = \"T\"\n[events.up]\ndirection = \"to_server\"\npayload.t = \"T\"\n",
        "#--- a.toml\nmodule = \"a\"\n[types.T]\nfields.a = \"u16\"\n[events.down]\npayload.t = \"T\"\n[events.up]\ndirection = \"to_server\"\npayload.t = \"T\"\n",
        &["field-type-widened breaking both"],
        "no safe order",
    ),
    (
        "a field renamed: no order is safe",
        "#--- a.toml\nmodule = \"a\"\n[events.e]\npayload.name = \"string\"\n",
        "#--- a.toml\nmodule = \"a\"\n[events.e]\npayload.title = \"string\"\n",
        &["field-added breaking servers", "field-removed breaking clients"],
        "no safe order",
    ),
    (
        "an event changes direction: its payload judged on the flow both have",
        "#--- a.toml\nmodule = \"a\"\n[events.e]\ndirection = \"both\"\npayload.a = \"u8\"\n",
        "#--- a.toml\nmodule = \"a\"\n[events.e]\npayload.a = \"u16\"\n",
        &["direction-changed breaking clients", "field-type-widened breaking clients"],
        "clients first",
    ),
    (
        "an open enum gains a value: old readers take it as unknown",
        "#--- a.toml\nmodule = \"a\"\n[types.Level]\nkind = \"enum\"\nopen = true\nvalues = [\"low\"]\n[events.alert]\npayload.level = \"Level\"\n",
        "#--- a.toml\nmodule = \"a\"\n[types.Level]\nkind = \"enum\"\nopen = true\nvalues = [\"low\", \"high\"]\n[events.alert]\npayload.level = \"Level\"\n",
        &["enum-value-added info none"],
        "any",
    ),
    (
        "an open union gains a variant",
        "#--- a.toml\nmodule = \"a\"\n[types.Body]\nkind = \"union\"\nopen = true\nvariants = { text = {} }\n[events.msg]\npayload.body = \"Body\"\n",
        "#--- a.toml\nmodule = \"a\"\n[types.Body]\nkind = \"union\"\nopen = true\nvariants = { text = {}, image = {} }\n[events.msg]\npayload.body = \"Body\"\n",
        &["union-variant-added info none"],
        "any",
    ),
    (
        "an open enum closed",
        "#--- a.toml\nmodule = \"a\"\n[types.Level]\nkind = \"enum\"\nopen = true\nvalues = [\"low\"]\n[events.report]\ndirection = \"to_server\"\npayload.level = \"Level\"\n",
        "#--- a.toml\nmodule = \"a\"\n[types.Level]\nkind = \"enum\"\nvalues = [\"low\"]\n[events.report]\ndirection = \"to_server\"\npayload.level = \"Level\"\n",
        &["openness-changed breaking clients"],
        "clients first",
    ),
    (
        "a default becomes optional on a client event: new clients may send null",
        "#--- a.toml\nmodule = \"a\"\n[events.e]\ndirection = \"to_server\"\npayload.n = { type = \"u8\", default = 3 }\n",
        "#--- a.toml\nmodule = \"a\"\n[events.e]\ndirection = \"to_server\"\npayload.n = \"u8?\"\n",
        &["field-type-widened breaking servers"],
        "servers first",
    ),
    (
        "an optional field gets a default instead on a client event: null no longer read",
        "#--- a.toml\nmodule = \"a\"\n[events.e]\ndirection = \"to_server\"\npayload.n = \"u8?\"\n",
        "#--- a.toml\nmodule = \"a\"\n[events.e]\ndirection = \"to_server\"\npayload.n = { type = \"u8\", default = 3 }\n",
        &["field-type-narrowed breaking clients"],
        "clients first",
    ),
    (
        "an open enum closed while gaining a value: only the closing counts",
        "#--- a.toml\nmodule = \"a\"\n[types.K]\nkind = \"enum\"\nopen = true\nvalues = [\"a\"]\n[events.e]\npayload.k = \"K\"\n",
        "#--- a.toml\nmodule = \"a\"\n[types.K]\nkind = \"enum\"\nvalues = [\"a\", \"b\"]\n[events.e]\npayload.k = \"K\"\n",
        &["enum-value-added info none", "openness-changed breaking servers"],
        "servers first",
    ),
    (
        "a value removed from an open enum: new readers take it as unknown",
        "#--- a.toml\nmodule = \"a\"\n[types.K]\nkind = \"enum\"\nopen = true\nvalues = [\"a\", \"b\"]\n[events.e]\ndirection = \"to_server\"\npayload.k = \"K\"\n",
        "#--- a.toml\nmodule = \"a\"\n[types.K]\nkind = \"enum\"\nopen = true\nvalues = [\"a\"]\n[events.e]\ndirection = \"to_server\"\npayload.k = \"K\"\n",
        &["enum-value-removed info none"],
        "any",
    ),
    (
        "integers: the same values under other types and bounds are no change",
        "#--- a.toml\nmodule = \"a\"\n[events.e]\npayload.a = \"u8\"\npayload.b = \"u8\"\npayload.c = { type = \"i64\", min = 0, max = 100 }\npayload.d = \"string\"\n",
        "#--- a.toml\nmodule = \"a\"\n[events.e]\npayload.a = { type = \"u8\", min = 0, max = 255 }\npayload.b = { type = \"u16\", max = 255 }\npayload.c = { type = \"u8\", max = 100 }\npayload.d = { type = \"string\", min_length = 0 }\n",
        &[],
        "any",
    ),
    (
        "integers: a wider type with a tighter bound is judged on the values",
        "#--- a.toml\nmodule = \"a\"\n[events.e]\npayload.a = \"u8\"\n",
        "#--- a.toml\nmodule = \"a\"\n[events.e]\npayload.a = { type = \"i16\", min = -5, max = 200 }\n",
        &["field-type-changed breaking both"],
        "no safe order",
    ),
];

#[test]
fn what_is_compared_is_what_travels_on_the_wire() {
    let mut failures = Vec::new();
    for (name, old, new, expected, verdict) in WIRE_CASES {
        let findings = compat::compare(&files(old), &files(new));
        let mut got: Vec<String> = findings.iter().map(describe).collect();
        got.sort();
        let mut want: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        want.sort();
        if got != want || order(&findings) != *verdict {
            failures.push(format!(
                "{name}:\n  want {want:?}, {verdict}\n  got  {got:?}, {}",
                order(&findings)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_finding_inside_a_type_carries_its_events_and_the_config_grades_per_event() {
    let old = files("#--- t.toml\nmodule = \"ticket\"\n[types.Ticket]\nfields.id = \"uuid\"\nfields.note = \"string\"\n[events.updated]\npayload.ticket = \"Ticket\"\n[events.created]\npayload.ticket = \"Ticket\"\n");
    let new = files("#--- t.toml\nmodule = \"ticket\"\n[types.Ticket]\nfields.id = \"uuid\"\n[events.updated]\npayload.ticket = \"Ticket\"\n[events.created]\npayload.ticket = \"Ticket\"\n");
    let findings = compat::compare(&old, &new);
    assert_eq!(findings.len(), 1, "{findings:?}");
    let events: Vec<&str> = findings[0].events.keys().map(String::as_str).collect();
    assert_eq!(events, ["ticket:created", "ticket:updated"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = |text: &str| {
        let path = dir.path().join("tidings-compat.toml");
        std::fs::write(&path, text).expect("write");
        compat::Config::load(&path)
    };
    // Ignored for one of its two events: still reported, for the other.
    let one = config("[events.\"ticket:updated\"]\nfield-removed = \"ignore\"\n").expect("valid");
    let left = one.apply(findings.clone());
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].event(), Some("ticket:created"));
    // Ignored for both: gone.
    let both = config("[events.\"ticket:updated\"]\nfield-removed = \"ignore\"\n[events.\"ticket:created\"]\nfield-removed = \"ignore\"\n").expect("valid");
    assert!(both.apply(findings).is_empty());
    // An event neither version declares is refused, with a did-you-mean.
    let typo = config("[events.\"ticket:updatd\"]\nfield-removed = \"ignore\"\n").expect("valid");
    let err = typo
        .check_events(["ticket:updated", "ticket:created"])
        .expect_err("unknown event");
    assert!(
        err.to_string().contains("did you mean `ticket:updated`?"),
        "{err}"
    );
    // Unknown keys are refused.
    assert!(config("[rule]\nfield-removed = \"ignore\"\n").is_err());
}

#[test]
fn every_rule_is_exercised_and_documented() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/compat.md"))
        .expect("docs/compat.md");
    let mut seen = std::collections::BTreeSet::new();
    let expected = CASES
        .iter()
        .flat_map(|(_, _, e)| e.iter())
        .chain(WIRE_CASES.iter().flat_map(|(_, _, _, e, _)| e.iter()));
    for e in expected {
        seen.insert(e.split(' ').next().unwrap_or_default().to_owned());
    }
    let table = compat::registry::markdown_table();
    assert!(
        docs.contains(&table),
        "docs/compat.md's table of rules is not the registry's; it should read:\n{table}"
    );
    for rule in compat::RuleId::ALL {
        assert!(seen.contains(rule.as_str()), "no case exercises `{rule}`");
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
    assert!(findings.iter().all(|f| f.severity == Impact::Breaking));
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

/// A repository on `main` whose one commit holds `V1` under `schemas/`.
fn repository_at_v1() -> tempfile::TempDir {
    let repo = tempfile::tempdir().expect("temp dir");
    let dir = repo.path();
    git(dir, &["init", "-q", "-b", "main"]);
    write(dir, V1);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "v1"]);
    repo
}

#[test]
fn git_baselines_tags_and_exit_codes() {
    let repo = repository_at_v1();
    let dir = repo.path();
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
    // Anchored in the current tree (the module that held it), and shown where it was.
    assert!(
        out(&o).contains("--> schemas/ticket.toml:1:1")
            && out(&o).contains("was main:schemas/ticket.toml:13:9"),
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
    // One document for the run, each baseline inside it.
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    let labels: Vec<&str> = doc["baselines"]
        .as_array()
        .expect("baselines")
        .iter()
        .filter_map(|b| b["baseline"].as_str())
        .collect();
    assert_eq!(labels, ["git:v1", "git:v2"], "{doc}");
    assert_eq!(doc["compatible"], false, "{doc}");
    assert_eq!(doc["verdict"]["order"], "clients_first", "{doc}");
    let o = tidings(
        dir,
        &["compat", "--transitive", "git:v*", "--format", "junit"],
    );
    let junit = out(&o);
    assert_eq!(junit.matches("<testsuites").count(), 1, "{junit}");
    assert_eq!(
        junit.matches("<testsuite name=\"against").count(),
        2,
        "{junit}"
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

#[test]
fn removals_are_anchored_in_the_checkout_and_pipes_and_repositories_fail_cleanly() {
    let repo = repository_at_v1();
    let dir = repo.path();
    write(
        dir,
        &V1.replace(
            "[events.close]\ndirection = \"to_server\"\npayload.id = \"uuid\"\n",
            "",
        ),
    );
    // GitHub: the annotation of a removal is on a file of the checkout, never `main:…`.
    let o = tidings(
        dir,
        &["compat", "--against", "git:main", "--format", "github"],
    );
    let text = out(&o);
    assert!(
        text.contains("file=schemas/ticket.toml,line=1,col=1"),
        "{text}"
    );
    assert!(!text.contains("file=main:"), "{text}");
    assert!(
        text.trim_end()
            .lines()
            .last()
            .is_some_and(|l| l.contains("verdict")),
        "{text}"
    );

    // A reader that goes away: no panic, the exit code of the findings.
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["compat", "--against", "git:main", "--format", "json"])
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    drop(child.stdout.take());
    let o = child.wait_with_output().expect("exits");
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));

    // Outside a repository: said so.
    let elsewhere = tempfile::tempdir().expect("temp dir");
    write(elsewhere.path(), V1);
    let o = tidings(elsewhere.path(), &["compat", "--against", "git:main"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("needs a git repository"), "{err}");
}
