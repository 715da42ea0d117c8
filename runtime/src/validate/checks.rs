//! The checks themselves: one function per constraint, each reporting a [`Violation`] at its
//! [`Place`], and the traits generated code calls them through.

use crate::format::{is_timestamp, is_uuid};
use crate::violation::Violation;

/// Checks the declared constraints of a generated type, reporting the first violation with its
/// path (`ticket.title`). Implemented by generated structs and unions.
pub trait Check {
    /// Whether values of this type can never violate anything (scalars: their own constraints
    /// are checked where the field is declared). Containers of such types skip their items.
    const TRIVIAL: bool = false;

    /// Checks `self`, found at path `at` (empty at the root).
    ///
    /// # Errors
    /// The first violated constraint.
    fn check(&self, at: &str) -> Result<(), Violation>;
}

/// The path of field `field` under `at`.
pub fn join(at: &str, field: &str) -> String {
    if at.is_empty() {
        field.to_owned()
    } else {
        format!("{at}.{field}")
    }
}

/// Where a checked value sits (`ticket.watchers[2]`), built without allocating; rendered only
/// when a check fails. Generated `validate` code passes one to the checks below.
#[derive(Debug, Clone, Copy)]
pub enum Place<'a> {
    /// The payload itself (renders as nothing).
    Root,
    /// Field `.1` under the path `.0` (empty at the root), as [`join`] renders it.
    Field(&'a str, &'a str),
    /// Field `.1` of the object at `.0`.
    Member(&'a Place<'a>, &'a str),
    /// Item `.1` of the list at `.0`.
    Index(&'a Place<'a>, usize),
    /// Entry `.1` of the map at `.0`.
    Key(&'a Place<'a>, &'a str),
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Root => Ok(()),
            Place::Field("", field) | Place::Member(Place::Root, field) => f.write_str(field),
            Place::Field(at, field) => write!(f, "{at}.{field}"),
            Place::Member(object, field) => write!(f, "{object}.{field}"),
            Place::Index(list, i) => write!(f, "{list}[{i}]"),
            Place::Key(map, key) => write!(f, "{map}[{key:?}]"),
        }
    }
}

/// `Ok` when `ok`; otherwise the violation at `place`, its message built only then.
pub(crate) fn ensure(
    ok: bool,
    place: &Place<'_>,
    message: impl FnOnce() -> String,
) -> Result<(), Violation> {
    if ok {
        Ok(())
    } else {
        Err(Violation::new(place.to_string(), message()))
    }
}

/// Fails unless `value` is a UUID ([`is_uuid`]).
///
/// # Errors
/// `must be a UUID` at `place`.
pub fn uuid(value: &str, place: &Place<'_>) -> Result<(), Violation> {
    ensure(is_uuid(value), place, || "must be a UUID".to_owned())
}

/// Fails unless `value` is an RFC 3339 timestamp ([`is_timestamp`]).
///
/// # Errors
/// `must be an RFC 3339 timestamp` at `place`.
pub fn timestamp(value: &str, place: &Place<'_>) -> Result<(), Violation> {
    ensure(is_timestamp(value), place, || {
        "must be an RFC 3339 timestamp".to_owned()
    })
}

/// The one check of a string's length: `n` characters against inclusive bounds, with the
/// messages every path uses (generated and derived checks, the JSON contract).
pub(crate) fn chars_within(
    n: usize,
    min: Option<usize>,
    max: Option<usize>,
    place: &Place<'_>,
) -> Result<(), Violation> {
    let ok = min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m);
    ensure(ok, place, || match (min, max) {
        (Some(lo), Some(hi)) => format!("must be {lo} to {hi} characters long, got {n}"),
        (Some(lo), None) => format!("must be at least {lo} characters long, got {n}"),
        (_, hi) => format!(
            "must be at most {} characters long, got {n}",
            hi.unwrap_or(usize::MAX)
        ),
    })
}

/// Fails unless `value` has `min..=max` characters.
///
/// # Errors
/// `must be 1 to 200 characters long, got 201` at `place`.
pub fn chars_between(
    value: &str,
    min: usize,
    max: usize,
    place: &Place<'_>,
) -> Result<(), Violation> {
    chars_within(value.chars().count(), Some(min), Some(max), place)
}

/// Fails unless `value` has at least `min` characters.
///
/// # Errors
/// `must be at least 3 characters long, got 2` at `place`.
pub fn chars_at_least(value: &str, min: usize, place: &Place<'_>) -> Result<(), Violation> {
    chars_within(value.chars().count(), Some(min), None, place)
}

