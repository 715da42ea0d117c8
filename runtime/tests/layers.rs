//! The runtime's modules form layers: no import cycle between the files of `runtime/src`
//! (docs/architecture.md, "Layers").
//!
//! The test reads every source file, collects the paths it names in code — `use` trees, and
//! paths in types, expressions, patterns and macro bodies that start with `crate::`, `super::`,
//! `self::` or a child module — and resolves each to the file that defines the item, following
//! re-exports (`pub use`) of `lib.rs` and of every other module. Comments and doc links are not
//! edges: they do not make one file need another to build or test; nor is `mod child;` (a
//! parent's facade may re-export its children, which then must not use the parent). The
//! strongly connected components of that graph must be single files, except the pairs in
//! [`ALLOWED`]; and the [`LEAVES`] import nothing above them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// Cycles that are the point of their files: a connection holds its user's delivery stream,
/// and the stream holds the user's connections, each under its own lock.
const ALLOWED: &[&[&str]] = &[&["hub/conn.rs", "hub/stream.rs"]];

/// The bottom layer: files (or folders, ending in `/`) that import nothing of the runtime but
/// each other.
const LEAVES: &[&str] = &[
    "schema/",
    "format.rs",
    "principal.rs",
    "recipients.rs",
    "violation.rs",
    "delivery.rs",
    "ids.rs",
];

fn is_leaf(file: &str) -> bool {
    LEAVES.iter().any(|l| {
        if l.ends_with('/') {
            file.starts_with(l)
        } else {
            file == *l
        }
    })
}

/// A module: its path from the crate root (`["hub", "conn"]`) and the file that holds it.
struct Module {
    file: String,
    ast: syn::File,
}

struct Crate {
    /// Module path → module.
    modules: BTreeMap<Vec<String>, Module>,
}

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read runtime/src")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_path(relative: &str) -> Vec<String> {
    let trimmed = relative.trim_end_matches(".rs");
    let mut parts: Vec<String> = trimmed.split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

impl Crate {
    fn load() -> Crate {
        let root = source_dir();
        let mut files = Vec::new();
        rust_files(&root, &mut files);
        let mut modules = BTreeMap::new();
        for path in files {
            let relative = path
                .strip_prefix(&root)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&path).expect("read source");
            let ast =
                syn::parse_file(&text).unwrap_or_else(|e| panic!("{relative} does not parse: {e}"));
            modules.insert(
                module_path(&relative),
                Module {
                    file: relative,
                    ast,
                },
            );
        }
        Crate { modules }
    }

    fn is_module(&self, path: &[String]) -> bool {
        self.modules.contains_key(path)
    }

    /// The file defining what `segments` names, read from inside module `from` (a file's
    /// module, or an inline module in it), or `None` for anything outside the crate.
    fn resolve(&self, from: &[String], segments: &[String], depth: usize) -> Option<String> {
        if depth > 16 {
            return None;
        }
        let (mut at, rest): (Vec<String>, &[String]) = match segments.first()?.as_str() {
            "crate" => (Vec::new(), &segments[1..]),
            "self" => (from.to_vec(), &segments[1..]),
            "super" => {
                let mut at = from.to_vec();
                let mut rest = segments;
                while rest.first().is_some_and(|s| s == "super") {
                    at.pop();
                    rest = &rest[1..];
                }
                (at, rest)
            }
            first => {
                let mut child = from.to_vec();
                child.push(first.to_owned());
                if !self.is_module(&child) {
                    return None;
                }
                (child, &segments[1..])
            }
        };
        for seg in rest {
            if seg == "self" {
                continue;
            }
            let mut child = at.clone();
            child.push(seg.clone());
            if self.is_module(&child) {
                at = child;
                continue;
            }
            // An item of `at`: defined there, or re-exported from elsewhere.
            let file_module = self.file_module(&at);
            let module = &self.modules[&file_module];
            for (binding, target) in top_level_uses(&module.ast) {
                if binding.as_deref() == Some(seg.as_str()) {
                    return self.resolve(&file_module, &target, depth + 1);
                }
            }
            return Some(module.file.clone());
        }
        Some(self.modules[&self.file_module(&at)].file.clone())
    }

    /// The module of the file holding `path` (inline modules belong to their file).
    fn file_module(&self, path: &[String]) -> Vec<String> {
        let mut p = path.to_vec();
        while !self.is_module(&p) {
            p.pop();
        }
        p
    }

    /// Edges: file → files it uses, each with one path that makes it so.
    fn edges(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (path, module) in &self.modules {
            let mut collector = Collector {
                at: path.clone(),
                paths: Vec::new(),
            };
            collector.visit_file(&module.ast);
            let out = edges.entry(module.file.clone()).or_default();
            for (from, segments) in collector.paths {
                if let Some(target) = self.resolve(&from, &segments, 0) {
                    if target != module.file {
                        out.entry(target).or_insert_with(|| segments.join("::"));
                    }
                }
            }
        }
        edges
    }
}

/// The `use` items at the top of a file: (name bound, full path), `None` for globs.
fn top_level_uses(file: &syn::File) -> Vec<(Option<String>, Vec<String>)> {
    let mut out = Vec::new();
    for item in &file.items {
        if let syn::Item::Use(u) = item {
            flatten(&u.tree, &mut Vec::new(), &mut out);
        }
    }
    out
}

