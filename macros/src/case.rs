//! serde's `rename_all` rules, applied to field names (snake_case in Rust) and variant names
//! (PascalCase in Rust), exactly as serde applies them.

/// The rules serde accepts.
pub(crate) const RULES: [&str; 8] = [
    "lowercase",
    "UPPERCASE",
    "PascalCase",
    "camelCase",
    "snake_case",
    "SCREAMING_SNAKE_CASE",
    "kebab-case",
    "SCREAMING-KEBAB-CASE",
];

/// A field name (snake_case) under `rule`.
pub(crate) fn field(name: &str, rule: &str) -> String {
    match rule {
        "UPPERCASE" | "SCREAMING_SNAKE_CASE" => name.to_ascii_uppercase(),
        "PascalCase" => pascal_from_snake(name),
        "camelCase" => {
            let p = pascal_from_snake(name);
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
                .unwrap_or_default()
        }
        "kebab-case" => name.replace('_', "-"),
        "SCREAMING-KEBAB-CASE" => name.replace('_', "-").to_ascii_uppercase(),
        _ => name.to_owned(),
    }
}

/// A variant name (PascalCase) under `rule`.
pub(crate) fn variant(name: &str, rule: &str) -> String {
    match rule {
        "lowercase" => name.to_ascii_lowercase(),
        "UPPERCASE" => name.to_ascii_uppercase(),
        "camelCase" => {
            let mut c = name.chars();
            c.next()
                .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
                .unwrap_or_default()
        }
        "snake_case" => snake_from_pascal(name),
        "SCREAMING_SNAKE_CASE" => snake_from_pascal(name).to_ascii_uppercase(),
        "kebab-case" => snake_from_pascal(name).replace('_', "-"),
        "SCREAMING-KEBAB-CASE" => snake_from_pascal(name)
            .replace('_', "-")
            .to_ascii_uppercase(),
        _ => name.to_owned(),
    }
}

fn pascal_from_snake(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `StatusChanged` → `status_changed` (also the default event key of a struct).
pub(crate) fn snake_from_pascal(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.char_indices() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The closest of `candidates` to `wanted`, when close enough to be a typo.
pub(crate) fn closest<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut diag = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let sub = diag + usize::from(ca != *cb);
                diag = row[j + 1];
                row[j + 1] = sub.min(row[j] + 1).min(row[j + 1] + 1);
            }
        }
        row[b.len()]
    }
    candidates
        .into_iter()
        .map(|c| (distance(wanted, c), c))
        .filter(|(d, c)| *d <= (wanted.len().max(c.len()) / 3).max(1))
        .min()
        .map(|(_, c)| c)
}
