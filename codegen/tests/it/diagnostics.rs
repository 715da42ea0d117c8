//! One case per mistake: every file in `tests/diagnostics/` is checked and its rendered
//! diagnostics compared with the golden snapshot next to it.

use std::collections::BTreeSet;
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

/// Every diagnostic code the compiler can emit appears in at least one golden case.
#[test]
fn every_diagnostic_code_has_a_golden_case() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut emitted = BTreeSet::new();
    for file in walk(&root.join("src")) {
        let text = std::fs::read_to_string(&file).expect("source is readable");
        for ctor in ["Diagnostic::error(", "Diagnostic::warning("] {
            for chunk in text.split(ctor).skip(1) {
                let code = chunk.trim_start().trim_start_matches('"');
                if let Some(end) = code.find('"') {
                    let code = &code[..end];
                    if !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                    {
                        emitted.insert(code.to_owned());
                    }
                }
            }
        }
    }
    assert!(emitted.len() > 20, "found only {emitted:?}");
    let mut covered = String::new();
    for snap in walk(&root.join("tests/it/snapshots")) {
        covered.push_str(&std::fs::read_to_string(snap).expect("snapshot is readable"));
    }
    let missing: Vec<_> = emitted
        .iter()
        .filter(|c| !covered.contains(&format!("[{c}]")))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a golden case: {missing:?}"
    );
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
