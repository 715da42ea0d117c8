//! Checks used by generated `validate` implementations (and available to hand-written ones).

/// Whether `s` is a hyphenated UUID (`8-4-4-4-12` hex digits).
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Whether `s` looks like an RFC 3339 timestamp (`2026-11-22T03:04:05Z`, fractions and offsets
/// allowed). Checks the shape and the ranges of each part.
pub fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let num =
        |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok()).unwrap_or(99);
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
    {
        return false;
    }
    if !matches!(b[10], b'T' | b't' | b' ')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    if !(1..=12).contains(&num(5..7))
        || !(1..=31).contains(&num(8..10))
        || num(11..13) > 23
        || num(14..16) > 59
        || num(17..19) > 60
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest {
        "Z" | "z" => true,
        offset => {
            let o = offset.as_bytes();
            o.len() == 6
                && matches!(o[0], b'+' | b'-')
                && o[1..3].iter().all(u8::is_ascii_digit)
                && o[3] == b':'
                && o[4..6].iter().all(u8::is_ascii_digit)
        }
    }
}

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
    fn check(&self, at: &str) -> Result<(), crate::Violation>;
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
    /// Field `.1` under the path `.0` (empty at the root), as [`join`] renders it.
    Field(&'a str, &'a str),
    /// Item `.1` of the list at `.0`.
    Index(&'a Place<'a>, usize),
    /// Entry `.1` of the map at `.0`.
    Key(&'a Place<'a>, &'a str),
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Field("", field) => f.write_str(field),
            Place::Field(at, field) => write!(f, "{at}.{field}"),
            Place::Index(list, i) => write!(f, "{list}[{i}]"),
            Place::Key(map, key) => write!(f, "{map}[{key:?}]"),
        }
    }
}

/// `Ok` when `ok`; otherwise the violation at `place`, its message built only then.
fn ensure(
    ok: bool,
    place: &Place<'_>,
    message: impl FnOnce() -> String,
) -> Result<(), crate::Violation> {
    if ok {
        Ok(())
    } else {
        Err(crate::Violation::new(place.to_string(), message()))
    }
}

/// Fails unless `value` is a UUID ([`is_uuid`]).
///
/// # Errors
/// `must be a UUID` at `place`.
pub fn uuid(value: &str, place: &Place<'_>) -> Result<(), crate::Violation> {
    ensure(is_uuid(value), place, || "must be a UUID".to_owned())
}

