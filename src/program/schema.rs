//! The JSON Schema of program files, generated from the types that read
//! them (schemars), with the text forms of the types that read themselves
//! from text written here, beside their parsers' rules.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::{Minimum, ProgramSpec};
use crate::domain::id::ProgramId;
use crate::domain::participant::Attribute;
use crate::domain::value::{Currency, Value};

/// The JSON Schema (draft 2020-12) of a program file: every field, its type,
/// its default and its description. A TOML program file is checked against
/// it as the JSON it reads as. `docs/program.schema.json` in the repository
/// is this schema, kept current by a test.
///
/// The schema checks the shape of a file; [`ProgramSpec::from_json`] also
/// checks what holds between fields (a cap in an asset some policy grants,
/// an amount no finer than its currency).
///
/// ```
/// let schema = referral_engine::program::json_schema();
/// assert_eq!(schema["title"], "ProgramSpec");
/// assert!(schema["properties"]["policies"].is_object());
/// ```
pub fn json_schema() -> serde_json::Value {
    let schema =
        schemars::generate::SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<ProgramSpec>();
    schema.to_value()
}

/// A string schema with a pattern and a description.
fn text(pattern: &str, description: &str) -> Schema {
    json_schema!({ "type": "string", "pattern": pattern, "description": description })
}

/// An amount: the decimal forms `rust_decimal` reads.
const AMOUNT: &str = r"-?[0-9]+(\.[0-9]+)?";
/// A currency: an ISO 4217 code, or three capitals and their minor units.
const CURRENCY: &str = r"[A-Z]{3}(/[0-9]{1,2})?";

impl JsonSchema for Currency {
    fn schema_name() -> Cow<'static, str> {
        "Currency".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        text(
            &format!("^{CURRENCY}$"),
            "An ISO 4217 code (\"USD\", \"JPY\"), or a currency of one's own with its minor units (\"PTS/0\").",
        )
    }
}

impl JsonSchema for Value {
    fn schema_name() -> Cow<'static, str> {
        "Value".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let asset = format!(r"({CURRENCY}|discount|points(:[^\s]+)?|unit:[^\s]+|entitlement:[^\s]+)");
        text(
            &format!(r"^\s*{AMOUNT} {asset}\s*$"),
            "An amount, a space and an asset: \"5.00 USD\", \"10 PTS/0\", \"500 unit:MB\", \"1000 points\", \
             \"1 entitlement:premium_month\", \"10 discount\" (per cent off). At most 10^15, and no finer than the \
             asset allows (a currency's minor unit).",
        )
    }
}

impl JsonSchema for ProgramId {
    fn schema_name() -> Cow<'static, str> {
        "ProgramId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string", "minLength": 1, "maxLength": crate::domain::id::MAX_ID_LEN,
            "description": "The program's id: 1 to 128 bytes, no control characters."
        })
    }
}

impl JsonSchema for Attribute {
    fn schema_name() -> Cow<'static, str> {
        "Attribute".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A participant attribute: a flag, text, a number, or {\"number\": \"<decimal>\"}.",
            "anyOf": [
                { "type": "boolean" },
                { "type": "string" },
                { "type": "number" },
                {
                    "type": "object", "additionalProperties": false, "required": ["number"],
                    "properties": { "number": { "type": "string", "pattern": format!("^{AMOUNT}$") } }
                }
            ]
        })
    }
}

impl JsonSchema for Minimum {
    fn schema_name() -> Cow<'static, str> {
        "Minimum".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A first purchase's minimum in the program's currency: a value (\"10.00 USD\") or an \
                            amount (\"10.00\", 10).",
            "anyOf": [
                generator.subschema_for::<Value>(),
                { "type": "string", "pattern": format!(r"^\s*{AMOUNT}\s*$") },
                { "type": "number" }
            ]
        })
    }
}