/// Fails unless `value` has at most `max` characters.
///
/// # Errors
/// `must be at most 500 characters long, got 501` at `place`.
pub fn chars_at_most(value: &str, max: usize, place: &Place<'_>) -> Result<(), Violation> {
    chars_within(value.chars().count(), None, Some(max), place)
}

/// Fails unless a list or map of `len` items (the `unit`: `items`, `entries`) has at least `min`.
///
/// # Errors
/// `must have at least 1 items, got 0` at `place`.
pub fn len_at_least(
    len: usize,
    min: usize,
    unit: &str,
    place: &Place<'_>,
) -> Result<(), Violation> {
    ensure(len >= min, place, || {
        format!("must have at least {min} {unit}, got {len}")
    })
}

/// Fails unless a list or map of `len` items (the `unit`: `items`, `entries`) has at most `max`.
///
/// # Errors
/// `must have at most 10 items, got 11` at `place`.
pub fn len_at_most(len: usize, max: usize, unit: &str, place: &Place<'_>) -> Result<(), Violation> {
    ensure(len <= max, place, || {
        format!("must have at most {max} {unit}, got {len}")
    })
}

/// Fails unless `value` ≥ `min`.
///
/// # Errors
/// `must be at least 1, got 0` at `place`.
pub fn at_least<T: PartialOrd + std::fmt::Display>(
    value: &T,
    min: T,
    place: &Place<'_>,
) -> Result<(), Violation> {
    ensure(*value >= min, place, || {
        format!("must be at least {min}, got {value}")
    })
}

/// Fails unless `value` ≤ `max`.
///
/// # Errors
/// `must be at most 100, got 101` at `place`.
pub fn at_most<T: PartialOrd + std::fmt::Display>(
    value: &T,
    max: T,
    place: &Place<'_>,
) -> Result<(), Violation> {
    ensure(*value <= max, place, || {
        format!("must be at most {max}, got {value}")
    })
}

/// Fails unless `value` is a finite number: JSON has no NaN or infinity (serde_json would send
/// `null`, which no reader of the field accepts).
///
/// # Errors
/// `must be a finite number, got NaN` at `place`.
pub fn finite<T: Copy + Into<f64> + std::fmt::Display>(
    value: &T,
    place: &Place<'_>,
) -> Result<(), Violation> {
    ensure((*value).into().is_finite(), place, || {
        format!("must be a finite number, got {value}")
    })
}

/// The number an `f32` is on the wire: serde_json writes an `f32` in its shortest round-trip
/// form (`0.1f32` as `0.1`), which every reader — JavaScript, a JSON Schema validator — reads
/// as that decimal, not as the `f32`'s exact binary value. Bounds of `f32` fields are checked
/// on this number, so that Rust judges the value its readers see.
pub fn f32_on_wire(value: f32) -> f64 {
    use std::fmt::Write as _;
    // The shortest form of an f32 has at most 9 significant digits; 48 bytes hold any of them.
    let mut buf = Digits::default();
    if write!(buf, "{value:e}").is_err() {
        return f64::from(value);
    }
    std::str::from_utf8(&buf.bytes[..buf.len])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| f64::from(value))
}

/// A small stack buffer for [`f32_on_wire`].
struct Digits {
    bytes: [u8; 48],
    len: usize,
}

impl Default for Digits {
    fn default() -> Self {
        Digits {
            bytes: [0; 48],
            len: 0,
        }
    }
}

