//! How long `tidings check` takes on synthetic schema sets of growing size.
//!
//! `cargo bench -p tidings-codegen --bench check` writes sets of 100, 1,000 and 10,000 events
//! (ten events and two types per file, each file importing the previous one) to a temporary
//! directory, then times loading them from disk and checking them, as `tidings check` does.
//! It prints the median, minimum and maximum of several runs and the cost per event, which stays
//! flat when the cost grows linearly. It then times Rust and TypeScript generation separately,
//! a build script's run (`Builder::compile`) first and with its schemas unchanged, on the
//! shipped schemas and each set, and `tidings compat` between two versions of each set.
//!
//! `-- --modelina` adds AsyncAPI Modelina side by side: TypeScript models generated in Node from
//! the AsyncAPI export of the same events (`bench/peers/modelina.mjs`; `npm ci` there first),
//! against Tidings' check + TypeScript from the files. Sizes Modelina needs longer than
//! `--modelina-timeout SECONDS` (600) for are reported as such; larger ones are not attempted.
//! `-- --write DIR EVENTS` only writes one set (and `DIR.asyncapi.json`).
//! `-- --smoke` runs one tiny set once, so the suite can keep the benchmark from rotting.
//! Figures and method: BENCHMARKS.md.

use std::path::Path;
use std::time::{Duration, Instant};

const EVENTS_PER_FILE: usize = 10;

fn module_text(i: usize) -> String {
    let mut s = format!("module = \"m{i}\"\nversion = \"1.0.0\"\n");
    if i > 0 {
        s.push_str(&format!("imports = [\"m{}\"]\n", i - 1));
    }
    s.push_str(&format!(
        "\n[types.Status]\nkind = \"enum\"\nvalues = [\"open\", \"in_progress\", \"closed\"]\n\n\
         [types.Item]\nfields.id = \"uuid\"\nfields.tenant_id = \"uuid\"\nfields.owner_id = \"uuid\"\n\
         fields.title = {{ type = \"string\", min_length = 1, max_length = 200 }}\n\
         fields.status = {{ type = \"Status\", default = \"open\" }}\n\
         fields.watchers = \"[uuid]\"\nfields.score = {{ type = \"u8\", min = 0, max = 100 }}\n{}\n",
        if i > 0 { format!("fields.previous = \"m{}.Status?\"\n", i - 1) } else { String::new() }
    ));
    for e in 0..EVENTS_PER_FILE {
        s.push_str(&format!(
            "[events.changed_{e}]\ndoc = \"Item changed ({e}).\"\ntenant = \"item.tenant_id\"\n\
             recipients.user = [\"item.owner_id\"]\nrecipients.users = [\"item.watchers\"]\n\
             recipients.roles = [\"admin\"]\nrecipients.rooms = [\"item:{{item.id}}\"]\n\
             recipients.except = \"actor_id\"\npayload.item = \"Item\"\npayload.actor_id = \"uuid\"\n\
             payload.note = {{ type = \"string?\", max_length = 500 }}\n\n"
        ));
    }
    s
}

fn write_set(dir: &Path, events: usize) {
    for i in 0..events / EVENTS_PER_FILE {
        std::fs::write(dir.join(format!("m{i:05}.toml")), module_text(i)).expect("write schema");
    }
}

fn check_dir(dir: &Path, events: usize) {
    let (sources, result) = tidings_codegen::check_paths(&[dir]).expect("readable");
    match result {
        Ok(checked) => assert_eq!(checked.schema.events().count(), events),
        Err(d) => panic!("{}", d.render(&sources)),
    }
}

/// The same set with changes in every tenth file: an enum value added, a field removed, a
/// constraint narrowed.
fn changed_text(i: usize) -> String {
    let text = module_text(i);
    if i % 10 != 0 {
        return text;
    }
    text.replace(
        r#"values = ["open", "in_progress", "closed"]"#,
        r#"values = ["open", "in_progress", "closed", "archived"]"#,
    )
    .replace(
        "payload.note = { type = \"string?\", max_length = 500 }",
        "",
    )
    .replace("max_length = 200", "max_length = 100")
}

