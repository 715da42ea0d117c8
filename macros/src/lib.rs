//! Procedural macros for Tidings: `#[derive(Event)]` and `#[derive(Describe)]`.
//!
//! Re-exported by `tidings` (feature `derive`, on by default); depend on that instead. The
//! macros emit data and calls into `::tidings`; everything they produce is described in the
//! `tidings` crate's `describe` module.

mod attr;
mod case;
mod derive_describe;
mod event;
mod fields;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Makes a struct an event: `#[event(module = "...", …)]` sets its wire name, direction,
/// delivery, reply and recipient rules; its fields are the payload. See the `tidings` docs.
#[proc_macro_derive(Event, attributes(event, tidings))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    event::expand(parse_macro_input!(input as DeriveInput))
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Describes a struct, string enum or tagged union used in event payloads:
/// `#[tidings(module = "...")]`.
#[proc_macro_derive(Describe, attributes(tidings))]
pub fn derive_describe(input: TokenStream) -> TokenStream {
    derive_describe::expand(parse_macro_input!(input as DeriveInput))
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
