//! Who receives what: the compiler used as a library to audit recipient rules.
//!
//! ```text
//! cargo run -p tidings-examples --bin who_receives -- admin
//! ```
//!
//! Loads `schemas/`, stops with the diagnostics if they have errors, then lists every event a
//! connection with the given role receives through a role rule, with the scope the rule resolves
//! in. Run without a role, it lists every role named anywhere. Data-protection reviews ask
//! exactly this question; the IR answers it without reading application code.

use std::process::ExitCode;

use tidings::schema::{Rule, Scope};

fn main() -> ExitCode {
    let role = std::env::args().nth(1);
    let schemas = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas");
    let (sources, result) = match tidings_codegen::check_paths(&[schemas]) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let checked = match result {
        Ok(checked) => checked,
        Err(diagnostics) => {
            eprint!("{}", diagnostics.render(&sources));
            return ExitCode::from(1);
        }
    };
    let schema = checked.schema;

    let Some(role) = role else {
        let mut roles: Vec<&str> = schema
            .events()
            .filter_map(|(_, e)| e.recipients.as_ref())
            .flat_map(|r| r.rules.iter())
            .filter_map(|rule| match rule {
                Rule::Role { role } => Some(role.as_str()),
                _ => None,
            })
            .collect();
        roles.sort_unstable();
        roles.dedup();
        println!("roles named in schemas/: {}", roles.join(", "));
        println!("run with a role to list its events, e.g. `-- admin`");
        return ExitCode::SUCCESS;
    };

    let mut found = 0;
    for (module, event) in schema.events() {
        let Some(recipients) = &event.recipients else {
            continue;
        };
        let by_role = recipients
            .rules
            .iter()
            .any(|r| matches!(r, Rule::Role { role: name } if *name == role));
        if !by_role {
            continue;
        }
        found += 1;
        let scope = match &recipients.scope {
            Scope::Tenant { field } => format!("within the tenant in `{field}`"),
            Scope::Platform => "across every tenant".to_owned(),
            Scope::Users => "for the users named".to_owned(),
        };
        let except = recipients
            .except
            .as_ref()
            .map(|f| format!(", unless they are `{f}`"))
            .unwrap_or_default();
        println!("{:<28} ({}) {scope}{except}", event.name, module.name);
    }
    if found == 0 {
        println!("no event reaches role `{role}` through a role rule");
    }
    ExitCode::SUCCESS
}
