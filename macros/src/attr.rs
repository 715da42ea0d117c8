//! Reading the attributes the derives understand: `#[event(...)]`, `#[tidings(...)]`, the
//! parts of `#[serde(...)]` that shape the JSON, `#[doc]` and `#[deprecated]`.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, ExprUnary, Lit, LitStr, Type, UnOp};

use crate::case;

/// Collects errors so that one compilation reports every mistake.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    pub(crate) fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// A hint listing the keys allowed, or the closest one.
pub(crate) fn unknown(meta: &ParseNestedMeta<'_>, attr: &str, allowed: &[&str]) -> syn::Error {
    let key = meta
        .path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default();
    let hint = match case::closest(&key, allowed.iter().copied()) {
        Some(close) => format!("did you mean `{close}`?"),
        None => format!(
            "the keys are {}",
            allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    meta.error(format!("unknown `{attr}` attribute `{key}`; {hint}"))
}

/// Skips the value of a serde key we do not interpret (`= ...` or `(...)`).
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let _: Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|inner| skip_value(&inner))?;
    }
    Ok(())
}

/// Doc lines of an item.
pub(crate) fn docs(attrs: &[Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// `#[deprecated]` (`Some(None)`) or `#[deprecated(note = "...")]` / `= "..."` (`Some(Some)`).
pub(crate) fn deprecated(attrs: &[Attribute]) -> Option<Option<String>> {
    let attr = attrs.iter().find(|a| a.path().is_ident("deprecated"))?;
    match &attr.meta {
        syn::Meta::Path(_) => Some(None),
        syn::Meta::NameValue(nv) => match &nv.value {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Some(Some(s.value())),
            _ => Some(None),
        },
        syn::Meta::List(_) => {
            let mut note = None;
            let _ = attr.parse_nested_meta(|m| {
                if m.path.is_ident("note") {
                    note = Some(m.value()?.parse::<LitStr>()?.value());
                } else {
                    skip_value(&m)?;
                }
                Ok(())
            });
            Some(note)
        }
    }
}

/// Container-level serde settings.
#[derive(Default)]
pub(crate) struct SerdeContainer {
    pub(crate) rename_all: Option<String>,
    pub(crate) tag: Option<String>,
    pub(crate) content: bool,
    pub(crate) untagged: bool,
}

pub(crate) fn serde_container(attrs: &[Attribute], errors: &mut Errors) -> SerdeContainer {
    let mut out = SerdeContainer::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") {
                if meta.input.peek(syn::token::Paren) {
                    return Err(meta.error("Tidings needs one naming rule for both directions: write `rename_all = \"...\"`"));
                }
                let rule: LitStr = meta.value()?.parse()?;
                if !case::RULES.contains(&rule.value().as_str()) {
                    return Err(syn::Error::new(rule.span(), format!("unknown rename rule `{}`", rule.value())));
                }
                out.rename_all = Some(rule.value());
            } else if meta.path.is_ident("tag") {
                out.tag = Some(meta.value()?.parse::<LitStr>()?.value());
            } else if meta.path.is_ident("content") {
                out.content = true;
                skip_value(&meta)?;
            } else if meta.path.is_ident("untagged") {
                out.untagged = true;
            } else if meta.path.is_ident("deny_unknown_fields") {
                return Err(meta.error("Tidings payloads ignore fields they do not know (that is what keeps adding a field compatible): remove `deny_unknown_fields`"));
            } else if meta.path.is_ident("default") {
                return Err(meta.error("a default for the whole struct is not described to the other sides: put `#[serde(default)]` on the fields that have one"));
            } else {
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
    out
}

/// How a field gets its default.
pub(crate) enum DefaultFrom {
    None,
    Trait,
    Path(syn::ExprPath),
}

/// A constraint bound: the literal's value, exactly, kept with its span.
pub(crate) struct Bound {
    pub(crate) value: Exact,
    pub(crate) span: Span,
}

/// A number literal exactly as written: integers keep every digit.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
pub(crate) enum Exact {
    Int(i128),
    Float(f64),
}

impl Exact {
    #[allow(clippy::cast_precision_loss)]
    fn to_f64(self) -> f64 {
        match self {
            Exact::Int(n) => n as f64,
            Exact::Float(x) => x,
        }
    }
}

impl std::fmt::Display for Exact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exact::Int(n) => write!(f, "{n}"),
            Exact::Float(x) => write!(f, "{x}"),
        }
    }
}

