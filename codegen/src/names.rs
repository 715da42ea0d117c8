//! Naming rules shared by validation and every backend: what a valid name is, how names are
//! cased in Rust and TypeScript, which names are reserved, and "did you mean" suggestions.

/// Rust keywords (strict and reserved, all editions).
const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Rust keywords that cannot be written as raw identifiers (`r#self` is not allowed).
const RUST_NON_RAW: &[&str] = &["crate", "self", "Self", "super", "_"];

/// JavaScript/TypeScript reserved words (cannot name a binding or namespace).
const TS_RESERVED: &[&str] = &[
    "arguments",
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "eval",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "implements",
    "import",
    "in",
    "instanceof",
    "interface",
    "let",
    "new",
    "null",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "static",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
];

/// Type names that generated Rust or TypeScript uses itself; a schema type of that name would
/// shadow it.
/// The variant of an open enum or union that holds what this version does not declare, in
/// generated Rust (`Level::Unknown("urgent")`); no declared value or variant may take it.
pub const UNKNOWN_VARIANT: &str = "Unknown";

const RESERVED_TYPE_NAMES: &[&str] = &[
    "Array",
    "Boolean",
    "Box",
    "ClientEvent",
    "ClientEvents",
    "Date",
    "DateTime",
    "Err",
    "Error",
    "Event",
    "Function",
    "Handlers",
    "HashMap",
    "JSON",
    "Map",
    "None",
    "Number",
    "Object",
    "Ok",
    "Option",
    "Partial",
    "Promise",
    "Readonly",
    "Record",
    "Replies",
    "Result",
    "Self",
    "ServerEvent",
    "ServerEvents",
    "Set",
    "Some",
    "String",
    "Symbol",
    "Utc",
    "Uuid",
    "Value",
    "Vec",
];

/// The files the TypeScript output writes for itself (`index.ts`, `runtime.ts`, `react.ts`,
/// `vue.ts`, `publisher.ts`; the Python output's `publisher.py` too); a module of one of these
/// names would overwrite one. Refused
/// whether or not the adapters are generated, so that a schema never depends on a CLI flag.
pub const TS_OUTPUT_FILES: [&str; 5] = ["index", "runtime", "react", "vue", "publisher"];

/// Names the generated TypeScript module files declare themselves (the `events` and `guards`
/// constants; the locals of the `check…` functions start with `$`, which no module name has),
/// and TypeScript's predefined type names, which cannot name an import (TS2438). A module of such
/// a name, imported as a namespace, would clash with them or be shadowed by them.
const TS_MODULE_BINDINGS: &[&str] = &[
    "events",
    "guards",
    "any",
    "bigint",
    "boolean",
    "never",
    "number",
    "object",
    "string",
    "symbol",
    "undefined",
    "unknown",
];

/// Why a module cannot be named `s` although it is a well-formed module name, if so: it names a
/// file of the TypeScript output, or a name generated TypeScript binds itself.
pub fn reserved_module_name(s: &str) -> Option<&'static str> {
    if TS_OUTPUT_FILES.contains(&s) {
        Some("the TypeScript output writes a file of this name for itself")
    } else if TS_MODULE_BINDINGS.contains(&s) {
        Some("generated TypeScript uses this name itself")
    } else {
        None
    }
}

/// The properties every JavaScript object inherits from `Object.prototype` (ECMA-262 §20.1.3,
/// and Annex B's `__proto__` and accessor methods). A payload field may carry one of these names
/// (guards read own properties only), but TypeScript cannot type such a field as absent: an
/// object without it still has the inherited one, of another type. So fields of these names
/// must be required; `__proto__` is refused everywhere, since an object literal with it sets
/// the prototype instead of a property.
pub const JS_OBJECT_MEMBERS: [&str; 12] = [
    "constructor",
    "hasOwnProperty",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "toLocaleString",
    "toString",
    "valueOf",
    "__proto__",
    "__defineGetter__",
    "__defineSetter__",
    "__lookupGetter__",
    "__lookupSetter__",
];

/// Whether `s` is an ASCII identifier: a letter or `_`, then letters, digits or `_`.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `s` is PascalCase: an ASCII identifier starting with an uppercase letter, no `_`.
pub fn is_pascal_case(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_uppercase()) && s.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Whether `s` is a valid module name: lowercase letters, digits and `_`, starting with a letter.
pub fn is_module_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Whether `s` is a Rust keyword.
pub fn is_rust_keyword(s: &str) -> bool {
    RUST_KEYWORDS.contains(&s)
}

/// Whether `s` cannot be used as a Rust identifier even as a raw identifier.
pub fn is_rust_unusable(s: &str) -> bool {
    RUST_NON_RAW.contains(&s)
}

/// Whether `s` is a reserved word in JavaScript/TypeScript.
pub fn is_ts_reserved(s: &str) -> bool {
    TS_RESERVED.contains(&s)
}

/// Whether generated code needs the type name `s` for itself.
pub fn is_reserved_type_name(s: &str) -> bool {
    RESERVED_TYPE_NAMES.contains(&s)
}

/// Splits a name into lowercase words at `_`, `-`, `:`, `.`, spaces and case changes
/// (`statusChanged` → `status`, `changed`; `HTTPServer` → `http`, `server`).
pub fn words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        if c.is_uppercase() && !current.is_empty() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                words.push(std::mem::take(&mut current));
            }
        }
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// `snake_case` of a name (`statusChanged` → `status_changed`).
pub fn to_snake_case(s: &str) -> String {
    words(s).join("_")
}

