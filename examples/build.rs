//! Generates the Rust event types of the shipped schemas and the demo's own schema, and the
//! TypeScript client of the demo page.

use tidings_codegen::ts::TsOptions;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tidings_codegen::Builder::new()
        .schemas("../schemas")
        .schemas("schemas")
        .typescript(
            "web/generated",
            TsOptions {
                react: true,
                vue: true,
                publisher: false,
            },
        )
        .compile()?;
    Ok(())
}
