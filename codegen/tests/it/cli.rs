//! The `tidings` binary: exit codes, formats and messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) fn tidings(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the tidings binary runs")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn bad_schema_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("ticket.toml"),
        "module = \"ticket\"\n\n[events.created]\nrecipients.user = [\"creatd_by\"]\npayload.created_by = \"uuid\"\n",
    )
    .expect("write schema");
    dir
}

#[test]
fn check_defaults_to_schemas_and_exits_0_when_clean() {
    let out = tidings(&["check"], &repo());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("checked 7 files: 7 modules"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn check_exits_1_with_located_diagnostics() {
    let dir = bad_schema_dir();
    let out = tidings(&["check", "."], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "error[unknown-field]: no field `creatd_by` in the payload of event `created`"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("ticket.toml:4:21"), "{stderr}");
    assert!(stderr.contains("did you mean `created_by`?"), "{stderr}");
    assert!(text(&out.stdout).contains("1 error"));
}

#[test]
fn check_json_lists_diagnostics_for_tools() {
    let dir = bad_schema_dir();
    let out = tidings(&["check", "--format", "json", "ticket.toml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(json["errors"], 1);
    let d = &json["diagnostics"][0];
    assert_eq!(d["code"], "unknown-field");
    assert_eq!(d["file"], "ticket.toml");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(4), Some(21))
    );
    assert_eq!(d["help"], "did you mean `created_by`?");
}

#[test]
fn missing_paths_and_bad_arguments_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = tidings(&["check", "nowhere"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`nowhere` does not exist"),
        "{}",
        text(&out.stderr)
    );

    let out = tidings(&["check"], dir.path());
    assert_eq!(out.status.code(), Some(2), "no schemas/ here");

    let out = tidings(&["check", "--format", "xml"], dir.path());
    assert_eq!(out.status.code(), Some(2));

    std::fs::create_dir(dir.path().join("empty")).expect("mkdir");
    let out = tidings(&["check", "empty"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("holds no schema files"));
}

#[test]
fn ir_prints_the_resolved_schema_as_json() {
    let out = tidings(&["ir"], &repo());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let schema: tidings::schema::Schema =
        serde_json::from_slice(&out.stdout).expect("stdout is the IR");
    assert_eq!(schema.ir_version, tidings::schema::IR_VERSION);
    assert!(schema.event_by_wire_name("ticket:statusChanged").is_some());

    let out = tidings(&["ir", "--summary"], &repo());
    let stdout = text(&out.stdout);
    assert!(stdout.contains("chat:typing"), "{stdout}");
    assert!(stdout.contains("ephemeral"), "{stdout}");

    let dir = bad_schema_dir();
    let out = tidings(&["ir", "."], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no IR for an invalid schema");
}

#[test]
fn help_shows_examples() {
    let out = tidings(&["check", "--help"], &repo());
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("Examples:"));
}

#[test]
fn generate_writes_only_changes_and_check_detects_drift() {
    let out = tempfile::tempdir().expect("temp dir");
    let dir = out.path().to_str().expect("utf-8 path").to_owned();
    let schemas = repo().join("schemas");
    let schemas = schemas.to_str().expect("utf-8 path");
    let run = |args: &[&str]| tidings(args, &repo());

    let first = run(&[
        "generate",
        "--ts",
        &dir,
        "--rust",
        &format!("{dir}/rs"),
        schemas,
    ]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let stdout = text(&first.stdout);
    assert!(
        stdout.contains(&format!("{dir}: 9 written")),
        "7 modules, index.ts, runtime.ts: {stdout}"
    );
    assert!(
        stdout.contains(&format!("{dir}/rs: 8 written")),
        "7 modules and mod.rs: {stdout}"
    );
    let again = run(&["generate", "--ts", &dir, schemas]);
    assert!(
        text(&again.stdout).contains("0 written"),
        "{}",
        text(&again.stdout)
    );

    let clean = run(&[
        "generate",
        "--ts",
        &dir,
        "--rust",
        &format!("{dir}/rs"),
        "--check",
        schemas,
    ]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean.stdout));

    std::fs::write(out.path().join("ticket.ts"), "// edited by hand\n").expect("edit");
    std::fs::remove_file(out.path().join("rs/chat.rs")).expect("remove");
    let drifted = run(&[
        "generate",
        "--ts",
        &dir,
        "--rust",
        &format!("{dir}/rs"),
        "--check",
        schemas,
    ]);
    assert_eq!(drifted.status.code(), Some(1));
    let stdout = text(&drifted.stdout);
    assert!(stdout.contains("out of date: ticket.ts"), "{stdout}");
    assert!(stdout.contains("missing: chat.rs"), "{stdout}");

    let nothing = run(&["generate", schemas]);
    assert_eq!(nothing.status.code(), Some(2));
    assert!(text(&nothing.stderr).contains("nothing to generate"));
}