impl std::fmt::Write for Digits {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

macro_rules! unchecked {
    ($($ty:ty),* $(,)?) => {
        $(impl Check for $ty {
            const TRIVIAL: bool = true;
            fn check(&self, _: &str) -> Result<(), Violation> {
                Ok(())
            }
        })*
    };
}

// Other scalars carry no nested constraints; their own are checked where the field is declared.
unchecked!(
    String,
    bool,
    i8,
    i16,
    i32,
    i64,
    u8,
    u16,
    u32,
    u64,
    serde_json::Value
);

macro_rules! finite_floats {
    ($($ty:ty),*) => {
        $(impl Check for $ty {
            fn check(&self, at: &str) -> Result<(), Violation> {
                if self.is_finite() {
                    Ok(())
                } else {
                    Err(Violation::new(at, format!("must be a finite number, got {self}")))
                }
            }
        })*
    };
}

// Floats carry one check of their own: JSON has no NaN or infinity.
finite_floats!(f32, f64);

impl<T: Check> Check for Option<T> {
    const TRIVIAL: bool = T::TRIVIAL;
    fn check(&self, at: &str) -> Result<(), Violation> {
        match self {
            Some(v) => v.check(at),
            None => Ok(()),
        }
    }
}

impl<T: Check> Check for Vec<T> {
    const TRIVIAL: bool = T::TRIVIAL;
    fn check(&self, at: &str) -> Result<(), Violation> {
        if T::TRIVIAL {
            return Ok(());
        }
        for (i, v) in self.iter().enumerate() {
            v.check(&format!("{at}[{i}]"))?;
        }
        Ok(())
    }
}

impl<T: Check> Check for std::collections::BTreeMap<String, T> {
    const TRIVIAL: bool = T::TRIVIAL;
    fn check(&self, at: &str) -> Result<(), Violation> {
        if T::TRIVIAL {
            return Ok(());
        }
        for (k, v) in self {
            v.check(&format!("{at}[{k:?}]"))?;
        }
        Ok(())
    }
}

impl<T: Check> Check for Box<T> {
    const TRIVIAL: bool = T::TRIVIAL;
    fn check(&self, at: &str) -> Result<(), Violation> {
        (**self).check(at)
    }
}

/// A number a `min`/`max` constraint of a derived field bounds: integers, floats, and
/// `Option`s of them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry `min` or `max`",
    label = "`min`/`max` bound numbers",
    note = "for the length of a string, list or map, use `min_length`/`max_length`"
)]
pub trait Bounded {
    /// The value as the number it is on the wire, exactly (`None` when absent): integers with
    /// every digit, an `f32` as [`f32_on_wire`].
    fn number(&self) -> Option<crate::schema::Number>;
}

macro_rules! bounded_int {
    ($($ty:ty),*) => {
        $(impl Bounded for $ty {
            fn number(&self) -> Option<crate::schema::Number> {
                Some(crate::schema::Number::Int(i128::from(*self)))
            }
        })*
    };
}

bounded_int!(i8, i16, i32, i64, u8, u16, u32, u64);

impl Bounded for f32 {
    fn number(&self) -> Option<crate::schema::Number> {
        Some(crate::schema::Number::Float(f32_on_wire(*self)))
    }
}

impl Bounded for f64 {
    fn number(&self) -> Option<crate::schema::Number> {
        Some(crate::schema::Number::Float(*self))
    }
}

impl Bounded for crate::schema::Number {
    fn number(&self) -> Option<crate::schema::Number> {
        Some(*self)
    }
}

/// Fails unless `value` lies within the inclusive bounds, compared exactly
/// ([`Number::cmp_exact`](crate::schema::Number::cmp_exact)); absent values pass. The check
/// of `min`/`max` for derived fields and for JSON documents ([`Contract`](super::Contract)), with the messages of
/// [`at_least`] and [`at_most`].
///
/// # Errors
/// `must be at least 1, got 0` or `must be at most 100, got 101` at `place`.
pub fn within<T: Bounded + ?Sized>(
    value: &T,
    min: Option<crate::schema::Number>,
    max: Option<crate::schema::Number>,
    place: &Place<'_>,
) -> Result<(), Violation> {
    use std::cmp::Ordering;
    let Some(n) = value.number() else {
        return Ok(());
    };
    if let Some(min) = min {
        ensure(n.cmp_exact(min) != Some(Ordering::Less), place, || {
            format!("must be at least {min}, got {n}")
        })?;
    }
    if let Some(max) = max {
        ensure(n.cmp_exact(max) != Some(Ordering::Greater), place, || {
            format!("must be at most {max}, got {n}")
        })?;
    }
    Ok(())
}

impl<T: Bounded> Bounded for Option<T> {
    fn number(&self) -> Option<crate::schema::Number> {
        self.as_ref().and_then(Bounded::number)
    }
}

/// A length a `min_length`/`max_length` constraint of a derived field bounds: characters of a
/// string, items of a list or map, and `Option`s of them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry `min_length` or `max_length`",
    label = "lengths bound strings, lists and maps",
    note = "for a number, use `min`/`max`"
)]
pub trait Length {
    /// The length (`None` when absent).
    fn length(&self) -> Option<usize>;

    /// What the length counts, for messages: `characters`, `items`, `entries`.
    const UNIT: &'static str;

