//! The string formats of the schema language, `uuid` and `timestamp`: one rule each, written
//! once, used by generated and derived Rust code (through `tidings::validate`, feature
//! `server`), by the exported JSON Schema (as `pattern`s next to `format`) and mirrored by the
//! TypeScript guard (the same patterns; a test holds them equal).
//!
//! Available without any feature: the compiler uses the patterns to write its exports.

/// A UUID: 32 hex digits in the hyphenated `8-4-4-4-12` form, either case (RFC 9562 §4).
pub const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// A timestamp: an RFC 3339 `date-time` (§5.6), calendar-exact — the day exists in its month,
/// February 29 only in leap years of the Gregorian calendar — with seconds `00`–`59` (no leap
/// second: neither Rust's nor JavaScript's clocks have one), an optional fraction of any
/// number of digits, and `Z` or a `±hh:mm` offset. `T` and `Z` may be lowercase (§5.6 NOTE);
/// a space for `T` is not RFC 3339's `date-time` and is refused.
///
/// Written with `[0-9]` rather than `\d`, which some regex engines read as any Unicode digit.
pub const TIMESTAMP_PATTERN: &str = concat!(
    "^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])",
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))",
    "|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)",
    "[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?",
    "(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$",
);

/// For each byte: what it may be at each place of a UUID (bit 0: a hex digit, bit 1: `-`).
const UUID_BYTES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_hexdigit() {
            t[c] = 1;
        }
        if b == b'-' {
            t[c] = 2;
        }
        c += 1;
    }
    t
};

/// What each of the 36 places of a UUID holds (bit 0: a hex digit, bit 1: `-`).
const UUID_PLACES: [u8; 36] = {
    let mut p = [1u8; 36];
    p[8] = 2;
    p[13] = 2;
    p[18] = 2;
    p[23] = 2;
    p
};

/// Whether `s` is a hyphenated UUID ([`UUID_PATTERN`]).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter()
            .zip(UUID_PLACES)
            .all(|(&c, place)| UUID_BYTES[usize::from(c)] == place)
}

/// Whether `s` is a timestamp as [`TIMESTAMP_PATTERN`] states the rule.
pub fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    // Two ASCII digits at `i` as a number, or `None`.
    let two = |i: usize| match (b.get(i), b.get(i + 1)) {
        (Some(x @ b'0'..=b'9'), Some(y @ b'0'..=b'9')) => {
            Some(u32::from(x - b'0') * 10 + u32::from(y - b'0'))
        }
        _ => None,
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let (Some(century), Some(yy), Some(month), Some(day)) = (two(0), two(2), two(5), two(8)) else {
        return false;
    };
    if !at(4, b'-') || !at(7, b'-') || !matches!(b.get(10), Some(b'T' | b't')) {
        return false;
    }
    let year = century * 100 + yy;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if !(1..=days).contains(&day) {
        return false;
    }
    let (Some(hour), Some(minute), Some(second)) = (two(11), two(14), two(17)) else {
        return false;
    };
    if !at(13, b':') || !at(16, b':') || hour > 23 || minute > 59 || second > 59 {
        return false;
    }
    let mut i = 19;
    if at(i, b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        i += 1 + digits;
    }
    match &b[i.min(b.len())..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', ..] if b.len() == i + 6 => {
            at(i + 3, b':')
                && two(i + 1).is_some_and(|h| h <= 23)
                && two(i + 4).is_some_and(|m| m <= 59)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_calendar_exact() {
        for ok in [
            "2026-11-22T03:04:05Z",
            "2026-11-22t03:04:05.678+01:00",
            "2024-02-29T00:00:00Z",
            "2000-02-29T23:59:59.999999999-23:59",
            "0000-02-29T00:00:00z",
            "2026-12-31T00:00:00-00:00",
        ] {
            assert!(is_timestamp(ok), "{ok}");
        }
        for bad in [
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2025-02-29T10:00:00Z",
            "1900-02-29T10:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-04-00T00:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T23:60:00Z",
            "2016-12-31T23:59:60Z",
            "2026-11-22 03:04:05Z",
            "2026-11-22T03:04:05",
            "2026-11-22T03:04:05.Z",
            "2026-11-22T03:04:05+24:00",
            "2026-11-22T03:04:05+01:60",
            "2026-11-22T03:04:05+0100",
            "2026-11-22",
            "+2026-11-22T03:04:05Z",
            "2026-11-22T03:04:05Z ",
            "２026-11-22T03:04:05Z",
        ] {
            assert!(!is_timestamp(bad), "{bad}");
        }
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(is_uuid("0F8FAD5B-D9CB-469F-A165-70867728950E"));
        assert!(!is_uuid("0f8fad5b-d9cb-469f-a165-70867728950"));
        assert!(!is_uuid("0f8fad5bxd9cb-469f-a165-70867728950e"));
        assert!(!is_uuid("0f8fad5b-d9cb-469f-a165-70867728950é"));
    }
}
