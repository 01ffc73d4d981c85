//! Program files with mistakes: every error names the field and its line,
//! in JSON and in TOML, for mistakes of type and of meaning alike.
#![allow(clippy::unwrap_used)]

use referral_engine::ProgramSpec;
use referral_engine::program::ProgramFileError;

/// The Dropbox program, one field a line, with `{CAP}` and `{REWARD}` to fill.
const JSON: &str = r#"{
  "id": "dropbox",
  "name": "Dropbox",
  "currency": "USD",
  "limits": {
    "max_rewarded_referrals": {CAP}
  },
  "policies": [
    {
      "type": "two_sided",
      "name": "space",
      "referrer": {"on": "qualified", "reward": {"fixed": "500 unit:MB"}},
      "referee": {"on": "qualified", "reward": {"fixed": {REWARD}}}
    }
  ]
}"#;

fn json(cap: &str, reward: &str) -> Result<ProgramSpec, ProgramFileError> {
    ProgramSpec::from_json(&JSON.replace("{CAP}", cap).replace("{REWARD}", reward))
}

fn at(e: &ProgramFileError) -> (&str, Option<usize>) {
    (e.path(), e.line())
}

#[test]
fn a_good_file_reads_and_builds() {
    let spec = json("32", r#""500 unit:MB""#).unwrap();
    assert_eq!(spec.limits.max_rewarded_referrals, Some(32));
    spec.build().unwrap();
}

#[test]
fn a_value_of_the_wrong_type_names_its_field_and_line() {
    let e = json(r#""32""#, r#""500 unit:MB""#).unwrap_err();
    assert_eq!(at(&e), ("limits.max_rewarded_referrals", Some(6)));
    assert_eq!(e.to_string(), r#"line 6, `limits.max_rewarded_referrals`: invalid type: string "32", expected u64"#);
    let e = json("-3", r#""500 unit:MB""#).unwrap_err();
    assert_eq!(at(&e), ("limits.max_rewarded_referrals", Some(6)));
}

#[test]
fn a_misspelt_field_names_where_it_stands() {
    let text = JSON.replace("max_rewarded_referrals", "max_rewarded_referals").replace("{CAP}", "32");
    let e = ProgramSpec::from_json(&text.replace("{REWARD}", r#""1 USD""#)).unwrap_err();
    assert_eq!(at(&e), ("limits.max_rewarded_referals", Some(6)));
    assert!(e.reason().contains("unknown field `max_rewarded_referals`"), "{e}");
}

#[test]
fn a_value_that_does_not_hold_names_its_field_and_line() {
    // Found only when the program is checked: a reward finer than its currency.
    let e = json("32", r#""0.001 USD""#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 13, `policies[0].referee.reward`: 0.001 USD is finer than its asset allows (2 decimal places)"
    );
    let e = json("32", r#""-500 unit:MB""#).unwrap_err();
    assert_eq!(at(&e), ("policies[0].referee.reward", Some(13)), "{e}");
}

#[test]
fn broken_text_says_its_line() {
    let e = ProgramSpec::from_json("{\n  \"id\": \"p\",\n  \"name\": \n}").unwrap_err();
    assert_eq!(e.line(), Some(4));
    let e = ProgramSpec::from_json(&format!("{}\n}}", JSON.replace("{CAP}", "1").replace("{REWARD}", "\"1 USD\"")))
        .unwrap_err();
    assert_eq!((e.path(), e.line()), ("", Some(17)));
}

#[cfg(feature = "toml")]
mod toml {
    use super::*;

    const TOML: &str = r#"id = "dropbox"
name = "Dropbox"
currency = "USD"

[limits]
max_rewarded_referrals = {CAP}

[[policies]]
type = "two_sided"
name = "space"
referrer = { on = "qualified", reward = { fixed = "500 unit:MB" } }
referee = { on = "qualified", reward = { fixed = {REWARD} } }
"#;

    fn toml(cap: &str, reward: &str) -> Result<ProgramSpec, ProgramFileError> {
        ProgramSpec::from_toml(&TOML.replace("{CAP}", cap).replace("{REWARD}", reward))
    }

    #[test]
    fn the_same_mistakes_in_toml_name_the_same_fields_and_their_lines() {
        let good = toml("32", r#""500 unit:MB""#).unwrap();
        assert_eq!(good, json("32", r#""500 unit:MB""#).unwrap());
        let e = toml(r#""32""#, r#""500 unit:MB""#).unwrap_err();
        assert_eq!(at(&e), ("limits.max_rewarded_referrals", Some(6)), "{e}");
        let e = toml("32", r#""0.001 USD""#).unwrap_err();
        assert_eq!(at(&e), ("policies[0].referee.reward", Some(12)), "{e}");
        let e = ProgramSpec::from_toml(&TOML.replace("{CAP}", "32 32").replace("{REWARD}", "\"1 USD\"")).unwrap_err();
        assert_eq!(at(&e), ("", Some(6)), "{e}");
    }
}

/// The first block of a language in the program-file reference.
#[cfg(feature = "toml")]
fn reference_block(language: &str) -> String {
    let reference = include_str!("../docs/program-files.md");
    let start = reference.find(&format!("```{language}\n")).unwrap() + language.len() + 4;
    let end = start + reference[start..].find("```").unwrap();
    reference[start..end].to_owned()
}

#[cfg(feature = "toml")]
#[test]
fn the_reference_shows_one_program_in_json_and_in_toml() {
    let json = ProgramSpec::from_json(&reference_block("json")).unwrap();
    assert_eq!(ProgramSpec::from_toml(&reference_block("toml")).unwrap(), json);
    assert_eq!(json.limits.budgets.len(), 1);
}
