//! Defaults: a TOML value as the field's type reads it, within the field's constraints.

use std::collections::BTreeMap;

use tidings::schema::{Constraints, Field, Number, Primitive, TypeRef, Value};
use toml::Spanned;

use crate::diag::Diagnostic;
use crate::lower::{Lowering, ModuleCx, Shape, Symbols};
use crate::names;

impl Lowering<'_> {
    pub(in crate::lower) fn lower_default(
        &mut self,
        m: &ModuleCx<'_>,
        symbols: &Symbols,
        field: &Field,
        raw: &Spanned<toml::Value>,
    ) -> Option<Value> {
        // Bounds that contradict each other are reported on their own: no value meets them,
        // and saying so of the default too would repeat it.
        let c = &field.constraints;
        let contradictory = matches!((c.min, c.max), (Some(a), Some(b)) if a.cmp_exact(b) == Some(std::cmp::Ordering::Greater))
            || matches!((c.min_length, c.max_length), (Some(a), Some(b)) if a > b);
        let result =
            default_value(raw.get_ref(), field.ty.unwrap_optional(), symbols).and_then(|v| {
                if contradictory {
                    Ok(v)
                } else {
                    check_default_constraints(&v, c).map(|()| v)
                }
            });
        if let (Ok(Value::Int(n)), TypeRef::Primitive(p)) = (&result, field.ty.unwrap_optional()) {
            if p.is_integer() {
                self.warn_inexact_in_js(
                    m.raw.file,
                    raw.span(),
                    "default",
                    Number::Int(i128::from(*n)),
                );
            }
        }
        match result {
            Ok(v) => Some(v),
            Err(why) => {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::InvalidDefault,
                        m.raw.file,
                        raw.span(),
                        format!("invalid default for field `{}`", field.name),
                    )
                    .label(why)
                    .help(format!(
                        "the default must be a valid `{}`",
                        field.ty.unwrap_optional()
                    )),
                );
                None
            }
        }
    }
}

/// Converts a TOML default into an IR value of type `ty`, or says why it does not fit.
pub(in crate::lower) fn default_value(
    v: &toml::Value,
    ty: &TypeRef,
    symbols: &Symbols,
) -> Result<Value, String> {
    let mismatch = |want: &str| format!("expected {want}, found {}", toml_kind(v));
    match ty {
        TypeRef::Optional(inner) => default_value(v, inner, symbols),
        TypeRef::Primitive(p) => match (p, v) {
            (Primitive::Json, v) => json_value(v),
            (Primitive::String, toml::Value::String(s)) => Ok(Value::String(s.clone())),
            // The rule the wire uses (`tidings::format`): a date, a time and an offset. A TOML
            // date or local time (`2024-01-01`, `10:30:00`) is not a timestamp.
            (Primitive::Timestamp, toml::Value::Datetime(d))
                if tidings::format::is_timestamp(&d.to_string()) =>
            {
                Ok(Value::String(d.to_string()))
            }
            (Primitive::Timestamp, toml::Value::String(s)) if tidings::format::is_timestamp(s) => {
                Ok(Value::String(s.clone()))
            }
            (Primitive::Timestamp, _) => Err(mismatch(
                "an RFC 3339 timestamp with a date, a time and an offset (`2024-01-01T10:30:00Z`)",
            )),
            (Primitive::Uuid, toml::Value::String(s)) if tidings::format::is_uuid(s) => {
                Ok(Value::String(s.clone()))
            }
            (Primitive::Uuid, _) => Err(mismatch("a hyphenated UUID string")),
            (Primitive::Bool, toml::Value::Boolean(b)) => Ok(Value::Bool(*b)),
            (p, toml::Value::Integer(n)) if p.is_integer() => {
                let (lo, hi) = p.integer_range().unwrap_or((0, 0));
                if i128::from(*n) < lo || i128::from(*n) > hi {
                    Err(format!(
                        "{n} is outside the range of `{}` ({lo} to {hi})",
                        p.as_str()
                    ))
                } else {
                    Ok(Value::Int(*n))
                }
            }
            (p @ (Primitive::F32 | Primitive::F64), toml::Value::Float(x)) => {
                finite(*x, *p).map(Value::Float)
            }
            (Primitive::F32 | Primitive::F64, toml::Value::Integer(n)) => {
                Ok(Value::Float(*n as f64))
            }
            (p, _) => Err(mismatch(&format!("a `{}`", p.as_str()))),
        },
        TypeRef::List(inner) => match v {
            toml::Value::Array(items) => items
                .iter()
                .map(|i| default_value(i, inner, symbols))
                .collect::<Result<_, _>>()
                .map(Value::List),
            _ => Err(mismatch("an array")),
        },
        TypeRef::Map(inner) => match v {
            toml::Value::Table(t) => t
                .iter()
                .map(|(k, i)| default_value(i, inner, symbols).map(|v| (k.clone(), v)))
                .collect::<Result<BTreeMap<_, _>, _>>()
                .map(Value::Map),
            _ => Err(mismatch("a table")),
        },
        TypeRef::Named { module, name } => match (symbols.shape(module, name), v) {
            (Some(Shape::Enum { values }), toml::Value::String(s)) => {
                if values.contains(s) {
                    Ok(Value::String(s.clone()))
                } else {
                    Err(format!(
                        "`{s}` is not a value of enum `{name}`{}",
                        names::suggestion(s, values.iter().map(String::as_str))
                            .map(|h| format!("; {h}"))
                            .unwrap_or_default()
                    ))
                }
            }
            (Some(Shape::Enum { .. }), _) => Err(mismatch(&format!("a value of enum `{name}`"))),
            // The type has an error of its own, reported already.
            (Some(Shape::Unknown), v) => json_value(v),
            _ => Err(format!(
                "defaults are not supported for `{name}`; only for scalars, enums, lists and maps"
            )),
        },
    }
}