/// Fails unless `value` is an RFC 3339 timestamp ([`is_timestamp`]).
///
/// # Errors
/// `must be an RFC 3339 timestamp` at `place`.
pub fn timestamp(value: &str, place: &Place<'_>) -> Result<(), crate::Violation> {
    ensure(is_timestamp(value), place, || {
        "must be an RFC 3339 timestamp".to_owned()
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
) -> Result<(), crate::Violation> {
    let n = value.chars().count();
    ensure((min..=max).contains(&n), place, || {
        format!("must be {min} to {max} characters long, got {n}")
    })
}

/// Fails unless `value` has at least `min` characters.
///
/// # Errors
/// `must be at least 3 characters long, got 2` at `place`.
pub fn chars_at_least(value: &str, min: usize, place: &Place<'_>) -> Result<(), crate::Violation> {
    let n = value.chars().count();
    ensure(n >= min, place, || {
        format!("must be at least {min} characters long, got {n}")
    })
}

/// Fails unless `value` has at most `max` characters.
///
/// # Errors
/// `must be at most 500 characters long, got 501` at `place`.
pub fn chars_at_most(value: &str, max: usize, place: &Place<'_>) -> Result<(), crate::Violation> {
    let n = value.chars().count();
    ensure(n <= max, place, || {
        format!("must be at most {max} characters long, got {n}")
    })
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
) -> Result<(), crate::Violation> {
    ensure(len >= min, place, || {
        format!("must have at least {min} {unit}, got {len}")
    })
}

/// Fails unless a list or map of `len` items (the `unit`: `items`, `entries`) has at most `max`.
///
/// # Errors
/// `must have at most 10 items, got 11` at `place`.
pub fn len_at_most(
    len: usize,
    max: usize,
    unit: &str,
    place: &Place<'_>,
) -> Result<(), crate::Violation> {
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
) -> Result<(), crate::Violation> {
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
) -> Result<(), crate::Violation> {
    ensure(*value <= max, place, || {
        format!("must be at most {max}, got {value}")
    })
}

macro_rules! unchecked {
    ($($ty:ty),* $(,)?) => {
        $(impl Check for $ty {
            const TRIVIAL: bool = true;
            fn check(&self, _: &str) -> Result<(), crate::Violation> {
                Ok(())
            }
        })*
    };
}

// Scalars carry no nested constraints; their own are checked where the field is declared.
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
    f32,
    f64,
    serde_json::Value
);

impl<T: Check> Check for Option<T> {
    const TRIVIAL: bool = T::TRIVIAL;
    fn check(&self, at: &str) -> Result<(), crate::Violation> {
        match self {
            Some(v) => v.check(at),
            None => Ok(()),
        }
    }
}

impl<T: Check> Check for Vec<T> {
    const TRIVIAL: bool = T::TRIVIAL;
    fn check(&self, at: &str) -> Result<(), crate::Violation> {
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
    fn check(&self, at: &str) -> Result<(), crate::Violation> {
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
    fn check(&self, at: &str) -> Result<(), crate::Violation> {
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
pub trait Number {
    /// The value as a number (`None` when absent).
    fn number(&self) -> Option<f64>;
}

macro_rules! number {
    ($($ty:ty),*) => {
        $(impl Number for $ty {
            #[allow(clippy::cast_lossless, clippy::cast_precision_loss)]
            fn number(&self) -> Option<f64> {
                Some(*self as f64)
            }
        })*
    };
}

number!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);

impl<T: Number> Number for Option<T> {
    fn number(&self) -> Option<f64> {
        self.as_ref().and_then(Number::number)
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
}

impl Length for String {
    fn length(&self) -> Option<usize> {
        Some(self.chars().count())
    }
}

impl<T> Length for Vec<T> {
    fn length(&self) -> Option<usize> {
        Some(self.len())
    }
}

impl<K, T> Length for std::collections::BTreeMap<K, T> {
    fn length(&self) -> Option<usize> {
        Some(self.len())
    }
}

impl<K, T, S> Length for std::collections::HashMap<K, T, S> {
    fn length(&self) -> Option<usize> {
        Some(self.len())
    }
}

impl<T: Length> Length for Option<T> {
    fn length(&self) -> Option<usize> {
        self.as_ref().and_then(Length::length)
    }
}

/// The strings of a field marked `#[tidings(uuid)]` or `#[tidings(timestamp)]`: a `String`, or
/// `Option`s and `Vec`s of them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be marked `uuid` or `timestamp`",
    note = "`uuid` and `timestamp` mark `String` fields (or `Option`s and `Vec`s of them)"
)]
pub trait Texts {
    /// Calls `f` with each string; stops at the first `false`. Returns whether all passed.
    fn all_texts(&self, f: &mut dyn FnMut(&str) -> bool) -> bool;
}

impl Texts for String {
    fn all_texts(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        f(self)
    }
}

impl<T: Texts> Texts for Option<T> {
    fn all_texts(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        self.as_ref().is_none_or(|v| v.all_texts(f))
    }
}

impl<T: Texts> Texts for Vec<T> {
    fn all_texts(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        self.iter().all(|v| v.all_texts(f))
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

    #[test]
    fn uuids_and_timestamps() {
        assert!(is_uuid("0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(!is_uuid("0f8fad5b-d9cb-469f-a165-70867728950"));
        assert!(!is_uuid("0f8fad5bxd9cb-469f-a165-70867728950e"));
        assert!(is_timestamp("2026-11-22T03:04:05Z"));
        assert!(is_timestamp("2026-11-22T03:04:05.678+01:00"));
        assert!(!is_timestamp("2026-13-22T03:04:05Z"));
        assert!(!is_timestamp("2026-11-22"));
        assert!(!is_timestamp("2026-11-22T03:04:05"));
        assert!(!is_timestamp("2026-11-22T03:04:05.Z"));
    }
}
