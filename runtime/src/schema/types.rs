//! Named types, fields and type references.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::meta::{Deprecation, Location};

/// A named type declared in a module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeDef {
    /// The type name (`Ticket`, `TicketStatus`): PascalCase.
    pub name: String,
    /// Documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// What kind of type it is, with its members (flattened: `"kind": "struct", "fields": …`).
    #[serde(flatten)]
    pub kind: TypeKind,
    /// Set when the type is deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<Deprecation>,
    /// The name this type had before (`renamed_from`), so `tidings compat` reports a rename
    /// rather than a removal and an addition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    /// Where the type was declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

/// The shape of a named type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TypeKind {
    /// A JSON object with declared fields.
    Struct {
        /// The fields, in declaration order.
        fields: Vec<Field>,
    },
    /// A string enum: the value on the wire is one of the declared strings.
    Enum {
        /// The allowed values, in declaration order.
        values: Vec<EnumValue>,
        /// Whether readers accept values not declared (yet): an open enum can gain values
        /// without breaking deployed readers, which receive them as an unknown value
        /// (protobuf's open enums). Closed (the default) refuses them.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        open: bool,
    },
    /// A tagged union: a JSON object whose `tag` field names the variant; the variant's own
    /// fields sit next to the tag (internally tagged).
    Union {
        /// The name of the discriminating field (`type`, `kind`).
        tag: String,
        /// The variants, in declaration order.
        variants: Vec<Variant>,
        /// Whether readers accept variants not declared (yet), as an unknown variant; see
        /// [`TypeKind::Enum`]'s `open`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        open: bool,
    },
}

/// One value of a string enum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnumValue {
    /// The string on the wire.
    pub name: String,
    /// Documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// Set when the value is deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<Deprecation>,
}

/// One variant of a tagged union.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    /// The tag value on the wire.
    pub name: String,
    /// Documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// The struct type whose fields the variant carries; `None` for a variant with no fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<TypeRef>,
    /// Set when the variant is deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<Deprecation>,
}

/// A field of a struct or of an event payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// The field name on the wire.
    pub name: String,
    /// Documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// The field's type. An optional field has type [`TypeRef::Optional`].
    #[serde(rename = "type")]
    pub ty: TypeRef,
    /// Constraints on the value.
    #[serde(default, skip_serializing_if = "Constraints::is_empty")]
    pub constraints: Constraints,
    /// The value a reader uses when the field is absent. A field with a default may be omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Set when the field is deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<Deprecation>,
    /// Where the field was declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

impl Field {
    /// Whether every message must carry this field: it is neither optional nor defaulted.
    pub fn is_required(&self) -> bool {
        !self.ty.is_optional() && self.default.is_none()
    }
}

/// Constraints on a field's value. Bounds are inclusive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Constraints {
    /// Smallest allowed number, exactly as declared (integers keep every digit at any width).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Number>,
    /// Largest allowed number, exactly as declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Number>,
    /// Fewest characters (strings) or items (lists, maps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// Most characters (strings) or items (lists, maps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
}

impl Constraints {
    /// Whether no constraint is set.
    pub fn is_empty(&self) -> bool {
        self.min.is_none()
            && self.max.is_none()
            && self.min_length.is_none()
            && self.max_length.is_none()
    }
}

/// A reference to a type, as a field or reply declares it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeRef {
    /// A built-in type.
    Primitive(Primitive),
    /// `T?`: the value may be absent (or `null`).
    Optional(Box<TypeRef>),
    /// `[T]`: a JSON array.
    List(Box<TypeRef>),
    /// `map<T>`: a JSON object with string keys.
    Map(Box<TypeRef>),
    /// A named type of some module.
    Named {
        /// The module that declares the type.
        module: String,
        /// The type name.
        name: String,
    },
}

impl TypeRef {
    /// Whether this is `T?`.
    pub fn is_optional(&self) -> bool {
        matches!(self, TypeRef::Optional(_))
    }

    /// The type without an outer `?`.
    pub fn unwrap_optional(&self) -> &TypeRef {
        match self {
            TypeRef::Optional(inner) => inner,
            other => other,
        }
    }
}

impl fmt::Display for TypeRef {
    /// Writes the type in schema syntax (`[uuid]?`, `map<common.User>`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeRef::Primitive(p) => f.write_str(p.as_str()),
            TypeRef::Optional(inner) => write!(f, "{inner}?"),
            TypeRef::List(inner) => write!(f, "[{inner}]"),
            TypeRef::Map(inner) => write!(f, "map<{inner}>"),
            TypeRef::Named { module, name } => write!(f, "{module}.{name}"),
        }
    }
}

