//! Arbitrary sets of schema files: the input split at `#---` lines into files, so that imports,
//! duplicate modules and cross-module references meet.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut sources = tidings_codegen::Sources::new();
    for (i, file) in text.split("\n#---").take(16).enumerate() {
        sources.add(format!("f{i}.toml"), file.to_owned());
    }
    common::run(&sources);
});
