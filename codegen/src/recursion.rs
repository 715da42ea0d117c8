//! Recursive types: which members generated Rust boxes, and which types no finite value can
//! satisfy.
//!
//! A type *holds* another by value when a struct field is of that type (`B` or `B?`) or a union
//! variant carries it; lists and maps hold their items behind a pointer already. Types that hold
//! each other in a cycle would have infinite size in Rust, so every member that stays inside its
//! cycle (its owner and its type in one strongly connected component) is boxed: `Box<B>`,
//! `Option<Box<B>>`, `Variant(Box<B>)`. That breaks every cycle, whatever the declaration order.
//!
//! A struct whose *required* fields lead back to itself, or a union none of whose variants can
//! end, has no finite value at all; lowering refuses it.

use std::collections::{HashMap, HashSet};

use tidings::schema::{Module, TypeDef, TypeKind, TypeRef};

/// A type, by module and name.
pub(crate) type Node<'a> = (&'a str, &'a str);

/// A member of a type that holds another type by value: the owner, the field or variant name,
/// and the type it holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member<'a> {
    pub(crate) owner: Node<'a>,
    pub(crate) name: &'a str,
    pub(crate) target: Node<'a>,
    /// A required struct field (not optional, no default); union variants are not required.
    pub(crate) required: bool,
}

/// The named type a field of type `ty` holds by value, looking through optionals.
fn held(ty: &TypeRef) -> Option<Node<'_>> {
    match ty {
        TypeRef::Optional(inner) => held(inner),
        TypeRef::Named { module, name } => Some((module.as_str(), name.as_str())),
        TypeRef::List(_) | TypeRef::Map(_) | TypeRef::Primitive(_) => None,
    }
}

/// Every member of `t` (declared in `module`) holding a named type by value.
fn members<'a>(module: &'a str, t: &'a TypeDef) -> Vec<Member<'a>> {
    let owner = (module, t.name.as_str());
    match &t.kind {
        TypeKind::Struct { fields } => fields
            .iter()
            .filter_map(|f| {
                held(&f.ty).map(|target| Member {
                    owner,
                    name: f.name.as_str(),
                    target,
                    required: f.is_required(),
                })
            })
            .collect(),
        TypeKind::Union { variants, .. } => variants
            .iter()
            .filter_map(|v| {
                v.payload.as_ref().and_then(held).map(|target| Member {
                    owner,
                    name: v.name.as_str(),
                    target,
                    required: false,
                })
            })
            .collect(),
        TypeKind::Enum { .. } => Vec::new(),
    }
}

/// The holding graph of a set of modules.
pub(crate) struct Graph<'a> {
    types: HashMap<Node<'a>, &'a TypeDef>,
    order: Vec<Node<'a>>,
    edges: HashMap<Node<'a>, Vec<Member<'a>>>,
}

impl<'a> Graph<'a> {
    pub(crate) fn new(modules: &'a [Module]) -> Graph<'a> {
        let mut g = Graph {
            types: HashMap::new(),
            order: Vec::new(),
            edges: HashMap::new(),
        };
        for m in modules {
            for t in &m.types {
                let node = (m.name.as_str(), t.name.as_str());
                g.types.insert(node, t);
                g.order.push(node);
                g.edges.insert(node, members(&m.name, t));
            }
        }
        g
    }

    /// The strongly connected component of every type (iterative Tarjan).
    fn components(&self) -> HashMap<Node<'a>, usize> {
        let mut index: HashMap<Node<'a>, usize> = HashMap::new();
        let mut low: HashMap<Node<'a>, usize> = HashMap::new();
        let mut on_stack: HashSet<Node<'a>> = HashSet::new();
        let mut stack: Vec<Node<'a>> = Vec::new();
        let mut comp: HashMap<Node<'a>, usize> = HashMap::new();
        let mut next = 0;
        let mut comps = 0;
        let succ = |n: Node<'a>| -> Vec<Node<'a>> {
            self.edges
                .get(&n)
                .map(|ms| {
                    ms.iter()
                        .map(|m| m.target)
                        .filter(|t| self.types.contains_key(t))
                        .collect()
                })
                .unwrap_or_default()
        };
        for &root in &self.order {
            if index.contains_key(&root) {
                continue;
            }
            // (node, its successors, the next successor to visit)
            let mut work: Vec<(Node<'a>, Vec<Node<'a>>, usize)> = vec![(root, succ(root), 0)];
            index.insert(root, next);
            low.insert(root, next);
            next += 1;
            stack.push(root);
            on_stack.insert(root);
            while let Some((node, succs, i)) = work.last_mut() {
                let node = *node;
                if let Some(&s) = succs.get(*i) {
                    *i += 1;
                    if let Some(&si) = index.get(&s) {
                        if on_stack.contains(&s) {
                            let l = low[&node].min(si);
                            low.insert(node, l);
                        }
                    } else {
                        index.insert(s, next);
                        low.insert(s, next);
                        next += 1;
                        stack.push(s);
                        on_stack.insert(s);
                        work.push((s, succ(s), 0));
                    }
                    continue;
                }
                work.pop();
                if let Some((parent, _, _)) = work.last() {
                    let l = low[parent].min(low[&node]);
                    low.insert(*parent, l);
                }
                if low[&node] == index[&node] {
                    while let Some(n) = stack.pop() {
                        on_stack.remove(&n);
                        comp.insert(n, comps);
                        if n == node {
                            break;
                        }
                    }
                    comps += 1;
                }
            }
        }
        comp
    }

