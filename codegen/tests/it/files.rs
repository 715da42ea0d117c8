//! Files as a user's checkout has them: a file reached twice is one file, a symbolic link loop is
//! not followed, a file that is not UTF-8 is a located error that leaves every other file
//! checked, and a byte order mark does not shift columns.

use crate::cli::{text, tidings};

const CHAT: &str = "module = \"chat\"\n\n[events.typing]\npayload.is_typing = \"bool\"\n";

#[test]
fn a_file_reached_twice_is_one_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("schemas")).expect("mkdir");
    std::fs::write(dir.path().join("schemas/chat.toml"), CHAT).expect("write");
    for args in [
        &["check", "schemas/chat.toml", "schemas"][..],
        &["check", "./schemas/chat.toml", "schemas/chat.toml"][..],
    ] {
        let out = tidings(args, dir.path());
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).starts_with("checked 1 file:"),
            "{}",
            text(&out.stdout)
        );
    }
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_loop_is_not_followed_and_is_said_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("chat.toml"), CHAT).expect("write");
    std::os::unix::fs::symlink(".", dir.path().join("loop")).expect("symlink");
    let out = tidings(&["check", "."], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let real = std::fs::canonicalize(dir.path()).expect("real path");
    let stderr = text(&out.stderr).replace(&real.display().to_string(), "<dir>");
    insta::assert_snapshot!("symlink_loop", stderr);
    // Counted with the other warnings, and in the JSON document too.
    assert!(
        text(&out.stdout).starts_with("checked 1 file:")
            && text(&out.stdout).trim_end().ends_with("; 1 warning"),
        "{}",
        text(&out.stdout)
    );
    let out = tidings(&["check", "--format", "json", "."], dir.path());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(json["warnings"], 1, "{json}");
    assert_eq!(json["diagnostics"][0]["code"], "symlink-loop", "{json}");
    assert_eq!(json["diagnostics"][0]["file"], "./loop", "{json}");
}

#[test]
fn a_file_that_is_not_utf8_is_a_located_error_and_the_others_are_checked() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("shop.toml"),
        b"module = \"shop\"\ndescription = \"caf\xe9\"\n",
    )
    .expect("write");
    // Another file, with a mistake of its own: still reported.
    std::fs::write(
        dir.path().join("chat.toml"),
        "module = \"chat\"\n\n[events.typing]\npayload.is_typing = \"boool\"\n",
    )
    .expect("write");
    let out = tidings(&["check", "."], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr).replace(&format!("{}/", dir.path().display()), "");
    insta::assert_snapshot!("not_utf8", stderr);
}

#[test]
fn a_byte_order_mark_does_not_shift_columns() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("Chat.toml"), "\u{feff}module = \"Chat\"\n").expect("write");
    let out = tidings(&["check", "."], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("Chat.toml:1:10"), "{stderr}");
}

#[test]
fn lone_carriage_returns_are_one_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("cr.toml"),
        "module = \"cr\"\r[types.A]\rfields.a = \"u8\"\r",
    )
    .expect("write");
    let out = tidings(&["check", "."], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.matches("error[").count(), 1, "{stderr}");
    assert!(stderr.contains("LF or CRLF"), "{stderr}");
}

#[test]
fn a_long_line_is_shown_as_a_window_around_the_mistake() {
    let dir = tempfile::tempdir().expect("temp dir");
    let long = "x".repeat(200_000);
    std::fs::write(
        dir.path().join("long.toml"),
        format!("module = \"long\"\ndescription = \"{long}\" junk\n"),
    )
    .expect("write");
    let out = tidings(&["check", "."], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.len() < 1_000, "{} bytes of output", stderr.len());
    assert!(stderr.contains("long.toml:2:200018"), "{stderr}");
    // The caret is under the mistake: `junk`, after the cut.
    let lines: Vec<&str> = stderr.lines().collect();
    let shown = lines.iter().find(|l| l.contains("junk")).expect("the line");
    let caret = lines.iter().find(|l| l.contains('^')).expect("the caret");
    let at = |s: &str, pat: &str| s.find(pat).map(|i| s[..i].chars().count());
    assert_eq!(at(shown, "junk"), at(caret, "^"), "{stderr}");
}

#[test]
fn the_bad_byte_of_a_file_that_is_not_utf8_is_one_column_wide() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("enc.toml"),
        b"module = \"enc\"\ndescription = \"caf\xe9\"\n",
    )
    .expect("write");
    let out = tidings(&["check", "--format", "json", "."], dir.path());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let d = &json["diagnostics"][0];
    assert_eq!(
        (d["line"].clone(), d["column"].clone()),
        (2.into(), 19.into()),
        "{json}"
    );
    assert_eq!(
        (d["end_line"].clone(), d["end_column"].clone()),
        (2.into(), 20.into()),
        "{json}"
    );
}

#[cfg(unix)]
#[test]
fn a_link_to_nothing_is_passed_over_and_the_other_files_are_checked() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("chat.toml"), CHAT).expect("write");
    // What Emacs leaves next to a file being edited.
    std::os::unix::fs::symlink("user@host.1234", dir.path().join(".#chat.toml")).expect("symlink");
    let out = tidings(&["check", "."], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::assert_snapshot!("dangling_link", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("checked 1 file:"),
        "{}",
        text(&out.stdout)
    );
}

/// `tidings check .` in a project's root reads its schemas: not `Cargo.toml`, `tidings.toml`
/// or other tools' TOML files, nor anything under `target/`, `node_modules/` or a hidden
/// directory. Given by name, such a file is read as a schema.
#[test]
fn a_project_root_is_searched_for_schemas_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path();
    for sub in [
        "schemas",
        "target/debug",
        "node_modules/x",
        ".git",
        ".cargo",
    ] {
        std::fs::create_dir_all(p.join(sub)).expect("mkdir");
    }
    std::fs::write(p.join("schemas/chat.toml"), CHAT).expect("write");
    for other in [
        "Cargo.toml",
        "tidings.toml",
        "rustfmt.toml",
        "target/debug/x.toml",
        "node_modules/x/y.toml",
        ".git/config.toml",
        ".cargo/config.toml",
    ] {
        std::fs::write(p.join(other), "[package]\nname = \"x\"\n").expect("write");
    }
    let out = tidings(&["check", "."], p);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("checked 1 file:"),
        "{}",
        text(&out.stdout)
    );
    let out = tidings(&["check", "schemas", "Cargo.toml"], p);
    assert_eq!(out.status.code(), Some(1), "given by name, it is read");
}
