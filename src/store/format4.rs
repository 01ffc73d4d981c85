//! Records and outcomes as data format 4 wrote them, read by this version.
//!
//! Format 5 writes four enums flat, as a host's JSON expects them:
//! a [`Role`](crate::domain::ledger::Role) as `"referrer"` or
//! `"ancestor:2"` (format 4: `{"role": "ancestor", "level": 2}`), and
//! [`RewardStatus`](crate::domain::ledger::RewardStatus),
//! [`ReferralStatus`](crate::domain::referral::ReferralStatus) and
//! [`EntryKind`](crate::domain::ledger::EntryKind) as `"available"` or
//! `{"pending": "<until>"}` (format 4: `{"status": "pending", "until": ..}`).
//! A stored body that does not decode as format 5 is read once more after
//! [`upgrade`] rewrote those values in it; the record is written in format 5
//! the next time an event changes it. Nothing else differs between the two.

use serde_json::Value;

/// The fields that held an adjacently tagged enum in format 4: the field's
/// name, the tag's name, and the content's name.
const TAGGED: [(&str, &str, &str); 5] = [
    ("role", "role", "level"),
    ("status", "status", "until"),
    ("status", "status", "reason"),
    ("to", "status", "reason"),
    ("kind", "kind", "ref"),
];

/// Rewrites every format-4 value of [`TAGGED`] in `json` as format 5 writes
/// it; whether it changed anything.
pub(crate) fn upgrade(json: &mut Value) -> bool {
    match json {
        Value::Array(items) => items.iter_mut().fold(false, |changed, item| upgrade(item) | changed),
        Value::Object(fields) => {
            let mut changed = false;
            for (name, value) in fields.iter_mut() {
                if let Some(flat) = flattened(name, value) {
                    *value = flat;
                    changed = true;
                } else {
                    changed |= upgrade(value);
                }
            }
            changed
        }
        _ => false,
    }
}

/// The format-5 form of `value`, the format-4 value of field `name`, if it is one.
fn flattened(name: &str, value: &Value) -> Option<Value> {
    let Value::Object(object) = value else { return None };
    let (_, tag, content) = TAGGED.iter().find(|(field, tag, content)| {
        *field == name && object.contains_key(*tag) && object.keys().all(|k| k == tag || k == content)
    })?;
    let variant = object.get(*tag)?.as_str()?;
    Some(match (object.get(*content), *tag) {
        (Some(level), "role") => Value::String(format!("{variant}:{}", level.as_u64()?)),
        (Some(inner), _) => Value::Object([(variant.to_owned(), inner.clone())].into_iter().collect()),
        (None, _) => Value::String(variant.to_owned()),
    })
}

/// Decodes a stored body: as format 5, or else as format 4 upgraded. The
/// error is format 5's (the body is corrupt in either format).
pub(crate) fn decode<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, serde_json::Error> {
    serde_json::from_str(body).or_else(|current| {
        // Text that is no JSON at all fails here, with its own position.
        let mut json: Value = serde_json::from_str(body)?;
        if !upgrade(&mut json) {
            return Err(current);
        }
        serde_json::from_value(json).map_err(|_| current)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_4_values_read_as_format_5_writes_them() {
        let cases = [
            (r#"{"role":{"role":"referrer"}}"#, r#"{"role":"referrer"}"#),
            (r#"{"role":{"role":"ancestor","level":3}}"#, r#"{"role":"ancestor:3"}"#),
            (
                r#"{"status":{"status":"pending","until":"2026-01-08T09:00:00Z"}}"#,
                r#"{"status":{"pending":"2026-01-08T09:00:00Z"}}"#,
            ),
            (
                r#"{"status":{"status":"rejected","reason":{"review":"no"}}}"#,
                r#"{"status":{"rejected":{"review":"no"}}}"#,
            ),
            (r#"{"history":[{"to":{"status":"attributed"}}]}"#, r#"{"history":[{"to":"attributed"}]}"#),
            (r#"{"kind":{"kind":"payout","ref":"may"}}"#, r#"{"kind":{"payout":"may"}}"#),
            (r#"{"kind":{"kind":"grant"}}"#, r#"{"kind":"grant"}"#),
        ];
        for (format4, format5) in cases {
            let mut json: Value = serde_json::from_str(format4).unwrap();
            assert!(upgrade(&mut json), "{format4}");
            assert_eq!(json, serde_json::from_str::<Value>(format5).unwrap(), "{format4}");
        }
        // Format 5 and values of other shapes stay as they are.
        for same in [r#"{"role":"referrer"}"#, r#"{"status":{"pending":"x"}}"#, r#"{"kind":"email","hash":"ab"}"#] {
            let mut json: Value = serde_json::from_str(same).unwrap();
            assert!(!upgrade(&mut json), "{same}");
        }
    }
}
