//! TypeScript type expressions, runtime checks and JSDoc for IR items.

use tidings::schema::{Constraints, Deprecation, Field, Number, Primitive, TypeRef, Value};

use crate::numbers::js_inward;
use crate::shapes::{input_name, Inputs};

/// Which view of a value a TypeScript type describes (see `crate::shapes`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape<'a> {
    /// What a reader holds: every field with a default is present.
    Read,
    /// What a sender may write: fields with a default may be left out; the set says which
    /// named types have a written shape of their own.
    Write(&'a Inputs),
}

/// The TypeScript type of a value of `ty`, seen from module `current`, in `shape`.
pub(crate) fn ts_type(ty: &TypeRef, current: &str, shape: Shape<'_>) -> String {
    match ty {
        TypeRef::Primitive(p) => primitive(*p).to_owned(),
        TypeRef::Optional(inner) => format!("{} | null", ts_type(inner, current, shape)),
        TypeRef::List(inner) => {
            let item = ts_type(inner, current, shape);
            if item.contains(' ') {
                format!("Array<{item}>")
            } else {
                format!("{item}[]")
            }
        }
        TypeRef::Map(inner) => format!("Record<string, {}>", ts_type(inner, current, shape)),
        TypeRef::Named { module, name } => match shape {
            Shape::Write(inputs) if inputs.differs(ty) => {
                qualified(module, &input_name(name), current)
            }
            _ => qualified(module, name, current),
        },
    }
}

fn primitive(p: Primitive) -> &'static str {
    match p {
        Primitive::String | Primitive::Uuid | Primitive::Timestamp => "string",
        Primitive::Bool => "boolean",
        Primitive::Json => "$rt.JsonValue",
        _ => "number",
    }
}

/// `Name` in its own module, `module.Name` elsewhere (each module is imported as a namespace).
pub(crate) fn qualified(module: &str, name: &str, current: &str) -> String {
    if module == current {
        name.to_owned()
    } else {
        format!("{module}.{name}")
    }
}

/// A TypeScript property declaration: `name?: T | null;` as `shape` has it. Optional fields may
/// be absent or `null`; fields with a default may be absent when written, and are present when
/// read (the guard fills them in).
pub(crate) fn property(f: &Field, current: &str, shape: Shape<'_>) -> String {
    let ty = ts_type(&f.ty, current, shape);
    // A reader holds every field with a default; a sender may leave it out.
    let optional = match shape {
        Shape::Read => f.ty.is_optional() && f.default.is_none(),
        Shape::Write(_) => f.ty.is_optional() || f.default.is_some(),
    };
    format!(
        "{}{}: {ty};",
        property_name(&f.name),
        if optional { "?" } else { "" }
    )
}

/// A bound for the guard: the nearest JavaScript number inside it (see `crate::numbers`).
fn bound(x: Option<Number>, lower: bool) -> String {
    x.map_or_else(|| "undefined".to_owned(), |b| js_inward(b, lower))
}

fn len(x: Option<u64>) -> String {
    x.map_or_else(|| "undefined".to_owned(), |n| n.to_string())
}

/// The bounds of a number type, narrowed by the field's constraints, as the guard compares them:
/// integer types always carry their range (64-bit ones included, as the nearest JavaScript
/// numbers inside it), `f32` its finite range, `f64` none (`Number.isFinite` is its range).
fn number_bounds(p: Primitive, c: Option<&Constraints>) -> (String, String) {
    let (lo, hi) = match (p.integer_range(), p.float_max()) {
        (Some((lo, hi)), _) => (Some(Number::Int(lo)), Some(Number::Int(hi))),
        (None, Some(max)) if p == Primitive::F32 => {
            (Some(Number::Float(-max)), Some(Number::Float(max)))
        }
        _ => (None, None),
    };
    let lo = c.and_then(|c| c.min).or(lo);
    let hi = c.and_then(|c| c.max).or(hi);
    (bound(lo, true), bound(hi, false))
}

/// An expression checking value `v` (at path `p`) against `ty` and constraints `c`; it evaluates
/// to `null` when the value fits, else to a message naming the path. `depth` keeps the names of
/// nested closures apart.
pub(crate) fn check(
    ty: &TypeRef,
    v: &str,
    p: &str,
    c: Option<&Constraints>,
    current: &str,
    depth: usize,
) -> String {
    let c_len = |f: fn(&Constraints) -> Option<u64>| len(c.and_then(f));
    match ty {
        TypeRef::Optional(inner) => format!(
            "({v} === undefined || {v} === null ? null : {})",
            check(inner, v, p, c, current, depth)
        ),
        TypeRef::Primitive(prim) => match prim {
            Primitive::String => format!(
                "$rt.str({v}, {p}, {}, {})",
                c_len(|c| c.min_length),
                c_len(|c| c.max_length)
            ),
            Primitive::Uuid => format!("$rt.uuid({v}, {p})"),
            Primitive::Timestamp => format!("$rt.timestamp({v}, {p})"),
            Primitive::Bool => format!("$rt.bool({v}, {p})"),
            Primitive::Json => "null".to_owned(),
            Primitive::F32 | Primitive::F64 => {
                let (lo, hi) = number_bounds(*prim, c);
                format!("$rt.num({v}, {p}, {lo}, {hi})")
            }
            int => {
                let (lo, hi) = number_bounds(*int, c);
                format!("$rt.int({v}, {p}, {lo}, {hi})")
            }
        },
        TypeRef::List(inner) => {
            let (x, q) = (format!("$x{depth}"), format!("$q{depth}"));
            format!(
                "$rt.list({v}, {p}, ({x}: unknown, {q}: string) => {}, {}, {})",
                check(inner, &x, &q, None, current, depth + 1),
                c_len(|c| c.min_length),
                c_len(|c| c.max_length)
            )
        }
        TypeRef::Map(inner) => {
            let (x, q) = (format!("$x{depth}"), format!("$q{depth}"));
            format!(
                "$rt.map({v}, {p}, ({x}: unknown, {q}: string) => {}, {}, {})",
                check(inner, &x, &q, None, current, depth + 1),
                c_len(|c| c.min_length),
                c_len(|c| c.max_length)
            )
        }
        TypeRef::Named { module, name } => {
            let f = format!("check{name}");
            format!("{}({v}, {p})", qualified(module, &f, current))
        }
    }
}

