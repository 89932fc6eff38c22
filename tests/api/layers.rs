//! The layers point one way: `domain` (pure rules) ← `store` (rows in and
//! out) ← `app` (use cases) ← adapters (`api`, `peer`, timers) ← `startup`
//! and the commands that run nodes (`cli`, `demo`, `bench`). This scans every `crate::…` path in the non-test code
//! of `src/` and fails on an import from a layer above.
//!
//! `KNOWN` would list imports that still point the wrong way while code is
//! being moved (it is empty); the test fails on any other, and on a listed
//! one that is gone, so the list only shrinks.

use std::collections::BTreeSet;
use std::path::Path;

/// The layer of a top-level module (a folder or a file of `src/`).
fn layer(module: &str) -> Option<u8> {
    Some(match module {
        // Pure: no I/O.
        "domain" | "audit" | "meter" => 0,
        "store" => 1,
        "app" => 2,
        "api" | "peer" | "tls" | "config" | "telemetry" | "replica" => 3,
        // What assembles and runs nodes: the binary, its commands, the demo
        // and the bench.
        "startup" | "main" | "lib" | "cli" | "demo" | "bench" => 4,
        _ => return None,
    })
}

/// Imports that still point up: (file under `src/`, module imported).
const KNOWN: &[(&str, &str)] = &[];

/// The non-test code of a source file (what comes before `#[cfg(test)]`).
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.split("#[cfg(test)]").next().unwrap().to_owned()
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut found = BTreeSet::new();
    for path in files {
        let rel = path
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let own = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_owned();
        let Some(own_layer) = layer(&own) else {
            panic!("src/{rel}: module `{own}` has no layer; add it to `layer`");
        };
        let code = code_of(&path);
        for (at, _) in code.match_indices("crate::") {
            let target: String = code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if let Some(l) = layer(&target) {
                if l > own_layer {
                    found.insert((rel.clone(), target));
                }
            }
        }
    }
    let known: BTreeSet<(String, String)> = KNOWN
        .iter()
        .map(|&(f, m)| (f.to_owned(), m.to_owned()))
        .collect();
    let new: Vec<_> = found.difference(&known).collect();
    let gone: Vec<_> = known.difference(&found).collect();
    assert!(
        new.is_empty(),
        "imports from a layer above (move the code to its layer): {new:?}"
    );
    assert!(
        gone.is_empty(),
        "no longer imported: remove from KNOWN in tests/api/layers.rs: {gone:?}"
    );
}

/// Only storage speaks SQL: no query builder, schema or raw SQL in the
/// domain, the use cases or the adapters (a use case that needs rows asks a
/// store function). The bench's durable-commit ceiling, which measures the
/// disk on a scratch table of its own, is the one other place.
#[test]
fn only_storage_builds_queries() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut found = Vec::new();
    for path in files {
        let rel = path
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let checked = ["domain/", "audit/", "app/", "api/", "peer/"];
        if !checked.iter().any(|l| rel.starts_with(l)) {
            continue;
        }
        let code = code_of(&path);
        for needle in [
            "diesel::prelude",
            "store::schema",
            "sql_query",
            "diesel::insert_into",
            "diesel::update",
            "diesel::delete",
        ] {
            if code.contains(needle) {
                found.push(format!("src/{rel}: {needle}"));
            }
        }
    }
    assert!(found.is_empty(), "queries outside src/store/: {found:?}");
}

/// The adapters (the caseworker API, the peer listener and client, the
/// timers' home in `startup`) go through the use cases: of storage they
/// know only the database handle and its error (`Db`, `DbError`,
/// `AnyConnection`).
#[test]
fn the_adapters_reach_storage_only_through_the_use_cases() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src.join("api"), &mut files);
    sources(&src.join("peer"), &mut files);
    let allowed = ["Db", "DbError", "AnyConnection"];
    let mut found = Vec::new();
    for path in files {
        let code = code_of(&path);
        for (at, _) in code.match_indices("crate::store") {
            let rest = &code[at + "crate::store".len()..];
            let item: String = rest
                .trim_start_matches("::")
                .trim_start_matches('{')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let group: Vec<String> = if rest.starts_with("::{") {
                rest[3..rest.find('}').unwrap()]
                    .split(',')
                    .map(|s| s.trim().split(' ').next().unwrap().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            } else {
                vec![item]
            };
            for g in group {
                if !allowed.contains(&g.as_str()) {
                    found.push(format!("{}: crate::store::{g}", path.display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "the API reaches into storage: {found:?}");
}

/// A file past ~600 lines of non-test code is doing two jobs.
#[test]
fn no_source_file_does_two_jobs() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let lines = code_of(path).lines().count();
            (lines > 600).then(|| format!("{}: {lines}", path.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these files by job: {long:?}");
}

/// The use cases open their transactions: no handler of the caseworker API
/// reads or writes through the database handle itself (the health checks
/// only ask it whether it answers).
#[test]
fn the_api_opens_no_transaction() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src.join("api"), &mut files);
    let mut found = Vec::new();
    for path in files {
        let code: String = code_of(&path).split_whitespace().collect();
        for needle in [
            ".db.read(",
            ".db.write(",
            "read_blocking(",
            "write_blocking(",
        ] {
            if code.contains(needle) {
                found.push(format!("{}: {needle}", path.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "transactions opened in the API: {found:?}"
    );
}
