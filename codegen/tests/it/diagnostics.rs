//! One case per mistake: every file in `tests/diagnostics/` is checked and its rendered
//! diagnostics compared with the golden snapshot next to it.

use std::path::Path;

use tidings_codegen::check;

use crate::case_sources;

fn render_case(path: &Path) -> String {
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("case");
    let text = std::fs::read_to_string(path).expect("case file is readable");
    let sources = case_sources(name, &text);
    match check(&sources) {
        Ok(checked) if checked.warnings.is_empty() => "ok: no diagnostics\n".to_owned(),
        Ok(checked) => format!("ok with warnings:\n\n{}", checked.warnings.render(&sources)),
        Err(diags) => format!(
            "{} errors, {} warnings:\n\n{}",
            diags.error_count(),
            diags.warning_count(),
            diags.render(&sources)
        ),
    }
}

#[test]
fn every_seeded_mistake_is_reported_with_its_location() {
    insta::glob!("../diagnostics", "*.toml", |path| {
        insta::assert_snapshot!(render_case(path));
    });
}

#[test]
fn the_valid_case_has_no_diagnostic() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics/valid.toml");
    assert_eq!(render_case(&path), "ok: no diagnostics\n");
}

/// Every diagnostic code (the registry `tidings_codegen::Code`) has a golden case, and a row in
/// docs/schema.md's table saying what it means, in the registry's words.
#[test]
fn every_diagnostic_code_has_a_golden_case_and_a_documented_meaning() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut covered = String::new();
    for snap in walk(&root.join("tests/it/snapshots")) {
        covered.push_str(&std::fs::read_to_string(snap).expect("snapshot is readable"));
    }
    let docs = std::fs::read_to_string(root.join("../docs/schema.md")).expect("docs/schema.md");
    let mut missing = Vec::new();
    for code in tidings_codegen::Code::ALL {
        let id = code.as_str();
        if !covered.contains(&format!("[{id}]")) {
            missing.push(format!("{id}: no golden case"));
        }
        let row = docs.lines().find(|l| l.starts_with(&format!("| `{id}` |")));
        match row {
            Some(row) if row.contains(code.meaning()) => {}
            Some(row) => missing.push(format!(
                "{id}: the docs say `{row}`, the registry `{}`",
                code.meaning()
            )),
            None => missing.push(format!("{id}: no row in docs/schema.md")),
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    assert!(tidings_codegen::Code::ALL.len() > 20);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("directory is readable") {
        let path = entry.expect("entry is readable").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
