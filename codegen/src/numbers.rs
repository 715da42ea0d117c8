//! How exact numbers (constraint bounds, the ranges of number types) are written by each
//! backend. Rust and JSON Schema carry them exactly; JavaScript has only `f64`, so the TypeScript
//! guard compares against the nearest `f64` *inside* each bound, which makes its comparison of an
//! `f64` value exact: a JavaScript number passes the guard exactly when the number it is passes
//! the bound.

use serde_json::Value;
use tidings::schema::Number;

/// The nearest `f64` inside a bound, as a JavaScript literal: rounded up for a lower bound
/// (`lower = true`), down for an upper one. `9007199254740993` as a maximum gives
/// `9007199254740992`.
pub(crate) fn js_inward(bound: Number, lower: bool) -> String {
    js_literal(inward(bound, lower))
}

/// The nearest `f64` inside a bound (see [`js_inward`]).
#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
pub(crate) fn inward(bound: Number, lower: bool) -> f64 {
    let x = bound.to_f64();
    match bound.cmp_exact(Number::Float(x)) {
        // The f64 lies outside the bound: step one ulp inwards.
        Some(std::cmp::Ordering::Greater) if lower => next_up(x),
        Some(std::cmp::Ordering::Less) if !lower => next_down(x),
        _ => x,
    }
}

/// A JavaScript numeric literal for `x` that reads back as exactly `x`.
pub(crate) fn js_literal(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e21 {
        // Integral: JavaScript prints no fraction; `{x:.0}` writes every digit of the f64.
        format!("{x:.0}")
    } else {
        // Rust's shortest round-trip form, with JavaScript's exponent spelling.
        let s = format!("{x:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        if (-7..21).contains(&exp) {
            format!("{x}")
        } else {
            format!("{mantissa}e{exp}")
        }
    }
}

/// A bound as a JSON number, exactly (integers as `i64`/`u64`).
pub(crate) fn json(bound: Number) -> Value {
    match bound {
        Number::Int(n) => u64::try_from(n)
            .map(Value::from)
            .or_else(|_| i64::try_from(n).map(Value::from))
            .unwrap_or_else(|_| Value::from(bound.to_f64())),
        Number::Float(x) => serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number),
    }
}

fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let bits = x.to_bits();
    f64::from_bits(if x > 0.0 { bits + 1 } else { bits - 1 })
}

fn next_down(x: f64) -> f64 {
    -next_up(-x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings::schema::Primitive;

    #[test]
    fn bounds_round_inwards_for_javascript() {
        let odd = Number::Int(9_007_199_254_740_993);
        assert_eq!(js_inward(odd, false), "9007199254740992");
        assert_eq!(js_inward(odd, true), "9007199254740994");
        assert_eq!(js_inward(Number::Int(100), false), "100");
        assert_eq!(
            js_inward(Number::Int(u64::MAX.into()), false),
            "18446744073709549568"
        );
        assert_eq!(js_inward(Number::Float(0.1), true), "0.1");
        assert_eq!(js_literal(1e300), "1e300");
        assert_eq!(js_literal(-2.5e-9), "-2.5e-9");
        assert_eq!(js_literal(f64::from(f32::MAX)), "3.4028234663852886e38");
        // The ends of the 64-bit types: the nearest f64 inside, so the comparison is exact.
        let (lo, hi) = Primitive::I64.integer_range().expect("an integer type");
        assert_eq!(js_inward(Number::Int(lo), true), "-9223372036854775808");
        assert_eq!(js_inward(Number::Int(hi), false), "9223372036854774784");
    }

    #[test]
    fn bounds_are_exact_json() {
        assert_eq!(
            json(Number::Int(u64::MAX.into())).to_string(),
            "18446744073709551615"
        );
        assert_eq!(
            json(Number::Int(i64::MIN.into())).to_string(),
            "-9223372036854775808"
        );
        assert_eq!(json(Number::Float(0.5)).to_string(), "0.5");
    }
}
