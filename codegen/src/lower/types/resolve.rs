//! Type expressions resolved to types: primitives, the module's own types, imported ones.

use std::ops::Range;

use tidings::schema::{Primitive, TypeRef};

use crate::diag::Diagnostic;
use crate::lower::{Lowering, ModuleCx, Symbols};
use crate::names;
use crate::typeexpr::{self, TypeExpr};

impl Lowering<'_> {
    /// Parses and resolves a type expression written in the string at `span`.
    pub(in crate::lower) fn resolve_type(
        &mut self,
        m: &ModuleCx<'_>,
        symbols: &Symbols,
        text: &str,
        span: &Range<usize>,
    ) -> Option<TypeRef> {
        let base = self.literal(m.raw.file, span);
        match typeexpr::parse(text) {
            Ok(expr) => self.resolve_expr(m, symbols, &expr, &base),
            Err(e) => {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::InvalidType,
                        m.raw.file,
                        base.span(e.span.start..e.span.end.max(e.span.start)),
                        format!("invalid type `{}`", shortened(text)),
                    )
                    .label(e.message)
                    .help(e.help),
                );
                None
            }
        }
    }

    pub(in crate::lower) fn resolve_expr(
        &mut self,
        m: &ModuleCx<'_>,
        symbols: &Symbols,
        expr: &TypeExpr,
        base: &crate::lower::literal::Literal,
    ) -> Option<TypeRef> {
        let file = m.raw.file;
        match expr {
            TypeExpr::Optional(inner, span) => {
                if let TypeExpr::Name {
                    module: None, name, ..
                } = &**inner
                {
                    if name == "json" {
                        self.error(
                            Diagnostic::warning(
                                crate::diag::Code::RedundantOptional,
                                file,
                                base.span(span.clone()),
                                "`json?` is the same as `json`",
                            )
                            .label("`json` already admits `null`")
                            .help("write `json`"),
                        );
                    }
                }
                Some(TypeRef::Optional(Box::new(
                    self.resolve_expr(m, symbols, inner, base)?,
                )))
            }
            TypeExpr::List(inner) => Some(TypeRef::List(Box::new(
                self.resolve_expr(m, symbols, inner, base)?,
            ))),
            TypeExpr::Map(inner) => Some(TypeRef::Map(Box::new(
                self.resolve_expr(m, symbols, inner, base)?,
            ))),
            TypeExpr::Name { module, name, span } => {
                let span = base.span(span.clone());
                self.resolve_name(m, symbols, module.as_deref(), name, span)
            }
        }
    }

    pub(in crate::lower) fn resolve_name(
        &mut self,
        m: &ModuleCx<'_>,
        symbols: &Symbols,
        module: Option<&str>,
        name: &str,
        span: Range<usize>,
    ) -> Option<TypeRef> {
        let file = m.raw.file;
        let local = symbols.types.get(&m.name);
        match module {
            None => {
                if let Some(p) = Primitive::from_name(name) {
                    return Some(TypeRef::Primitive(p));
                }
                if local.is_some_and(|t| t.contains_key(name)) {
                    return Some(TypeRef::Named {
                        module: m.name.clone(),
                        name: name.to_owned(),
                    });
                }
                let mut candidates: Vec<String> = Primitive::ALL
                    .iter()
                    .map(|p| p.as_str().to_owned())
                    .collect();
                candidates.extend(local.into_iter().flat_map(|t| t.keys().cloned()));
                let mut help = names::suggestion(name, candidates.iter().map(String::as_str));
                if help.is_none() {
                    // Perhaps the type lives in an imported (or importable) module.
                    let owner = symbols
                        .types
                        .iter()
                        .find(|(_, t)| t.contains_key(name))
                        .map(|(k, _)| k.clone());
                    help = Some(match owner {
                        Some(owner) => format!("`{name}` is declared in module `{owner}`: write `{owner}.{name}`"),
                        None => "built-in types are string, bool, i8…i64, u8…u64, f32, f64, uuid, timestamp and json; `[T]` is a list, `map<T>` a map, `T?` optional".to_owned(),
                    });
                }
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::UnknownType,
                        file,
                        span,
                        format!("unknown type `{name}`"),
                    )
                    .label(format!(
                        "not a built-in type or a type of module `{}`",
                        m.name
                    ))
                    .maybe_help(help),
                );
                None
            }
            Some(owner) => {
                let imported = owner == m.name
                    || m.raw.imports_unreadable
                    || symbols
                        .imports
                        .get(&m.name)
                        .is_some_and(|i| i.iter().any(|x| x == owner));
                let Some(table) = symbols.types.get(owner) else {
                    // An import of no module was reported at the import: once is enough.
                    if m.raw.imports.iter().any(|i| i.get_ref() == owner) {
                        return None;
                    }
                    self.error(
                        Diagnostic::error(
                            crate::diag::Code::UnknownType,
                            file,
                            span,
                            format!("unknown module `{owner}` in type `{owner}.{name}`"),
                        )
                        .maybe_help(
                            names::suggestion(owner, symbols.types.keys().map(String::as_str))
                                .or_else(|| {
                                    Some(format!(
                                        "is the file declaring module `{owner}` among the paths given?"
                                    ))
                                }),
                        ),
                    );
                    return None;
                };
                if !table.contains_key(name) {
                    self.error(
                        Diagnostic::error(
                            crate::diag::Code::UnknownType,
                            file,
                            span,
                            format!("module `{owner}` has no type `{name}`"),
                        )
                        .maybe_help(names::suggestion(name, table.keys().map(String::as_str))),
                    );
                    return None;
                }
                if !imported {
                    self.error(
                        Diagnostic::error(crate::diag::Code::MissingImport, file, span, format!("type `{owner}.{name}` is used but module `{owner}` is not imported"))
                            .help(format!("add `imports = [\"{owner}\"]` at the top of the file")),
                    );
                    return None;
                }
                Some(TypeRef::Named {
                    module: owner.to_owned(),
                    name: name.to_owned(),
                })
            }
        }
    }
}

/// A type expression for a message: whole when short, else its start and `…` (the caret shows
/// the place).
pub(in crate::lower) fn shortened(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}