    /// The members generated Rust boxes: those whose type lies in the cycle of their owner.
    pub(crate) fn boxed(&self) -> Boxed {
        let comp = self.components();
        let mut out = HashSet::new();
        for ms in self.edges.values() {
            for m in ms {
                let (owner, target) = (comp.get(&m.owner), comp.get(&m.target));
                if owner.is_some() && owner == target {
                    out.insert((
                        m.owner.0.to_owned(),
                        m.owner.1.to_owned(),
                        m.name.to_owned(),
                    ));
                }
            }
        }
        Boxed(out)
    }

    /// Types with a finite value, as a least fixed point: an enum always; a struct when every
    /// type its required fields hold has one; a union when a variant carries nothing or a type
    /// that has one. Types outside the graph (reported elsewhere) count as having one. Computed
    /// by propagation (each type waits on a count of what it still needs), so a chain of
    /// thousands of types costs what its members cost, not its length squared.
    fn inhabited(&self) -> HashSet<Node<'a>> {
        let mut yes: HashSet<Node<'a>> = HashSet::new();
        // What each type still waits for: required fields (structs), or any variant (unions).
        let mut waiting: HashMap<Node<'a>, usize> = HashMap::new();
        // Who waits on a type, once per member that holds it.
        let mut waiters: HashMap<Node<'a>, Vec<Node<'a>>> = HashMap::new();
        let mut ready: Vec<Node<'a>> = Vec::new();
        for &node in &self.order {
            let in_graph = |t: &Node<'a>| self.types.contains_key(t);
            let ms = &self.edges[&node];
            match &self.types[&node].kind {
                TypeKind::Enum { .. } => ready.push(node),
                TypeKind::Struct { .. } => {
                    let needs: Vec<Node<'a>> = ms
                        .iter()
                        .filter(|m| m.required && in_graph(&m.target))
                        .map(|m| m.target)
                        .collect();
                    if needs.is_empty() {
                        ready.push(node);
                    } else {
                        waiting.insert(node, needs.len());
                        for t in needs {
                            waiters.entry(t).or_default().push(node);
                        }
                    }
                }
                TypeKind::Union { variants, .. } => {
                    let free = variants.is_empty()
                        || variants.iter().any(|v| {
                            v.payload
                                .as_ref()
                                .and_then(held)
                                .is_none_or(|t| !in_graph(&t))
                        });
                    if free {
                        ready.push(node);
                    } else {
                        waiting.insert(node, 1);
                        for m in ms {
                            waiters.entry(m.target).or_default().push(node);
                        }
                    }
                }
            }
        }
        while let Some(node) = ready.pop() {
            if !yes.insert(node) {
                continue;
            }
            for &owner in waiters.get(&node).map(Vec::as_slice).unwrap_or_default() {
                if yes.contains(&owner) {
                    continue;
                }
                if let Some(left) = waiting.get_mut(&owner) {
                    *left = left.saturating_sub(1);
                    if *left == 0 {
                        ready.push(owner);
                    }
                }
            }
        }
        yes
    }

    /// Every cycle of members that no finite value can end, once each: the members along it,
    /// starting with a required struct field of the first type (in declaration order) on it.
    pub(crate) fn endless_cycles(&self) -> Vec<Vec<Member<'a>>> {
        let inhabited = self.inhabited();
        let mut seen: HashSet<Node<'a>> = HashSet::new();
        let mut out = Vec::new();
        for &start in &self.order {
            if inhabited.contains(&start) || seen.contains(&start) {
                continue;
            }
            // Follow, from each type without a value, a member that has none either.
            let mut path: Vec<Member<'a>> = Vec::new();
            let mut node = start;
            loop {
                if seen.contains(&node) {
                    if let Some(from) = path.iter().position(|m| m.owner == node) {
                        let mut cycle = path.split_off(from);
                        // Start at a struct field, where the fix is made.
                        if let Some(i) = cycle.iter().position(|m| m.required) {
                            cycle.rotate_left(i);
                        }
                        out.push(cycle);
                    }
                    break;
                }
                seen.insert(node);
                let blocked = |m: &&Member<'a>| {
                    self.types.contains_key(&m.target) && !inhabited.contains(&m.target)
                };
                let next = match &self.types[&node].kind {
                    TypeKind::Struct { .. } => self.edges[&node]
                        .iter()
                        .filter(|m| m.required)
                        .find(blocked),
                    _ => self.edges[&node].iter().find(blocked),
                };
                let Some(m) = next else { break };
                path.push(*m);
                node = m.target;
            }
        }
        out
    }
}

/// The members generated Rust boxes, by module, type and member name.
#[derive(Debug, Default)]
pub(crate) struct Boxed(HashSet<(String, String, String)>);

impl Boxed {
    /// Whether member `member` of type `module.owner` is boxed.
    pub(crate) fn contains(&self, module: &str, owner: &str, member: &str) -> bool {
        self.0
            .contains(&(module.to_owned(), owner.to_owned(), member.to_owned()))
    }
}
