//! Constraints: `min`/`max` exact for the field's type, lengths, and what JavaScript cannot
//! hold exactly.

use std::ops::Range;

use tidings::schema::{Constraints, Number, Primitive, TypeRef};
use toml::Spanned;

use super::finite;
use crate::diag::Diagnostic;
use crate::lower::{Lowering, ModuleCx};
use crate::source::FileId;

impl Lowering<'_> {
    pub(in crate::lower) fn lower_constraints(
        &mut self,
        m: &ModuleCx<'_>,
        ty: &TypeRef,
        full: &crate::raw::RawFieldFull,
        fname: &str,
    ) -> Constraints {
        let file = m.raw.file;
        let inner = ty.unwrap_optional();
        let number = match inner {
            TypeRef::Primitive(p) if p.is_number() => Some(*p),
            _ => None,
        };
        let has_length = matches!(
            inner,
            TypeRef::Primitive(Primitive::String) | TypeRef::List(_) | TypeRef::Map(_)
        );
        let mut c = Constraints::default();
        for (key, raw, slot) in [
            ("min", &full.min, &mut c.min),
            ("max", &full.max, &mut c.max),
        ] {
            let Some(raw) = raw else { continue };
            let Some(p) = number else {
                let help = if has_length {
                    format!("to bound the length, write `{key}_length`")
                } else {
                    format!("`{key}` applies to number types; `{fname}` is `{ty}`")
                };
                self.constraint_mismatch(
                    file,
                    raw.span(),
                    key,
                    inner,
                    format!("`{fname}` is not a number"),
                    help,
                );
                continue;
            };
            *slot = self.number_bound(file, raw, p, key);
        }
        for (key, raw, slot) in [
            ("min_length", &full.min_length, &mut c.min_length),
            ("max_length", &full.max_length, &mut c.max_length),
        ] {
            let Some(raw) = raw else { continue };
            if !has_length {
                let help = if number.is_some() {
                    format!(
                        "to bound the value, write `{}`",
                        key.trim_end_matches("_length")
                    )
                } else {
                    "lengths apply to strings, lists and maps".to_owned()
                };
                self.constraint_mismatch(
                    file,
                    raw.span(),
                    key,
                    inner,
                    format!("`{fname}` has no length"),
                    help,
                );
                continue;
            }
            match u64::try_from(*raw.get_ref()) {
                Ok(n) => *slot = Some(n),
                Err(_) => self.error(
                    Diagnostic::error(
                        crate::diag::Code::InvalidConstraint,
                        file,
                        raw.span(),
                        format!("`{key}` cannot be negative"),
                    )
                    .help("write a length of 0 or more"),
                ),
            }
        }
        if let (Some(min), Some(max), Some(span)) =
            (c.min, c.max, full.min.as_ref().map(Spanned::span))
        {
            if min.cmp_exact(max) == Some(std::cmp::Ordering::Greater) {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::InvalidConstraint,
                        file,
                        span,
                        format!("`min` ({min}) is greater than `max` ({max})"),
                    )
                    .help("no value could satisfy both; swap them or fix one"),
                );
            }
        }
        if let (Some(min), Some(max), Some(span)) = (
            c.min_length,
            c.max_length,
            full.min_length.as_ref().map(Spanned::span),
        ) {
            if min > max {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::InvalidConstraint,
                        file,
                        span,
                        format!("`min_length` ({min}) is greater than `max_length` ({max})"),
                    )
                    .help("no value could satisfy both; swap them or fix one"),
                );
            }
        }
        c
    }

    pub(in crate::lower) fn constraint_mismatch(
        &mut self,
        file: FileId,
        span: Range<usize>,
        key: &str,
        ty: &TypeRef,
        label: String,
        help: String,
    ) {
        self.error(
            Diagnostic::error(
                crate::diag::Code::InvalidConstraint,
                file,
                span,
                format!("`{key}` does not apply to `{ty}`"),
            )
            .label(label)
            .help(help),
        );
    }

    /// A bound that a JavaScript number cannot hold exactly is kept exactly in Rust and JSON
    /// Schema; the TypeScript guard compares against the nearest number inside it. Said, not
    /// done silently.
    pub(in crate::lower) fn warn_inexact_in_js(
        &mut self,
        file: FileId,
        span: Range<usize>,
        key: &str,
        bound: Number,
    ) {
        if bound.is_exact_in_f64() {
            return;
        }
        self.error(
            Diagnostic::warning(
                crate::diag::Code::InexactInJavascript,
                file,
                span,
                format!("`{key}` = {bound} is not exactly a JavaScript number"),
            )
            .label("JavaScript numbers hold integers exactly only up to 2^53 - 1")
            .help(if key == "default" {
                format!(
                    "Rust and the JSON Schema use {bound} exactly; TypeScript fills in the nearest \
                     JavaScript number ({})",
                    crate::numbers::js_literal(bound.to_f64())
                )
            } else {
                format!(
                    "Rust and the JSON Schema check {bound} exactly; the TypeScript guard checks \
                     the nearest JavaScript number inside the bound ({})",
                    crate::numbers::js_inward(bound, key == "min")
                )
            }),
        );
    }

    /// A bound of an `f32` field must be a number an `f32` is on the wire (its shortest
    /// decimal form): the value it checks is the `f32` the field holds, so a bound between two
    /// `f32`s (`0.3333333333333333`) would pass a document whose `f32` then fails. Refused, with
    /// the two `f32`s around it.
    pub(in crate::lower) fn f32_bound(
        &mut self,
        file: FileId,
        span: Range<usize>,
        key: &str,
        p: Primitive,
        bound: Number,
    ) -> Option<Number> {
        if p != Primitive::F32 {
            return Some(bound);
        }
        let on_wire = |x: f32| -> f64 { format!("{x:e}").parse().unwrap_or(f64::NAN) };
        #[allow(clippy::cast_possible_truncation)]
        let near = bound.to_f64() as f32;
        if bound.cmp_exact(Number::Float(on_wire(near))) == Some(std::cmp::Ordering::Equal) {
            return Some(bound);
        }
        // The neighbouring f32 towards the bound (one step of the bit pattern; no NaN here).
        let step = |x: f32, up: bool| {
            let bits = x.to_bits();
            f32::from_bits(if (x >= 0.0) == up { bits + 1 } else { bits - 1 })
        };
        let (below, above) =
            if bound.cmp_exact(Number::Float(f64::from(near))) == Some(std::cmp::Ordering::Less) {
                (step(near, false), near)
            } else {
                (near, step(near, true))
            };
        self.error(
            Diagnostic::error(
                crate::diag::Code::InvalidConstraint,
                file,
                span,
                format!("`{key}` = {bound} is not a value an `f32` holds"),
            )
            .label("the field holds an `f32`, and its bounds are checked on it")
            .help(format!(
                "the nearest `f32`s are {below} and {above}; write one of them"
            )),
        );
        None
    }

    pub(in crate::lower) fn number_bound(
        &mut self,
        file: FileId,
        raw: &Spanned<toml::Value>,
        p: Primitive,
        key: &str,
    ) -> Option<Number> {
        let span = raw.span();
        match (raw.get_ref(), p.integer_range()) {
            (toml::Value::Integer(n), Some((lo, hi))) => {
                if i128::from(*n) < lo || i128::from(*n) > hi {
                    self.error(
                        Diagnostic::error(
                            crate::diag::Code::InvalidConstraint,
                            file,
                            span,
                            format!("`{key}` = {n} is outside the range of `{}`", p.as_str()),
                        )
                        .help(format!("`{}` holds {lo} to {hi}", p.as_str())),
                    );
                    return None;
                }
                let bound = Number::Int(i128::from(*n));
                self.warn_inexact_in_js(file, span, key, bound);
                Some(bound)
            }
            (toml::Value::Float(x), Some(_)) => {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::InvalidConstraint,
                        file,
                        span,
                        format!(
                            "`{key}` = {x} is not an integer, but the field is `{}`",
                            p.as_str()
                        ),
                    )
                    .help("write a whole number, or make the field `f64`"),
                );
                None
            }
            (toml::Value::Integer(n), None) => {
                let bound = Number::Int(i128::from(*n));
                self.warn_inexact_in_js(file, span.clone(), key, bound);
                self.f32_bound(file, span, key, p, bound)
            }
            (toml::Value::Float(x), None) => match finite(*x, p) {
                Ok(x) => self.f32_bound(file, span, key, p, Number::Float(x)),
                Err(why) => {
                    self.error(
                        Diagnostic::error(
                            crate::diag::Code::InvalidConstraint,
                            file,
                            span,
                            format!("`{key}` cannot bound an `{}`", p.as_str()),
                        )
                        .label(why)
                        .help(format!("write a finite number, for example `{key} = 0.0`")),
                    );
                    None
                }
            },
            (other, _) => {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::InvalidValue,
                        file,
                        span,
                        format!("`{key}` must be a number, found {}", other.type_str()),
                    )
                    .help(format!("write for example `{key} = 0`")),
                );
                None
            }
        }
    }
}