/// Everything the derives know about one field.
pub(crate) struct FieldInfo {
    pub(crate) ident: syn::Ident,
    pub(crate) ty: Type,
    pub(crate) wire: String,
    pub(crate) skip: bool,
    pub(crate) flatten: bool,
    pub(crate) default: DefaultFrom,
    pub(crate) format: Option<&'static str>,
    pub(crate) min: Option<Bound>,
    pub(crate) max: Option<Bound>,
    pub(crate) min_length: Option<Bound>,
    pub(crate) max_length: Option<Bound>,
    pub(crate) docs: Vec<String>,
    pub(crate) deprecated: Option<Option<String>>,
    /// `#[tidings(type = "...")]`: the field's wire type, stated because serde's own attributes
    /// (`with`, `serialize_with`, `deserialize_with`) change it in ways the derive cannot see.
    pub(crate) wire_type: Option<LitStr>,
    /// Where a serde attribute that changes the wire form (`with = …`) was found.
    pub(crate) custom_serde: Option<Span>,
    /// Where `skip_serializing_if` was found: the field may be absent, so it needs a default.
    pub(crate) skip_if: Option<Span>,
}

const TIDINGS_FIELD_KEYS: [&str; 7] = [
    "uuid",
    "timestamp",
    "min",
    "max",
    "min_length",
    "max_length",
    "type",
];

/// Whether a field's type is `f32` or `Option<f32>`, as written.
fn holds_f32(ty: &Type) -> bool {
    let Type::Path(p) = ty else { return false };
    let Some(last) = p.path.segments.last() else {
        return false;
    };
    if last.ident == "f32" {
        return true;
    }
    if last.ident != "Option" {
        return false;
    }
    match &last.arguments {
        syn::PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .any(|arg| matches!(arg, syn::GenericArgument::Type(t) if holds_f32(t))),
        _ => false,
    }
}

