//! The examples run: the build.rs user (the scripted live demo, on generated code) and the
//! derive user (its scripted run, and its one-command TypeScript export).

use std::process::Command;

fn run(bin: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin)
        .args(args)
        .output()
        .expect("the example runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_build_rs_user_routes_every_rule_as_declared() {
    let (ok, text) = run(env!("CARGO_BIN_EXE_live_demo"), &[]);
    assert!(ok, "{text}");
    assert!(!text.contains('✗'), "{text}");
    assert!(text.contains("close codes: [Some(1001)"), "{text}");
}

#[test]
fn the_derive_user_runs_and_exports_its_typescript() {
    let (ok, text) = run(env!("CARGO_BIN_EXE_derive_user"), &[]);
    assert!(ok, "{text}");
    assert!(
        text.contains("ok: typed events from derived structs"),
        "{text}"
    );

    let dir = std::env::temp_dir().join(format!("tidings-derive-export-{}", std::process::id()));
    let dir_s = dir.to_str().expect("utf-8");
    let (ok, text) = run(env!("CARGO_BIN_EXE_derive_user"), &["--ts", dir_s]);
    assert!(ok, "{text}");
    let jobs = std::fs::read_to_string(dir.join("jobs.ts")).expect("jobs.ts written");
    assert!(jobs.contains("export const JOBS_JOB_STATE_CHANGED = \"jobs:stateChanged\" as const;"));
    assert!(
        jobs.contains("ownerId: string;"),
        "serde's rename_all reaches TypeScript"
    );
    let (ok, text) = run(
        env!("CARGO_BIN_EXE_derive_user"),
        &["--ts", dir_s, "--check"],
    );
    assert!(ok, "{text}");
    std::fs::write(dir.join("jobs.ts"), "// stale\n").expect("edit");
    let out = Command::new(env!("CARGO_BIN_EXE_derive_user"))
        .args(["--ts", dir_s, "--check"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}