/// The built-in types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Primitive {
    /// A UTF-8 string.
    String,
    /// `true` or `false`.
    Bool,
    /// 8-bit signed integer.
    I8,
    /// 16-bit signed integer.
    I16,
    /// 32-bit signed integer.
    I32,
    /// 64-bit signed integer.
    I64,
    /// 8-bit unsigned integer.
    U8,
    /// 16-bit unsigned integer.
    U16,
    /// 32-bit unsigned integer.
    U32,
    /// 64-bit unsigned integer.
    U64,
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
    /// A UUID, as its hyphenated string on the wire.
    Uuid,
    /// An instant, as an RFC 3339 string on the wire.
    Timestamp,
    /// Any JSON value.
    Json,
}

impl Primitive {
    /// Every primitive, in the order of declaration.
    pub const ALL: [Primitive; 15] = [
        Primitive::String,
        Primitive::Bool,
        Primitive::I8,
        Primitive::I16,
        Primitive::I32,
        Primitive::I64,
        Primitive::U8,
        Primitive::U16,
        Primitive::U32,
        Primitive::U64,
        Primitive::F32,
        Primitive::F64,
        Primitive::Uuid,
        Primitive::Timestamp,
        Primitive::Json,
    ];

    /// The name used in schema files.
    pub fn as_str(self) -> &'static str {
        match self {
            Primitive::String => "string",
            Primitive::Bool => "bool",
            Primitive::I8 => "i8",
            Primitive::I16 => "i16",
            Primitive::I32 => "i32",
            Primitive::I64 => "i64",
            Primitive::U8 => "u8",
            Primitive::U16 => "u16",
            Primitive::U32 => "u32",
            Primitive::U64 => "u64",
            Primitive::F32 => "f32",
            Primitive::F64 => "f64",
            Primitive::Uuid => "uuid",
            Primitive::Timestamp => "timestamp",
            Primitive::Json => "json",
        }
    }

    /// The primitive called `name` in schema files.
    pub fn from_name(name: &str) -> Option<Primitive> {
        Primitive::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// Whether the type is an integer type.
    pub fn is_integer(self) -> bool {
        self.integer_range().is_some()
    }

    /// Whether the type is a number (integer or float).
    pub fn is_number(self) -> bool {
        self.is_integer() || matches!(self, Primitive::F32 | Primitive::F64)
    }

    /// The largest magnitude a JSON number of a float type may have, as an `f64`; `None` for
    /// other types. A number outside `-max..=max` is refused: it has no finite value of the
    /// type (JSON has no infinity, and Rust would turn it into one).
    ///
    /// For `f64`, `f64::MAX`. For `f32`, the largest `f64` that still rounds to a finite `f32`
    /// (just below 2^128 − 2^103, the midpoint between `f32::MAX` and 2^128): slightly above
    /// `f32::MAX`, so that `f32::MAX` as serde_json writes it (`3.4028235e38`, its shortest
    /// form, which reads back as a larger `f64`) is accepted.
    pub fn float_max(self) -> Option<f64> {
        match self {
            Primitive::F32 => Some(f64::from_bits(0x47EF_FFFF_EFFF_FFFF)),
            Primitive::F64 => Some(f64::MAX),
            _ => None,
        }
    }

    /// The inclusive range of an integer type, as `i128`; `None` for other types.
    pub fn integer_range(self) -> Option<(i128, i128)> {
        Some(match self {
            Primitive::I8 => (i8::MIN.into(), i8::MAX.into()),
            Primitive::I16 => (i16::MIN.into(), i16::MAX.into()),
            Primitive::I32 => (i32::MIN.into(), i32::MAX.into()),
            Primitive::I64 => (i64::MIN.into(), i64::MAX.into()),
            Primitive::U8 => (0, u8::MAX.into()),
            Primitive::U16 => (0, u16::MAX.into()),
            Primitive::U32 => (0, u32::MAX.into()),
            Primitive::U64 => (0, u64::MAX.into()),
            _ => return None,
        })
    }
}

/// An exact number: a bound of a `min`/`max` constraint. Integers keep every digit over the whole
/// range of `i64` and `u64` (they never pass through `f64`); other numbers are finite `f64`.
///
/// Serialized as a plain JSON number. Comparisons are exact between the two kinds
/// ([`Number::cmp_exact`]): `Int(9007199254740993)` is greater than `Float(9007199254740992.0)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An integer, within `i64::MIN..=u64::MAX`.
    Int(i128),
    /// A finite float.
    Float(f64),
}

impl Number {
    /// The smallest integer a bound may hold (`i64::MIN`).
    pub const INT_MIN: i128 = i64::MIN as i128;
    /// The largest integer a bound may hold (`u64::MAX`).
    pub const INT_MAX: i128 = u64::MAX as i128;

    /// The number as an `f64`, rounded to the nearest when it is an integer beyond 2^53.
    #[allow(clippy::cast_precision_loss)]
    pub fn to_f64(self) -> f64 {
        match self {
            Number::Int(n) => n as f64,
            Number::Float(x) => x,
        }
    }

