//! Procedural macros for Tidings.
//!
//! This crate is re-exported by `tidings`; depend on that instead. The `#[derive(Event)]` macro
//! is tracked by the Rust-codegen issue and lands here; the crate exists now so that the
//! workspace layout and dependency direction are fixed from the start.
