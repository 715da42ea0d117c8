//! Arbitrary bytes as one schema file (lossily UTF-8, as the loader reads a file that is not).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let mut sources = tidings_codegen::Sources::new();
    sources.add("fuzz.toml", String::from_utf8_lossy(data).into_owned());
    common::run(&sources);
});