/// `PascalCase` of a name (`status_changed` → `StatusChanged`).
pub fn to_pascal_case(s: &str) -> String {
    words(s)
        .iter()
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// The Rust identifier of a field or method named `wire` (without the `r#` of a keyword, which
/// [`crate::rust`] adds): its snake case, with a trailing `_` when that is a keyword no raw
/// identifier can write (`Super` → `super_`) and a leading `_` when it starts with a digit
/// (`_1` → `_1`). `None` when the name has no letter or digit at all (`__`).
///
/// Two names of one struct with the same Rust identifier clash; lowering refuses them.
pub fn rust_field_name(wire: &str) -> Option<String> {
    let snake = to_snake_case(wire);
    if snake.is_empty() {
        None
    } else if snake.starts_with(|c: char| c.is_ascii_digit()) {
        Some(format!("_{snake}"))
    } else if is_rust_unusable(&snake) {
        Some(format!("{snake}_"))
    } else {
        Some(snake)
    }
}

/// Python's keywords (The Python Language Reference, §2.3.1), which no field, module or class
/// of the generated Python may be named.
const PY_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Whether `s` is a Python keyword.
pub fn is_python_keyword(s: &str) -> bool {
    PY_KEYWORDS.contains(&s)
}

/// The Python name of a field named `wire`: its Rust name ([`rust_field_name`], so that the
/// names lowering keeps apart stay apart), with a trailing `_` when that is a Python keyword
/// (`from` → `from_`, PEP 8's convention).
pub fn python_field_name(wire: &str) -> Option<String> {
    let name = rust_field_name(wire)?;
    Some(if is_python_keyword(&name) {
        format!("{name}_")
    } else {
        name
    })
}

/// The name of the Rust/TypeScript type generated for the event declared under `key`.
pub fn event_type_name(key: &str) -> String {
    to_pascal_case(key)
}

/// The TypeScript constant holding an event's wire name (`TICKET_STATUS_CHANGED`).
pub fn event_constant(module: &str, key: &str) -> String {
    format!("{}_{}", to_snake_case(module), to_snake_case(key)).to_uppercase()
}

/// The optimal string alignment distance between `a` and `b`: insertions, deletions,
/// substitutions and transpositions of neighbours (`tga` → `tag`) each cost 1 (strsim).
pub fn edit_distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

/// The candidate closest to `wanted`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a, I>(wanted: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = wanted.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != wanted)
        .map(|c| {
            // A case-only difference is the closest possible miss.
            let distance = if c.to_lowercase() == lower {
                0
            } else {
                edit_distance(&lower, &c.to_lowercase())
            };
            (distance, c)
        })
        .filter(|(d, c)| *d <= (wanted.chars().count().max(c.chars().count()) / 3).max(1))
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// A "did you mean `x`?" hint, when some candidate is close.
pub fn suggestion<'a, I>(wanted: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    did_you_mean(wanted, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casing_splits_words_the_way_people_write_them() {
        assert_eq!(to_snake_case("statusChanged"), "status_changed");
        assert_eq!(to_snake_case("HTTPServer"), "http_server");
        assert_eq!(to_snake_case("user_id"), "user_id");
        assert_eq!(to_snake_case("userID"), "user_id");
        assert_eq!(to_pascal_case("message_regenerate"), "MessageRegenerate");
        assert_eq!(to_pascal_case("in-progress"), "InProgress");
        assert_eq!(to_pascal_case("statusChanged"), "StatusChanged");
        assert_eq!(to_pascal_case("v2"), "V2");
    }

    #[test]
    fn suggestions_catch_typos_and_case_but_not_strangers() {
        let fields = ["created_by", "assignee_id", "tenant_id"];
        assert_eq!(did_you_mean("creatd_by", fields), Some("created_by"));
        assert_eq!(did_you_mean("Tenant_Id", fields), Some("tenant_id"));
        assert_eq!(did_you_mean("colour", fields), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            edit_distance("tga", "tag"),
            1,
            "a transposition is one edit"
        );
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("_a1"));
        assert!(!is_identifier("1a"));
        assert!(!is_identifier("a-b"));
        assert!(is_pascal_case("TicketStatus"));
        assert!(!is_pascal_case("Ticket_Status"));
        assert!(is_module_name("ai_chat"));
        assert_eq!(rust_field_name("Super").as_deref(), Some("super_"));
        assert_eq!(rust_field_name("SELF").as_deref(), Some("self_"));
        assert_eq!(rust_field_name("crate").as_deref(), Some("crate_"));
        assert_eq!(rust_field_name("type").as_deref(), Some("type"));
        assert_eq!(rust_field_name("_1").as_deref(), Some("_1"));
        assert_eq!(rust_field_name("__"), None);
        assert!(reserved_module_name("runtime").is_some());
        assert!(reserved_module_name("react").is_some());
        assert!(reserved_module_name("vue").is_some());
        assert!(reserved_module_name("x12").is_none());
        assert!(reserved_module_name("x").is_none());
        assert!(reserved_module_name("chat").is_none());
        assert!(!is_module_name("Chat"));
    }
}