/// The IR type of a type expression of the schema language (`string`, `u64?`, `[uuid]`,
/// `map<i32>`), as tokens building a `tidings::schema::TypeRef`; primitives and their
/// compositions only (a named type is derived with `Describe` and needs no override).
///
/// # Errors
/// What is wrong with the expression.
pub(crate) fn type_expr(text: &str) -> Result<proc_macro2::TokenStream, String> {
    use quote::quote;
    let text = text.trim();
    if let Some(inner) = text.strip_suffix('?') {
        let inner = type_expr(inner)?;
        return Ok(quote!(::tidings::schema::TypeRef::Optional(::std::boxed::Box::new(#inner))));
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let inner = type_expr(inner)?;
        return Ok(quote!(::tidings::schema::TypeRef::List(::std::boxed::Box::new(#inner))));
    }
    if let Some(inner) = text.strip_prefix("map<").and_then(|t| t.strip_suffix('>')) {
        let inner = type_expr(inner)?;
        return Ok(quote!(::tidings::schema::TypeRef::Map(::std::boxed::Box::new(#inner))));
    }
    const PRIMITIVES: [(&str, &str); 15] = [
        ("string", "String"),
        ("bool", "Bool"),
        ("i8", "I8"),
        ("i16", "I16"),
        ("i32", "I32"),
        ("i64", "I64"),
        ("u8", "U8"),
        ("u16", "U16"),
        ("u32", "U32"),
        ("u64", "U64"),
        ("f32", "F32"),
        ("f64", "F64"),
        ("uuid", "Uuid"),
        ("timestamp", "Timestamp"),
        ("json", "Json"),
    ];
    match PRIMITIVES.iter().find(|(name, _)| *name == text) {
        Some((_, variant)) => {
            let v = syn::Ident::new(variant, Span::call_site());
            Ok(quote!(::tidings::schema::TypeRef::Primitive(::tidings::schema::Primitive::#v)))
        }
        None => Err(format!(
            "`{text}` is not a type of the schema language: write a primitive (`string`, `u64`, \
             `uuid`, `json`, …), `T?`, `[T]` or `map<T>`"
        )),
    }
}

fn number(expr: &Expr) -> Option<Exact> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse::<i128>().ok().map(Exact::Int),
        Expr::Lit(ExprLit {
            lit: Lit::Float(f), ..
        }) => f
            .base10_parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Exact::Float),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => number(expr).map(|v| match v {
            Exact::Int(n) => Exact::Int(-n),
            Exact::Float(x) => Exact::Float(-x),
        }),
        _ => None,
    }
}

pub(crate) fn field(
    f: &syn::Field,
    rename_all: Option<&str>,
    errors: &mut Errors,
) -> Option<FieldInfo> {
    let ident = f.ident.clone()?;
    let raw = ident.to_string();
    let raw = raw.strip_prefix("r#").unwrap_or(&raw).to_owned();
    let mut info = FieldInfo {
        wire: rename_all.map_or_else(|| raw.clone(), |rule| case::field(&raw, rule)),
        ident,
        ty: f.ty.clone(),
        skip: false,
        flatten: false,
        default: DefaultFrom::None,
        format: None,
        min: None,
        max: None,
        min_length: None,
        max_length: None,
        docs: docs(&f.attrs),
        deprecated: deprecated(&f.attrs),
        wire_type: None,
        custom_serde: None,
        skip_if: None,
    };
    for attr in &f.attrs {
        let result = if attr.path().is_ident("serde") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    if meta.input.peek(syn::token::Paren) {
                        return Err(meta.error("Tidings needs one wire name for both directions: write `rename = \"...\"`"));
                    }
                    info.wire = meta.value()?.parse::<LitStr>()?.value();
                } else if meta.path.is_ident("skip") {
                    info.skip = true;
                } else if meta.path.is_ident("skip_serializing") || meta.path.is_ident("skip_deserializing") {
                    return Err(meta.error("a field skipped one way only is on the wire one way only: use `skip` (neither way), or nothing"));
                } else if meta.path.is_ident("skip_serializing_if") {
                    info.skip_if = Some(meta.path.span());
                    skip_value(&meta)?;
                } else if ["with", "serialize_with", "deserialize_with"]
                    .iter()
                    .any(|k| meta.path.is_ident(k))
                {
                    info.custom_serde = Some(meta.path.span());
                    skip_value(&meta)?;
                } else if meta.path.is_ident("flatten") {
                    info.flatten = true;
                } else if meta.path.is_ident("default") {
                    info.default = if meta.input.peek(syn::Token![=]) {
                        let path: LitStr = meta.value()?.parse()?;
                        DefaultFrom::Path(path.parse()?)
                    } else {
                        DefaultFrom::Trait
                    };
                } else {
                    skip_value(&meta)?;
                }
                Ok(())
            })
        } else if attr.path().is_ident("tidings") {
            attr.parse_nested_meta(|meta| {
                let key = meta
                    .path
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                match key.as_str() {
                    "uuid" | "timestamp" => {
                        if info.format.is_some() {
                            return Err(
                                meta.error("a field is either `uuid` or `timestamp`, not both")
                            );
                        }
                        info.format = Some(if key == "uuid" { "Uuid" } else { "Timestamp" });
                    }
                    "min" | "max" | "min_length" | "max_length" => {
                        let expr: Expr = meta.value()?.parse()?;
                        let Some(value) = number(&expr) else {
                            return Err(syn::Error::new(
                                expr.span(),
                                format!("`{key}` needs a number literal"),
                            ));
                        };
                        if key.ends_with("length") && !matches!(value, Exact::Int(n) if n >= 0) {
                            return Err(syn::Error::new(
                                expr.span(),
                                format!("`{key}` needs a whole number of 0 or more"),
                            ));
                        }
                        let in_range = match value {
                            Exact::Int(n) => {
                                (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&n)
                            }
                            Exact::Float(_) => true,
                        };
                        if !in_range {
                            return Err(syn::Error::new(
                                expr.span(),
                                format!(
                                    "`{key}` = {value} is outside the range of every number type"
                                ),
                            ));
                        }
                        let bound = Some(Bound {
                            value,
                            span: expr.span(),
                        });
                        match key.as_str() {
                            "min" => info.min = bound,
                            "max" => info.max = bound,
                            "min_length" => info.min_length = bound,
                            _ => info.max_length = bound,
                        }
                    }
                    "type" => {
                        let lit: LitStr = meta.value()?.parse()?;
                        let checked = type_expr(&lit.value()).map(|_| ());
                        // Kept even when wrong, so that the mistake is reported once.
                        info.wire_type = Some(lit.clone());
                        checked.map_err(|e| syn::Error::new(lit.span(), e))?;
                    }
                    _ => return Err(unknown(&meta, "tidings", &TIDINGS_FIELD_KEYS)),
                }
                Ok(())
            })
        } else {
            Ok(())
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    // An f32 field is checked on the f32 it holds: its bounds must be f32s (as `check` requires
    // of schemas).
    if holds_f32(&info.ty) {
        for b in [&info.min, &info.max].into_iter().flatten() {
            let x = b.value.to_f64();
            #[allow(clippy::cast_possible_truncation)]
            let near = x as f32;
            let exact = match b.value {
                Exact::Int(n) => format!("{near:e}").parse::<f64>().ok().is_some_and(|w| {
                    w.fract() == 0.0 && w.abs() < 1e38 && {
                        #[allow(clippy::cast_possible_truncation)]
                        let w = w as i128;
                        w == n
                    }
                }),
                Exact::Float(_) => format!("{near:e}").parse::<f64>().ok() == Some(x),
            };
            if !exact {
                errors.at(
                    b.span,
                    format!("{} is not a value an `f32` holds: the field is checked on its `f32`, so write its nearest `f32` ({near})", b.value),
                );
            }
        }
    }
    let option = matches!(&info.ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Option"));
    if let (Some(span), DefaultFrom::None, false) = (info.skip_if, &info.default, option) {
        errors.at(
            span,
            format!(
                "serde may leave `{}` out, but reads it as required: add `#[serde(default)]` so that readers of the absent field get its default",
                info.ident
            ),
        );
    }
    if let (Some(span), None) = (info.custom_serde, &info.wire_type) {
        errors.at(
            span,
            format!(
                "serde writes `{}` with a function of its own, so its wire form is not its Rust \
                 type's: state it with `#[tidings(type = \"...\")]` (for example `\"string\"`)",
                info.ident
            ),
        );
    }
    for (lo, hi, what) in [
        (&info.min, &info.max, "min"),
        (&info.min_length, &info.max_length, "min_length"),
    ] {
        if let (Some(lo), Some(hi)) = (lo, hi) {
            if lo.value.to_f64() > hi.value.to_f64()
                || matches!((lo.value, hi.value), (Exact::Int(a), Exact::Int(b)) if a > b)
            {
                errors.at(
                    lo.span,
                    format!(
                        "`{what}` ({}) is greater than its maximum ({})",
                        lo.value, hi.value
                    ),
                );
            }
        }
    }
    Some(info)
}