    /// Checks the length against inclusive bounds, with the same messages as generated code
    /// ([`chars_between`], [`len_at_least`] …). Absent values pass.
    ///
    /// # Errors
    /// The bound the length misses, at `place`.
    fn check_length(
        &self,
        min: Option<usize>,
        max: Option<usize>,
        place: &Place<'_>,
    ) -> Result<(), Violation> {
        let Some(n) = self.length() else {
            return Ok(());
        };
        if Self::UNIT == "characters" {
            return chars_within(n, min, max, place);
        }
        if let Some(min) = min {
            len_at_least(n, min, Self::UNIT, place)?;
        }
        if let Some(max) = max {
            len_at_most(n, max, Self::UNIT, place)?;
        }
        Ok(())
    }
}

impl Length for String {
    const UNIT: &'static str = "characters";
    fn length(&self) -> Option<usize> {
        Some(self.chars().count())
    }
}

impl<T> Length for Vec<T> {
    const UNIT: &'static str = "items";
    fn length(&self) -> Option<usize> {
        Some(self.len())
    }
}

impl<K, T> Length for std::collections::BTreeMap<K, T> {
    const UNIT: &'static str = "entries";
    fn length(&self) -> Option<usize> {
        Some(self.len())
    }
}

impl<K, T, S> Length for std::collections::HashMap<K, T, S> {
    const UNIT: &'static str = "entries";
    fn length(&self) -> Option<usize> {
        Some(self.len())
    }
}

impl<T: Length> Length for Option<T> {
    const UNIT: &'static str = T::UNIT;
    fn length(&self) -> Option<usize> {
        self.as_ref().and_then(Length::length)
    }
}

/// The strings of a field marked `#[tidings(uuid)]` or `#[tidings(timestamp)]`: a `String`, or
/// `Option`s, `Vec`s and string-keyed maps of them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be marked `uuid` or `timestamp`",
    note = "`uuid` and `timestamp` mark `String` fields (or `Option`s, `Vec`s and maps of them)"
)]
pub trait Texts {
    /// Runs `check` ([`uuid`], [`timestamp`]) on each string, at its own place (`ids[2]`).
    ///
    /// # Errors
    /// The first string that fails.
    fn check_each(
        &self,
        check: fn(&str, &Place<'_>) -> Result<(), Violation>,
        place: &Place<'_>,
    ) -> Result<(), Violation>;
}

impl Texts for String {
    fn check_each(
        &self,
        check: fn(&str, &Place<'_>) -> Result<(), Violation>,
        place: &Place<'_>,
    ) -> Result<(), Violation> {
        check(self, place)
    }
}

impl<T: Texts> Texts for Option<T> {
    fn check_each(
        &self,
        check: fn(&str, &Place<'_>) -> Result<(), Violation>,
        place: &Place<'_>,
    ) -> Result<(), Violation> {
        self.as_ref().map_or(Ok(()), |v| v.check_each(check, place))
    }
}

impl<T: Texts> Texts for Vec<T> {
    fn check_each(
        &self,
        check: fn(&str, &Place<'_>) -> Result<(), Violation>,
        place: &Place<'_>,
    ) -> Result<(), Violation> {
        for (i, v) in self.iter().enumerate() {
            v.check_each(check, &Place::Index(place, i))?;
        }
        Ok(())
    }
}

impl<T: Texts> Texts for std::collections::BTreeMap<String, T> {
    fn check_each(
        &self,
        check: fn(&str, &Place<'_>) -> Result<(), Violation>,
        place: &Place<'_>,
    ) -> Result<(), Violation> {
        for (k, v) in self {
            v.check_each(check, &Place::Key(place, k))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_report_their_place_and_message_only_on_failure() {
        let field = Place::Field("ticket", "tags");
        let item = Place::Index(&field, 2);
        assert!(uuid("0f8fad5b-d9cb-469f-a165-70867728950e", &item).is_ok());
        let v = uuid("nope", &item).expect_err("a violation");
        assert_eq!(
            (v.field.as_str(), v.message.as_str()),
            ("ticket.tags[2]", "must be a UUID")
        );
        let root = Place::Field("", "title");
        assert!(chars_between("é", 1, 1, &root).is_ok());
        let v = chars_between("", 1, 200, &root).expect_err("a violation");
        assert_eq!(v.field, "title");
        assert_eq!(v.message, "must be 1 to 200 characters long, got 0");
        let v = at_most(&101u8, 100, &Place::Key(&root, "k")).expect_err("a violation");
        assert_eq!(
            (v.field.as_str(), v.message.as_str()),
            ("title[\"k\"]", "must be at most 100, got 101")
        );
        let v = len_at_least(0, 1, "items", &root).expect_err("a violation");
        assert_eq!(v.message, "must have at least 1 items, got 0");
    }
}