fn flatten(
    tree: &syn::UseTree,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Option<String>, Vec<String>)>,
) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            if name == "self" {
                out.push((prefix.last().cloned(), prefix.clone()));
            } else {
                let mut full = prefix.clone();
                full.push(name.clone());
                out.push((Some(name), full));
            }
        }
        syn::UseTree::Rename(r) => {
            let mut full = prefix.clone();
            let name = r.ident.to_string();
            if name != "self" {
                full.push(name);
            }
            out.push((Some(r.rename.to_string()), full));
        }
        syn::UseTree::Glob(_) => out.push((None, prefix.clone())),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                flatten(t, prefix, out);
            }
        }
    }
}

/// Collects, with the module they are read in, every path a file names in code.
struct Collector {
    at: Vec<String>,
    paths: Vec<(Vec<String>, Vec<String>)>,
}

impl Collector {
    fn push(&mut self, segments: Vec<String>) {
        if segments.len() > 1 {
            self.paths.push((self.at.clone(), segments));
        }
    }

    /// `crate :: a :: b` runs inside macro bodies (`impl_handler!`, `json!`, …).
    fn scan_tokens(&mut self, tokens: proc_macro2::TokenStream) {
        let tokens: Vec<proc_macro2::TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                proc_macro2::TokenTree::Group(g) => self.scan_tokens(g.stream()),
                proc_macro2::TokenTree::Ident(id) if id == "crate" || id == "super" => {
                    let mut segments = vec![id.to_string()];
                    let mut j = i + 1;
                    while let (
                        Some(proc_macro2::TokenTree::Punct(a)),
                        Some(proc_macro2::TokenTree::Punct(b)),
                        Some(proc_macro2::TokenTree::Ident(next)),
                    ) = (tokens.get(j), tokens.get(j + 1), tokens.get(j + 2))
                    {
                        if a.as_char() != ':' || b.as_char() != ':' {
                            break;
                        }
                        segments.push(next.to_string());
                        j += 3;
                    }
                    self.push(segments);
                    i = j;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if m.content.is_some() {
            self.at.push(m.ident.to_string());
            syn::visit::visit_item_mod(self, m);
            self.at.pop();
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let mut out = Vec::new();
        flatten(&u.tree, &mut Vec::new(), &mut out);
        for (_, full) in out {
            self.push(full);
        }
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        if p.leading_colon.is_none() {
            self.push(p.segments.iter().map(|s| s.ident.to_string()).collect());
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.scan_tokens(m.tokens.clone());
        syn::visit::visit_macro(self, m);
    }
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeMap<String, String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn connect<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        let edges = s.edges;
        for w in edges.get(v).into_iter().flat_map(|m| m.keys()) {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                connect(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            connect(&mut s, v);
        }
    }
    s.out.sort();
    s.out
}

fn describe(component: &[String], edges: &BTreeMap<String, BTreeMap<String, String>>) -> String {
    let mut text = format!("cycle: {}\n", component.join(" ↔ "));
    for from in component {
        for (to, why) in edges.get(from).into_iter().flatten() {
            if component.contains(to) {
                text.push_str(&format!("    {from} → {to}  ({why})\n"));
            }
        }
    }
    text
}

#[test]
fn runtime_modules_have_no_import_cycle() {
    let krate = Crate::load();
    let edges = krate.edges();
    let found = cycles(&edges);
    let unexpected: Vec<String> = found
        .iter()
        .filter(|c| {
            !ALLOWED
                .iter()
                .any(|a| a.iter().copied().eq(c.iter().map(String::as_str)))
        })
        .map(|c| describe(c, &edges))
        .collect();
    assert!(
        unexpected.is_empty(),
        "import cycles between the files of runtime/src (see docs/architecture.md):\n{}",
        unexpected.join("\n")
    );
}

#[test]
fn leaves_import_only_leaves() {
    let edges = Crate::load().edges();
    let mut wrong = Vec::new();
    for (from, to) in edges.iter().filter(|(f, _)| is_leaf(f)) {
        for (target, why) in to.iter().filter(|(t, _)| !is_leaf(t)) {
            wrong.push(format!("    {from} → {target}  ({why})"));
        }
    }
    assert!(
        wrong.is_empty(),
        "leaves of runtime/src import files above them (see docs/architecture.md):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_graph_sees_known_edges() {
    // The resolver follows re-exports: `crate::Hub` is defined in the hub, `crate::Principal`
    // in principal.rs. A graph without these edges would pass the test above for nothing.
    let edges = Crate::load().edges();
    let uses = |from: &str, to: &str| edges.get(from).is_some_and(|m| m.contains_key(to));
    assert!(
        uses("router.rs", "principal.rs"),
        "{:#?}",
        edges.get("router.rs")
    );
    assert!(
        uses("server.rs", "auth.rs"),
        "{:#?}",
        edges.get("server.rs")
    );
    assert!(uses("jwt.rs", "auth.rs"), "{:#?}", edges.get("jwt.rs"));
    // Through two re-exports: `crate::hub::Counters` is `hub/metrics.rs`'s.
    assert!(
        uses("connection.rs", "hub/metrics.rs"),
        "{:#?}",
        edges.get("connection.rs")
    );
}