/// The statement checking one field of object `o` (path `p`): required fields must be present;
/// a field is read only when it is the object's own property (`constructor` is not inherited
/// from `Object.prototype`); `null` stands for absent only in optional fields.
///
/// The statement reads the field into `$x` (declared by the caller) and returns the first
/// problem.
pub(crate) fn field_check(f: &Field, current: &str) -> String {
    let read = format!("$x = $rt.own($o, {});", js_string(&f.name));
    let v = "$x";
    let p = format!("$p + {}", js_string(&format!(".{}", f.name)));
    let inner = check(
        f.ty.unwrap_optional(),
        v,
        &p,
        Some(&f.constraints),
        current,
        0,
    );
    // An absent field with a default is filled in: readers hold the value with every field.
    let absent = match &f.default {
        // Objects through `JSON.parse`, which makes every key an own property (in a literal,
        // `__proto__` would set the prototype).
        Some(d @ (Value::Map(_) | Value::List(_))) => format!(
            "($o[{}] = JSON.parse({}), null)",
            js_string(&f.name),
            js_string(&literal(d))
        ),
        Some(d) => format!("($o[{}] = {}, null)", js_string(&f.name), literal(d)),
        None if f.ty.is_optional() => "null".to_owned(),
        None => format!("$rt.missing({p})"),
    };
    let expr = if f.ty.is_optional() && f.default.is_none() {
        format!("{v} === undefined || {v} === null ? null : {inner}")
    } else if f.ty.is_optional() {
        format!("{v} === undefined ? {absent} : {v} === null ? null : {inner}")
    } else {
        format!("{v} === undefined ? {absent} : {inner}")
    };
    format!("{read} if (($e = {expr}) !== null) return $e;")
}

/// A property name as TypeScript writes it: bare when it is an identifier, quoted otherwise
/// (`"owner-id"`).
pub(crate) fn property_name(name: &str) -> String {
    let mut chars = name.chars();
    let ident = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ident {
        name.to_owned()
    } else {
        js_string(name)
    }
}

/// A JavaScript string literal.
pub(crate) fn js_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// A literal for a default value, for JSDoc.
pub(crate) fn literal(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A JSDoc block (or nothing), indented by `indent`.
pub(crate) fn jsdoc(
    doc: Option<&str>,
    deprecated: Option<&Deprecation>,
    tags: &[String],
    indent: &str,
) -> String {
    let mut lines: Vec<String> = Vec::new();
    if let Some(doc) = doc {
        lines.extend(doc.lines().map(|l| l.replace("*/", "*\\/")));
    }
    for tag in tags {
        lines.push(tag.replace("*/", "*\\/"));
    }
    if let Some(d) = deprecated {
        lines.push(match &d.note {
            Some(note) => format!("@deprecated {}", note.replace("*/", "*\\/")),
            None => "@deprecated".to_owned(),
        });
    }
    match lines.len() {
        0 => String::new(),
        1 => format!("{indent}/** {} */\n", lines[0]),
        _ => {
            let mut out = format!("{indent}/**\n");
            for l in lines {
                if l.is_empty() {
                    out.push_str(&format!("{indent} *\n"));
                } else {
                    out.push_str(&format!("{indent} * {l}\n"));
                }
            }
            out.push_str(&format!("{indent} */\n"));
            out
        }
    }
}

/// JSDoc tags describing a field's wire form and constraints.
pub(crate) fn field_tags(f: &Field) -> Vec<String> {
    let mut tags = Vec::new();
    let c = &f.constraints;
    match f.ty.unwrap_optional() {
        TypeRef::Primitive(Primitive::Uuid) => tags.push("A UUID (hyphenated string).".to_owned()),
        TypeRef::Primitive(Primitive::Timestamp) => tags.push("An RFC 3339 timestamp.".to_owned()),
        TypeRef::Primitive(p @ (Primitive::I64 | Primitive::U64)) => tags.push(format!(
            "A {} integer: exact in JavaScript only up to ±2^53 − 1.",
            p.as_str()
        )),
        _ => {}
    }
    let unit = match f.ty.unwrap_optional() {
        TypeRef::Primitive(Primitive::String) => "characters",
        TypeRef::Map(_) => "entries",
        _ => "items",
    };
    match (c.min, c.max) {
        (Some(lo), Some(hi)) => tags.push(format!("From {lo} to {hi} (inclusive).")),
        (Some(lo), None) => tags.push(format!("At least {lo}.")),
        (None, Some(hi)) => tags.push(format!("At most {hi}.")),
        (None, None) => {}
    }
    match (c.min_length, c.max_length) {
        (Some(lo), Some(hi)) => tags.push(format!("{lo} to {hi} {unit}.")),
        (Some(lo), None) => tags.push(format!("At least {lo} {unit}.")),
        (None, Some(hi)) => tags.push(format!("At most {hi} {unit}.")),
        (None, None) => {}
    }
    if let Some(d) = &f.default {
        tags.push(format!("@defaultValue {}", literal(d)));
    }
    tags
}
