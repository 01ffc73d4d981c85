//! The dependency rules of ARCHITECTURE.md ("Layers"), checked on the
//! source: a module may name only the layers below it. Comments are not code
//! and are skipped (a doc link may point anywhere).

use std::fs;
use std::path::Path;

/// Every `.rs` file under `path` (or `path` itself), with its code lines.
fn code(path: &Path) -> Vec<(String, Vec<String>)> {
    if path.is_dir() {
        let mut entries: Vec<_> = fs::read_dir(path).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        return entries.iter().flat_map(|p| code(p)).collect();
    }
    if path.extension().is_none_or(|e| e != "rs") {
        return vec![];
    }
    let text = fs::read_to_string(path).unwrap();
    let lines = text.lines().filter(|l| !l.trim_start().starts_with("//")).map(str::to_owned).collect();
    vec![(path.display().to_string(), lines)]
}

fn assert_below(module: &str, forbidden: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = vec![];
    for (file, lines) in code(&root.join(module)) {
        for line in &lines {
            for above in forbidden {
                let grouped = line.contains("crate::{") && line.contains(&format!("{above}::"));
                if line.contains(&format!("crate::{above}")) || grouped {
                    found.push(format!("{file}: `{}` names crate::{above}", line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "{module} reaches up:\n{}", found.join("\n"));
}

#[test]
fn the_domain_names_no_layer_above_it() {
    assert_below("domain", &["event", "store", "engine", "policy", "program", "insight", "simulation"]);
}

#[test]
fn events_know_no_storage_and_no_policy() {
    assert_below("event", &["store", "engine", "policy", "program", "insight", "simulation"]);
}

#[test]
fn policies_see_the_domain_only() {
    assert_below("policy", &["store", "engine", "program", "event", "insight", "simulation"]);
}

#[test]
fn the_program_knows_no_storage() {
    assert_below("program", &["store", "engine", "insight", "simulation"]);
}

#[test]
fn stores_never_call_the_engine() {
    assert_below("store", &["engine", "insight", "simulation", "policy", "program"]);
}
