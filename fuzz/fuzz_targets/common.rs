//! What every target does with the files it builds: check them, render the diagnostics (every
//! span must map to a line and a column), and run every backend on what `check` accepts. A
//! panic anywhere is a finding.

use tidings_codegen::{check, Sources};

pub fn run(sources: &Sources) {
    match check(sources) {
        Ok(checked) => {
            let _ = checked.warnings.render(sources);
            let schema = &checked.schema;
            let _ = tidings_codegen::rust::generate(schema);
            let _ = tidings_codegen::ts::generate(
                schema,
                &tidings_codegen::ts::TsOptions { react: true, vue: true, publisher: true },
            );
            let _ = tidings_codegen::jsonschema::generate(schema);
            let _ = tidings_codegen::asyncapi::generate(schema);
        }
        Err(diagnostics) => {
            let _ = diagnostics.render(sources);
            let _ = diagnostics.to_json(sources);
        }
    }
}