pub(in crate::lower) fn check_default_constraints(
    v: &Value,
    c: &Constraints,
) -> Result<(), String> {
    let number = match v {
        Value::Int(n) => Some(Number::Int(i128::from(*n))),
        Value::Float(x) => Some(Number::Float(*x)),
        _ => None,
    };
    if let Some(x) = number {
        let below = |min: &Number| x.cmp_exact(*min) == Some(std::cmp::Ordering::Less);
        let above = |max: &Number| x.cmp_exact(*max) == Some(std::cmp::Ordering::Greater);
        if c.min.as_ref().is_some_and(below) || c.max.as_ref().is_some_and(above) {
            return Err(format!("{x} is outside the field's bounds"));
        }
    }
    let length = match v {
        Value::String(s) => Some(s.chars().count() as u64),
        Value::List(l) => Some(l.len() as u64),
        Value::Map(m) => Some(m.len() as u64),
        _ => None,
    };
    if let Some(len) = length {
        if c.min_length.is_some_and(|min| len < min) || c.max_length.is_some_and(|max| len > max) {
            return Err(format!(
                "its length {len} is outside the field's length bounds"
            ));
        }
    }
    Ok(())
}

pub(in crate::lower) fn json_value(v: &toml::Value) -> Result<Value, String> {
    Ok(match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(n) => Value::Int(*n),
        toml::Value::Float(x) => Value::Float(finite(*x, Primitive::F64)?),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::List(a.iter().map(json_value).collect::<Result<_, _>>()?),
        toml::Value::Table(t) => Value::Map(
            t.iter()
                .map(|(k, v)| json_value(v).map(|v| (k.clone(), v)))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// A float default or bound of a field of type `p`, or why it cannot be one: JSON has no
/// `NaN` or infinities, and an `f32` holds magnitudes up to about 3.4e38.
pub(in crate::lower) fn finite(x: f64, p: Primitive) -> Result<f64, String> {
    if !x.is_finite() {
        let toml = if x.is_nan() {
            "nan"
        } else if x > 0.0 {
            "inf"
        } else {
            "-inf"
        };
        Err(format!(
            "`{toml}` is not a finite number, and JSON has no form for it"
        ))
    } else if p.float_max().is_some_and(|max| x.abs() > max) {
        Err(format!(
            "{x:e} is outside the range of `f32` (at most about 3.4e38)"
        ))
    } else {
        Ok(x)
    }
}

pub(in crate::lower) fn toml_kind(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("the string \"{s}\""),
        toml::Value::Integer(n) => format!("the integer {n}"),
        toml::Value::Float(x) => format!("the float {x}"),
        toml::Value::Boolean(b) => format!("`{b}`"),
        other => other.type_str().to_owned(),
    }
}
