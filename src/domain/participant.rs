//! Participants: referrers and referees as one program knows them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::code::ReferralCode;
use super::id::{ParticipantId, ProgramId};
use super::ledger::{Balance, Bucket};
use super::value::{Asset, Value};

/// An attribute the host passes about a participant (a segment, an NPS score).
///
/// In JSON: `true`, `"02139"` (always text, whatever it looks like), and a
/// number either as a JSON number (`42`, `7.5`) or exactly as
/// `{"number": "12.50"}`, the form it is written in, so that it reads back
/// as it was.
///
/// ```
/// use referral_engine::domain::participant::Attribute;
/// let zip: Attribute = serde_json::from_str(r#""02139""#).unwrap();
/// assert_eq!(zip, Attribute::Text("02139".into()));
/// let n = Attribute::Number("12.50".parse().unwrap());
/// let json = serde_json::to_string(&n).unwrap();
/// assert_eq!(json, r#"{"number":"12.50"}"#);
/// assert_eq!(serde_json::from_str::<Attribute>(&json).unwrap(), n);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attribute {
    /// A yes/no attribute.
    Flag(bool),
    /// A number.
    Number(Decimal),
    /// Text.
    Text(String),
}

impl From<bool> for Attribute {
    fn from(b: bool) -> Self {
        Attribute::Flag(b)
    }
}

impl From<Decimal> for Attribute {
    fn from(n: Decimal) -> Self {
        Attribute::Number(n)
    }
}

impl From<i64> for Attribute {
    fn from(n: i64) -> Self {
        Attribute::Number(n.into())
    }
}

impl From<&str> for Attribute {
    fn from(t: &str) -> Self {
        Attribute::Text(t.to_owned())
    }
}

impl From<String> for Attribute {
    fn from(t: String) -> Self {
        Attribute::Text(t)
    }
}

impl Serialize for Attribute {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Attribute::Flag(b) => s.serialize_bool(*b),
            Attribute::Text(t) => s.serialize_str(t),
            Attribute::Number(n) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("number", &n.to_string())?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Attribute {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AttributeVisitor)
    }
}

struct AttributeVisitor;

impl<'de> serde::de::Visitor<'de> for AttributeVisitor {
    type Value = Attribute;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(r#"a boolean, a string, a number or {"number": "<decimal>"}"#)
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Attribute, E> {
        Ok(Attribute::Flag(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Attribute, E> {
        Ok(Attribute::Number(Decimal::from(v)))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Attribute, E> {
        Ok(Attribute::Number(Decimal::from(v)))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Attribute, E> {
        Decimal::try_from(v).map(Attribute::Number).map_err(|_| E::custom("a number out of a decimal's range"))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Attribute, E> {
        Ok(Attribute::Text(v.to_owned()))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Attribute, A::Error> {
        use serde::de::Error as _;
        let Some(key) = map.next_key::<String>()? else { return Err(A::Error::custom("an empty attribute")) };
        if key != "number" {
            return Err(A::Error::unknown_field(&key, &["number"]));
        }
        let text: String = map.next_value()?;
        let n = text.parse::<Decimal>().map_err(|_| A::Error::custom("\"number\" holds no decimal"))?;
        if map.next_key::<String>()?.is_some() {
            return Err(A::Error::custom("an attribute has one field"));
        }
        Ok(Attribute::Number(n))
    }
}

/// Attributes by name.
pub type Attributes = BTreeMap<String, Attribute>;

/// A referrer's running statistics in one program.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ReferrerStats {
    /// Invites sent.
    pub invites: u64,
    /// Sign-ups with their codes (attributed referrals).
    pub signups: u64,
    /// Referrals that qualified ("leads").
    pub qualified: u64,
    /// Referees who made at least one purchase ("sales").
    pub sales: u64,
    /// Referrals on which they were granted a referrer reward.
    pub rewarded_referrals: u64,
    /// Net earned as referrer or ancestor, per asset (for per-referrer caps).
    pub earned: crate::domain::map::Map<Asset, Decimal>,
}

impl ReferrerStats {
    /// Lead-to-sale conversion in per cent (zero with no leads).
    pub fn conversion_percent(&self) -> Decimal {
        if self.qualified == 0 {
            return Decimal::ZERO;
        }
        // u64 counts times 100 fit a decimal; the divisor is not zero.
        Decimal::from(self.sales)
            .checked_mul(Decimal::ONE_HUNDRED)
            .and_then(|x| x.checked_div(Decimal::from(self.qualified)))
            .unwrap_or(Decimal::ZERO)
    }

    /// Net earned in one asset.
    pub fn earned_in(&self, asset: &Asset) -> Decimal {
        self.earned.get(asset).copied().unwrap_or_default()
    }
}

/// A participant of one program: enrolled referrer, referee, or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Participant {
    /// The program.
    pub program: ProgramId,
    /// The host's id.
    pub id: ParticipantId,
    /// When they enrolled as a referrer, if they have.
    pub enrolled_at: Option<DateTime<Utc>>,
    /// When they first appeared (enrolled or signed up).
    pub joined_at: DateTime<Utc>,
    /// Suspended participants earn nothing new.
    pub suspended: bool,
    /// The segment the host assigned (routes policies).
    pub segment: Option<String>,
    /// The A/B variant the referrer was assigned at enrollment, if the program has variants.
    #[serde(default)]
    pub variant: Option<String>,
    /// Attributes passed at enrollment.
    pub attributes: Attributes,
    /// Their codes.
    pub codes: Vec<ReferralCode>,
    /// Who referred them, if anyone.
    pub referred_by: Option<ParticipantId>,
    /// Their statistics as a referrer.
    pub stats: ReferrerStats,
    /// Their balances, one per asset.
    pub balances: crate::domain::map::Map<Asset, Balance>,
    /// Times of their recent referrals, for the velocity limit.
    pub recent_referrals: Vec<DateTime<Utc>>,
    /// Their identity signals, hashed.
    #[serde(default)]
    pub signals: Vec<crate::fraud::Signal>,
}

impl Participant {
    pub(crate) fn new(program: ProgramId, id: ParticipantId, now: DateTime<Utc>) -> Self {
        Self {
            program,
            id,
            enrolled_at: None,
            joined_at: now,
            suspended: false,
            segment: None,
            variant: None,
            attributes: Attributes::new(),
            codes: Vec::new(),
            referred_by: None,
            stats: ReferrerStats::default(),
            balances: crate::domain::map::Map::new(),
            recent_referrals: Vec::new(),
            signals: Vec::new(),
        }
    }

    /// The balance in one asset (zero when none).
    pub fn balance(&self, asset: &Asset) -> Balance {
        self.balances.get(asset).cloned().unwrap_or_else(|| Balance::zero(asset.clone()))
    }

    pub(crate) fn post(&mut self, value: &Value, bucket: Bucket) -> Result<(), crate::domain::value::ValueError> {
        self.balances
            .get_or_insert_with(value.asset().clone(), || Balance::zero(value.asset().clone()))
            .apply(bucket, value.amount())
    }
}
