//! Integration tests of the compiler front end and the `tidings` CLI.

mod buildable;
mod cli;
mod compat;
mod diagnostics;
mod docs_examples;
mod files;
mod generated;
mod never_panics;
mod pipeline;
mod shipped_schemas;
mod unique_ids;

use tidings_codegen::Sources;

/// Splits a case file into virtual files: each starts at a line `#--- name.toml`; a case without
/// such a line is one file named after the case.
pub(crate) fn case_sources(case_name: &str, text: &str) -> Sources {
    let mut sources = Sources::new();
    let mut current: Option<(String, String)> = None;
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix("#--- ") {
            if let Some((n, t)) = current.take() {
                sources.add(n, t);
            }
            current = Some((name.trim().to_owned(), String::new()));
        } else {
            current
                .get_or_insert_with(|| (format!("{case_name}.toml"), String::new()))
                .1
                .push_str(line);
        }
    }
    if let Some((n, t)) = current {
        sources.add(n, t);
    }
    sources
}