    /// The number as an integer, when it is one (a float with no fraction counts).
    #[allow(clippy::cast_possible_truncation)]
    pub fn as_int(self) -> Option<i128> {
        match self {
            Number::Int(n) => Some(n),
            Number::Float(x) if x.fract() == 0.0 && x.abs() < 1.0e38 => Some(x as i128),
            Number::Float(_) => None,
        }
    }

    /// Compares two numbers exactly (no rounding through `f64`). `None` only for NaN.
    pub fn cmp_exact(self, other: Number) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => Some(a.cmp(&b)),
            (Number::Float(a), Number::Float(b)) => a.partial_cmp(&b),
            (Number::Int(a), Number::Float(b)) => cmp_int_float(a, b),
            (Number::Float(a), Number::Int(b)) => {
                cmp_int_float(b, a).map(std::cmp::Ordering::reverse)
            }
        }
    }

    /// Whether an `f64` (JavaScript's only number type) holds this number exactly.
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    pub fn is_exact_in_f64(self) -> bool {
        match self {
            Number::Int(n) => (n as f64) as i128 == n,
            Number::Float(_) => true,
        }
    }
}

/// Compares integer `a` with float `b` exactly.
#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
fn cmp_int_float(a: i128, b: f64) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering;
    if b.is_nan() {
        return None;
    }
    // Every i128 lies strictly inside ±2^127; floats beyond are simply larger or smaller.
    if b >= 1.701_411_834_604_692_3e38 {
        return Some(Ordering::Less);
    }
    if b < -1.701_411_834_604_692_3e38 {
        return Some(Ordering::Greater);
    }
    let whole = b.trunc();
    let w = whole as i128; // exact: |whole| < 2^127
    match a.cmp(&w) {
        Ordering::Equal => Some(if b > whole {
            Ordering::Less
        } else if b < whole {
            Ordering::Greater
        } else {
            Ordering::Equal
        }),
        other => Some(other),
    }
}

impl fmt::Display for Number {
    /// Integers with every digit; floats in their shortest exact form (`0.5`, `1e300`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(n) => write!(f, "{n}"),
            // As JavaScript writes numbers: an exponent outside 1e-7..1e21.
            Number::Float(x) if *x != 0.0 && !(1e-7..1e21).contains(&x.abs()) => write!(f, "{x:e}"),
            Number::Float(x) => write!(f, "{x}"),
        }
    }
}

impl Serialize for Number {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Number::Int(n) => match (u64::try_from(n), i64::try_from(n)) {
                (Ok(u), _) => s.serialize_u64(u),
                (_, Ok(i)) => s.serialize_i64(i),
                _ => Err(serde::ser::Error::custom(format!(
                    "{n} is outside the range of a bound"
                ))),
            },
            Number::Float(x) => s.serialize_f64(x),
        }
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Number, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number::Int(v.into()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number::Int(v.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Number, E> {
                if v.is_finite() {
                    Ok(Number::Float(v))
                } else {
                    Err(E::custom("a bound must be a finite number"))
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl From<i64> for Number {
    fn from(n: i64) -> Number {
        Number::Int(n.into())
    }
}

impl From<u64> for Number {
    fn from(n: u64) -> Number {
        Number::Int(n.into())
    }
}

/// A literal value, used for field defaults. Serialized as plain JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    String(String),
    /// An array.
    List(Vec<Value>),
    /// An object.
    Map(BTreeMap<String, Value>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    #[allow(clippy::cast_possible_truncation)]
    fn the_f32_range_ends_where_rounding_to_f32_overflows() {
        let max = Primitive::F32.float_max().expect("a float");
        assert_eq!(max as f32, f32::MAX);
        assert!((f64::from_bits(max.to_bits() + 1) as f32).is_infinite());
        // f32::MAX as serde_json writes it reads back inside the range.
        assert!("3.4028235e38".parse::<f64>().expect("a number") <= max);
    }

    #[test]
    fn numbers_compare_exactly() {
        let odd = Number::Int(9_007_199_254_740_993);
        assert_eq!(
            odd.cmp_exact(Number::Float(9_007_199_254_740_992.0)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            Number::Int(-1).cmp_exact(Number::Float(-1.5)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            Number::Int(3).cmp_exact(Number::Float(3.0)),
            Some(Ordering::Equal)
        );
        assert_eq!(
            Number::Int(i128::from(u64::MAX)).cmp_exact(Number::Float(1e300)),
            Some(Ordering::Less)
        );
        assert!(!odd.is_exact_in_f64());
        let json = serde_json::to_string(&Number::Int(i128::from(u64::MAX))).expect("serializes");
        assert_eq!(json, "18446744073709551615");
        let back: Number = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, Number::Int(i128::from(u64::MAX)));
        assert_eq!(Number::Float(1e39).to_string(), "1e39");
    }
}