fn schema_of(texts: impl Iterator<Item = (usize, String)>) -> tidings_codegen::schema::Schema {
    let mut sources = tidings_codegen::Sources::new();
    for (i, t) in texts {
        sources.add(format!("m{i:05}.toml"), t);
    }
    match tidings_codegen::check(&sources) {
        Ok(c) => c.schema,
        Err(d) => panic!("{}", d.render(&sources)),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--write") {
        // `--write DIR EVENTS`: only write one synthetic set and its AsyncAPI export
        // (`DIR.asyncapi.json`), to look at or to feed to another generator.
        let dir = Path::new(args.get(i + 1).expect("--write DIR EVENTS"));
        let events: usize = args
            .get(i + 2)
            .and_then(|n| n.parse().ok())
            .expect("EVENTS");
        std::fs::create_dir_all(dir).expect("create dir");
        write_set(dir, events);
        let schema = schema_of((0..events / EVENTS_PER_FILE).map(|i| (i, module_text(i))));
        std::fs::write(
            dir.with_extension("asyncapi.json"),
            tidings_codegen::asyncapi::generate(&schema),
        )
        .expect("write AsyncAPI");
        return;
    }
    let smoke = args.iter().any(|a| a == "--smoke");
    let plan: &[(usize, usize)] = if smoke {
        &[(20, 1)]
    } else {
        &[(100, 31), (1_000, 15), (10_000, 7)]
    };
    println!(
        "{:>8} {:>6} {:>11} {:>11} {:>11} {:>12}",
        "events", "files", "median", "min", "max", "per event"
    );
    for &(events, runs) in plan {
        let dir = tempfile::tempdir().expect("temp dir");
        write_set(dir.path(), events);
        check_dir(dir.path(), events); // warm the page cache and the allocator
        let mut times: Vec<Duration> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                check_dir(dir.path(), events);
                start.elapsed()
            })
            .collect();
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "{events:>8} {:>6} {:>9.2}ms {:>9.2}ms {:>9.2}ms {:>10.2}µs",
            events / EVENTS_PER_FILE,
            median.as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3,
            median.as_secs_f64() * 1e6 / events as f64,
        );
    }
    println!();
    println!(
        "{:>8} {:>11} {:>11} {:>11} {:>11}",
        "generate", "rust", "typescript", "both", "per event"
    );
    for &(events, runs) in plan {
        let files = events / EVENTS_PER_FILE;
        let schema = schema_of((0..files).map(|i| (i, module_text(i))));
        let time = |f: &dyn Fn() -> usize| {
            let mut times: Vec<Duration> = (0..runs)
                .map(|_| {
                    let start = Instant::now();
                    std::hint::black_box(f());
                    start.elapsed()
                })
                .collect();
            times.sort();
            times[times.len() / 2]
        };
        let rust = time(&|| tidings_codegen::rust::generate(&schema).len());
        let ts = time(&|| {
            tidings_codegen::ts::generate(&schema, &tidings_codegen::ts::TsOptions::default()).len()
        });
        let both = rust + ts;
        println!(
            "{events:>8} {:>9.2}ms {:>9.2}ms {:>9.2}ms {:>9.2}µs",
            rust.as_secs_f64() * 1e3,
            ts.as_secs_f64() * 1e3,
            both.as_secs_f64() * 1e3,
            both.as_secs_f64() * 1e6 / events as f64
        );
    }
    println!();
    // A build script's run from its start to its end (`Builder::compile`, as build.rs calls
    // it): the first run, which generates, and runs whose schemas did not change (cargo runs
    // the script again when a schema file is touched, or the build script changes).
    println!(
        "{:>8} {:>11} {:>11} {:>11} {:>11}",
        "build.rs", "first", "unchanged", "min", "max"
    );
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let mut sets: Vec<(String, std::path::PathBuf, Option<tempfile::TempDir>)> =
        vec![("shipped".to_owned(), shipped, None)];
    for &(events, _) in plan {
        let dir = tempfile::tempdir().expect("temp dir");
        write_set(dir.path(), events);
        sets.push((events.to_string(), dir.path().to_owned(), Some(dir)));
    }
    for (name, schemas, _keep) in &sets {
        let out = tempfile::tempdir().expect("temp dir");
        let compile = || {
            let start = Instant::now();
            tidings_codegen::Builder::new()
                .schemas(schemas)
                .out_dir(out.path())
                .emit_rerun_if_changed(false)
                .compile()
                .expect("compiles");
            start.elapsed()
        };
        let first = compile();
        let mut times: Vec<Duration> = (0..if smoke { 1 } else { 15 }).map(|_| compile()).collect();
        times.sort();
        println!(
            "{name:>8} {:>9.2}ms {:>9.2}ms {:>9.2}ms {:>9.2}ms",
            first.as_secs_f64() * 1e3,
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3,
        );
    }
    println!();
    println!(
        "{:>8} {:>11} {:>11} {:>11} {:>9}",
        "compat", "median", "min", "max", "findings"
    );
    for &(events, runs) in plan {
        let files = events / EVENTS_PER_FILE;
        let old = schema_of((0..files).map(|i| (i, module_text(i))));
        let new = schema_of((0..files).map(|i| (i, changed_text(i))));
        let mut findings = 0;
        let mut times: Vec<Duration> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                findings = tidings_codegen::compat::compare(&old, &new).len();
                start.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "{events:>8} {:>9.2}ms {:>9.2}ms {:>9.2}ms {findings:>9}",
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3,
        );
    }

    if args.iter().any(|a| a == "--modelina") {
        // bench/peers, with its node_modules from `npm ci`.
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/peers/modelina.mjs");
        let limit = Duration::from_secs(
            args.iter()
                .position(|a| a == "--modelina-timeout")
                .and_then(|i| args.get(i + 1))
                .and_then(|s| s.parse().ok())
                .unwrap_or(600),
        );
        versus_modelina(&script, smoke, limit);
    }
}

