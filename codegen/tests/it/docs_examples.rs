//! The complete example at the top of docs/schema.md is valid, so the docs cannot drift from
//! the language.

use std::path::Path;

use tidings_codegen::{check, Sources};

#[test]
fn the_complete_example_in_the_schema_docs_checks_clean() {
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schema.md"))
            .expect("docs/schema.md is readable");
    let start = docs.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + docs[start..].find("```").expect("the block ends");
    let mut sources = Sources::new();
    sources.add("ticket.toml", &docs[start..end]);
    sources.add(
        "common.toml",
        "module = \"common\"\ntypes.Severity = { kind = \"enum\", values = [\"info\", \"critical\"] }\n",
    );
    match check(&sources) {
        Ok(checked) => {
            assert!(
                checked.warnings.is_empty(),
                "{}",
                checked.warnings.render(&sources)
            );
            let schema = checked.schema;
            assert!(schema.event_by_wire_name("ticket:statusChanged").is_some());
            assert!(schema.event_by_wire_name("chat:sendMessage").is_some());
        }
        Err(d) => panic!("{}", d.render(&sources)),
    }
}
