//! The JSON Schema of program files: `docs/program.schema.json` is the one
//! the library generates, and every program file of the repository passes
//! it (a TOML file as the JSON it reads as) and reads as a program.
//!
//! After a change to the program types: `UPDATE_SCHEMA=1 cargo test -p simulate --test schema`.

use std::path::{Path, PathBuf};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    let generated = serde_json::to_string_pretty(&referral_engine::program::json_schema()).unwrap() + "\n";
    let path = repository().join("docs/program.schema.json");
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == generated,
        "docs/program.schema.json is stale: UPDATE_SCHEMA=1 cargo test -p simulate --test schema"
    );
}

#[test]
fn every_program_file_passes_the_schema() {
    let validator = jsonschema::validator_for(&referral_engine::program::json_schema()).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(repository().join("examples/programs")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let document: serde_json::Value = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => serde_json::from_str(&text).unwrap(),
            Some("toml") => toml::from_str(&text).unwrap(),
            _ => continue,
        };
        let errors: Vec<String> =
            validator.iter_errors(&document).map(|e| format!("{}: {e}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{}:\n{}", path.display(), errors.join("\n"));
        simulate::load(&path).unwrap();
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} program files");
}

#[test]
fn the_schema_refuses_what_the_library_refuses() {
    let validator = jsonschema::validator_for(&referral_engine::program::json_schema()).unwrap();
    let good = serde_json::json!({
        "id": "p", "name": "P", "currency": "USD",
        "policies": [{"type": "one_sided", "name": "r", "on": "sign_up", "reward": {"fixed": "5 USD"}}]
    });
    assert!(validator.is_valid(&good));
    for (pointer, bad) in [
        ("/policies/0/reward/fixed", serde_json::json!("5 usd")),
        ("/policies/0/type", serde_json::json!("three_sided")),
        ("/currency", serde_json::json!("dollars")),
        ("/limits", serde_json::json!({"max_rewarded_referals": 3})),
        ("/hold_days", serde_json::json!(-1)),
    ] {
        let mut document = good.clone();
        match document.pointer_mut(pointer) {
            Some(slot) => *slot = bad,
            None => document["limits"] = bad,
        }
        assert!(!validator.is_valid(&document), "{pointer} = {document}");
    }
}