/// Tidings (check + TypeScript, from the TOML files on disk) next to AsyncAPI Modelina
/// (TypeScript models from the AsyncAPI export of the same events, in Node). Sizes at which
/// Modelina needs longer than `limit` are reported as such and larger ones are not attempted.
fn versus_modelina(script: &Path, smoke: bool, limit: Duration) {
    let plan: &[(usize, usize)] = if smoke {
        &[(10, 1)]
    } else {
        &[(10, 5), (100, 3), (1_000, 1), (10_000, 1)]
    };
    println!();
    println!(
        "{:>8} {:>16} {:>13} {:>15} {:>9}",
        "versus", "tidings check+ts", "tidings ts", "modelina ts", "ratio"
    );
    // Modelina's last time and size: a size it would need longer than `limit` for, even if it
    // grew only linearly from there, is not attempted.
    let mut last: Option<(usize, Option<f64>)> = None;
    for &(events, runs) in plan {
        let dir = tempfile::tempdir().expect("temp dir");
        write_set(dir.path(), events);
        let files = events / EVENTS_PER_FILE;
        let schema = schema_of((0..files).map(|i| (i, module_text(i))));
        let asyncapi = dir.path().join("asyncapi.json");
        std::fs::write(&asyncapi, tidings_codegen::asyncapi::generate(&schema)).expect("write");
        let options = tidings_codegen::ts::TsOptions::default();
        let median = |f: &dyn Fn()| {
            f();
            let mut t: Vec<Duration> = (0..runs.max(3))
                .map(|_| {
                    let start = Instant::now();
                    f();
                    start.elapsed()
                })
                .collect();
            t.sort();
            t[t.len() / 2]
        };
        let from_files = median(&|| {
            let (_, checked) = tidings_codegen::check_paths(&[dir.path()]).expect("readable");
            let checked = checked.unwrap_or_else(|_| panic!("synthetic set checks"));
            std::hint::black_box(tidings_codegen::ts::generate(&checked.schema, &options));
        });
        let ts_only = median(&|| {
            std::hint::black_box(tidings_codegen::ts::generate(&schema, &options));
        });
        let at_least_ms = match last {
            Some((_, None)) => Some(f64::INFINITY),
            Some((size, Some(ms))) => Some(ms * events as f64 / size as f64),
            None => None,
        };
        let modelina = match at_least_ms {
            Some(ms) if ms > limit.as_secs_f64() * 1e3 => None,
            _ => run_modelina(script, &asyncapi, runs, limit),
        };
        last = Some((events, modelina));
        let ms = |d: Duration| format!("{:.2}ms", d.as_secs_f64() * 1e3);
        let not_run = match at_least_ms {
            Some(ms) if ms.is_finite() && ms > limit.as_secs_f64() * 1e3 => {
                format!("≥ {:.0} s", ms / 1e3)
            }
            _ => format!("> {} s", limit.as_secs()),
        };
        println!(
            "{events:>8} {:>16} {:>13} {:>15} {:>9}",
            ms(from_files),
            ms(ts_only),
            modelina.map_or(not_run, |m| format!("{m:.2}ms")),
            modelina.map_or("-".to_owned(), |m| format!(
                "{:.0}×",
                m / (from_files.as_secs_f64() * 1e3)
            )),
        );
    }
}

/// Runs the Modelina script on `file`; its median in milliseconds, or `None` past `limit`.
fn run_modelina(script: &Path, file: &Path, runs: usize, limit: Duration) -> Option<f64> {
    let mut child = std::process::Command::new("node")
        .arg(script)
        .arg(file)
        .arg(runs.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait for node").is_some() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut out)
        .expect("read");
    let line: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    line["median_ms"].as_f64()
}
