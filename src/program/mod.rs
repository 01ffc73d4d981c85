//! Programs: the terms a referral program runs under, defined in code or
//! loaded from JSON or TOML and validated on load.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::catalog::CatalogItem;
use crate::domain::id::ProgramId;
use crate::domain::participant::{Attribute, Attributes};
use crate::domain::value::{Asset, Currency, Rounding, Value};
use crate::policy::{PolicySpec, RewardPolicy, Terms};

mod file;
#[cfg(feature = "schema")]
mod schema;

pub use file::ProgramFileError;
#[cfg(feature = "schema")]
#[cfg_attr(docsrs, doc(cfg(feature = "schema")))]
pub use schema::json_schema;

/// Whether a program is running.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProgramStatus {
    /// Being written; takes no events.
    Draft,
    /// Running.
    #[default]
    Active,
    /// Stopped for now; takes no events.
    Paused,
    /// Over; takes no events.
    Ended,
}

/// Which touch a sign-up is attributed to.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AttributionModel {
    /// The first referrer keeps the referee; a second sign-up code is refused.
    #[default]
    FirstTouch,
    /// A later code takes over an attribution that has not yet qualified.
    /// Once the referral qualifies, attribution is locked.
    LastTouch,
}

/// How sign-ups are attributed.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Attribution {
    /// First or last touch.
    #[serde(default)]
    pub model: AttributionModel,
    /// Days from the click on a link to the sign-up within which the sign-up
    /// is attributed (none: no limit).
    #[serde(default)]
    pub window_days: Option<u32>,
}

/// What makes a referral qualify.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Qualification {
    /// Signing up.
    #[default]
    SignUp,
    /// A first purchase at or above a minimum amount of the program's currency.
    FirstPurchase {
        /// The minimum (none: any amount).
        #[serde(default)]
        minimum: Option<Minimum>,
    },
    /// A named custom action of the referee ("installed", "verified").
    Action(String),
}

/// A first purchase's minimum, in the program's currency: written like any
/// value, `"10.00 USD"`, or as the bare amount, `"10.00"` or `10`. Either way
/// it is checked at build: the program's currency, at its scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Minimum {
    /// A value (`"10.00 USD"`).
    Value(Value),
    /// An amount of the program's currency (`"10.00"`).
    Amount(Decimal),
}

impl Minimum {
    /// The amount, in the program's currency.
    pub fn amount(&self) -> Decimal {
        match self {
            Minimum::Value(v) => v.amount(),
            Minimum::Amount(a) => *a,
        }
    }
}

impl From<Decimal> for Minimum {
    fn from(amount: Decimal) -> Self {
        Minimum::Amount(amount)
    }
}

impl<'de> Deserialize<'de> for Minimum {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Text (a value or a decimal) or a number.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(Decimal),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(Minimum::Amount(n)),
            Raw::Text(t) if t.trim().contains(' ') => t.parse().map(Minimum::Value).map_err(serde::de::Error::custom),
            Raw::Text(t) => t.trim().parse().map(Minimum::Amount).map_err(|_| {
                serde::de::Error::custom(format!("{t:?} is neither an amount (\"10.00\") nor a value (\"10.00 USD\")"))
            }),
        }
    }
}

/// What to do with a grant that would cross a program budget.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BudgetMode {
    /// Grant what is left of the budget.
    #[default]
    Cut,
    /// Grant nothing.
    Refuse,
}

/// At most `max` referrals per referrer within `window_hours`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Velocity {
    /// Referrals allowed in the window.
    pub max: u32,
    /// The window, in hours.
    pub window_hours: u32,
}

/// Limits the engine enforces whatever the policy.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Limits {
    /// The most referrals one referrer is rewarded for (Dropbox: 32).
    #[serde(default)]
    pub max_rewarded_referrals: Option<u64>,
    /// The most one referrer earns as referrer or ancestor, per asset.
    #[serde(default)]
    pub referrer_caps: Vec<Value>,
    /// The most the program grants in all, per asset.
    #[serde(default)]
    pub budgets: Vec<Value>,
    /// What a grant that would cross a budget gets.
    #[serde(default)]
    pub budget_mode: BudgetMode,
    /// Referrals per referrer per time window; beyond it, referrals are rejected.
    #[serde(default)]
    pub velocity: Option<Velocity>,
}

impl Limits {
    /// The cap per referrer for an asset.
    pub fn referrer_cap(&self, asset: &Asset) -> Option<Decimal> {
        self.referrer_caps.iter().find(|v| v.asset() == asset).map(Value::amount)
    }

    /// The budget for an asset.
    pub fn budget(&self, asset: &Asset) -> Option<Decimal> {
        self.budgets.iter().find(|v| v.asset() == asset).map(Value::amount)
    }
}

/// A rule over the attributes a host passes at enrollment.
///
/// ```
/// use referral_engine::program::Rule;
/// let rule: Rule = serde_json::from_str(
///     r#"{"all": [{"equals": ["segment", "customer"]}, {"at_least": ["nps", 9]}]}"#,
/// ).unwrap();
/// let mut attrs = referral_engine::domain::participant::Attributes::new();
/// attrs.insert("segment".into(), referral_engine::domain::participant::Attribute::Text("customer".into()));
/// attrs.insert("nps".into(), referral_engine::domain::participant::Attribute::Number(10.into()));
/// assert!(rule.matches(&attrs));
/// ```
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rule {
    /// Every rule holds.
    All(Vec<Rule>),
    /// Some rule holds.
    Any(Vec<Rule>),
    /// The rule does not hold.
    Not(Box<Rule>),
    /// The attribute equals the value.
    Equals(String, Attribute),
    /// The attribute is one of the values.
    OneOf(String, Vec<Attribute>),
    /// The attribute is a number at least this.
    AtLeast(String, Decimal),
    /// The attribute is a number at most this.
    AtMost(String, Decimal),
    /// The attribute is present.
    Present(String),
}

impl Rule {
    /// Whether the attributes satisfy the rule.
    pub fn matches(&self, attrs: &Attributes) -> bool {
        let number = |name: &str| match attrs.get(name) {
            Some(Attribute::Number(n)) => Some(*n),
            _ => None,
        };
        match self {
            Rule::All(rules) => rules.iter().all(|r| r.matches(attrs)),
            Rule::Any(rules) => rules.iter().any(|r| r.matches(attrs)),
            Rule::Not(rule) => !rule.matches(attrs),
            Rule::Equals(name, v) => attrs.get(name) == Some(v),
            Rule::OneOf(name, vs) => attrs.get(name).is_some_and(|a| vs.contains(a)),
            Rule::AtLeast(name, n) => number(name).is_some_and(|x| x >= *n),
            Rule::AtMost(name, n) => number(name).is_some_and(|x| x <= *n),
            Rule::Present(name) => attrs.contains_key(name),
        }
    }
}

/// A program definition as data. Build it in code with [`ProgramSpec::new`]
/// and the `with_*` methods, or deserialize it, then validate it with
/// [`ProgramSpec::build`].
///
/// ```
/// use referral_engine::ProgramSpec;
/// let json = r#"{
///   "id": "dropbox", "name": "Dropbox", "currency": "USD",
///   "limits": {"max_rewarded_referrals": 32},
///   "policies": [{"type": "two_sided", "name": "space",
///     "referrer": {"on": "qualified", "reward": {"fixed": "500 unit:MB"}},
///     "referee":  {"on": "qualified", "reward": {"fixed": "500 unit:MB"}}}]
/// }"#;
/// let program = serde_json::from_str::<ProgramSpec>(json).unwrap().build().unwrap();
/// assert_eq!(program.id().as_str(), "dropbox");
/// ```
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ProgramSpec {
    /// The program's id.
    pub id: ProgramId,
    /// A display name.
    pub name: String,
    /// Running or not.
    #[serde(default)]
    pub status: ProgramStatus,
    /// Events before this are refused.
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// Events from this on are refused.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// The currency purchases are made in.
    pub currency: Currency,
    /// How computed money is rounded.
    #[serde(default)]
    pub rounding: Rounding,
    /// Who may enroll as a referrer (none: anyone).
    #[serde(default)]
    pub enrollment: Option<Rule>,
    /// How sign-ups are attributed.
    #[serde(default)]
    pub attribution: Attribution,
    /// What makes a referral qualify.
    #[serde(default)]
    pub qualification: Qualification,
    /// Days after sign-up within which a referral must qualify, or it expires.
    #[serde(default)]
    pub qualification_window_days: Option<u32>,
    /// Days a reward stays pending before it becomes available.
    #[serde(default)]
    pub hold_days: u32,
    /// Limits.
    #[serde(default)]
    pub limits: Limits,
    /// The built-in reward policies.
    #[serde(default)]
    pub policies: Vec<PolicySpec>,
    /// Items points can be redeemed for.
    #[serde(default)]
    pub catalog: Vec<CatalogItem>,
    /// Fraud rules on identity signals.
    #[serde(default)]
    pub fraud: crate::fraud::FraudRules,
    /// A/B variants: each referrer is assigned one, by a hash of the program
    /// and their id, and runs under its policies besides the common ones.
    #[serde(default)]
    pub variants: Vec<VariantSpec>,
}

/// One A/B variant of a program's rewards.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VariantSpec {
    /// Its name, as reports show it.
    pub name: String,
    /// Its share of referrers, relative to the other variants' weights.
    pub weight: u32,
    /// Its policies.
    pub policies: Vec<PolicySpec>,
}

impl VariantSpec {
    /// A variant.
    pub fn new(name: impl Into<String>, weight: u32, policies: Vec<PolicySpec>) -> Self {
        Self { name: name.into(), weight, policies }
    }
}

impl ProgramSpec {
    /// An active program with no policies yet.
    pub fn new(id: ProgramId, name: impl Into<String>, currency: Currency) -> Self {
        Self {
            id,
            name: name.into(),
            status: ProgramStatus::Active,
            starts_at: None,
            ends_at: None,
            currency,
            rounding: Rounding::default(),
            enrollment: None,
            attribution: Attribution::default(),
            qualification: Qualification::default(),
            qualification_window_days: None,
            hold_days: 0,
            limits: Limits::default(),
            policies: Vec::new(),
            catalog: Vec::new(),
            fraud: crate::fraud::FraudRules::default(),
            variants: Vec::new(),
        }
    }

    /// Adds a built-in policy.
    pub fn with_policy(mut self, policy: PolicySpec) -> Self {
        self.policies.push(policy);
        self
    }

    /// Sets the qualification trigger.
    pub fn with_qualification(mut self, q: Qualification) -> Self {
        self.qualification = q;
        self
    }

    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the hold period in days.
    pub fn with_hold_days(mut self, days: u32) -> Self {
        self.hold_days = days;
        self
    }

    /// Adds a catalog item.
    pub fn with_catalog_item(mut self, item: CatalogItem) -> Self {
        self.catalog.push(item);
        self
    }

    /// Adds an A/B variant.
    pub fn with_variant(mut self, variant: VariantSpec) -> Self {
        self.variants.push(variant);
        self
    }

    /// Sets the status.
    pub fn with_status(mut self, status: ProgramStatus) -> Self {
        self.status = status;
        self
    }

    /// Validates the definition and builds the program. Errors name the field.
    ///
    /// A program needs at least one built-in policy; one run by a policy of
    /// the host's own is built with [`Self::build_with`].
    pub fn build(self) -> Result<Program, ProgramError> {
        self.build_with(Vec::new())
    }

    /// Validates the definition and builds the program with policies of the
    /// host's own besides the built-in ones (which may then be none).
    pub fn build_with(self, custom: Vec<Arc<dyn RewardPolicy>>) -> Result<Program, ProgramError> {
        self.check_bounds()?;
        if self.name.trim().is_empty() {
            return Err(ProgramError::invalid("name", "is empty"));
        }
        if let (Some(s), Some(e)) = (self.starts_at, self.ends_at)
            && e <= s
        {
            return Err(ProgramError::invalid("ends_at", format!("{e} is not after starts_at {s}")));
        }
        if self.attribution.window_days == Some(0) {
            return Err(ProgramError::invalid("attribution.window_days", "is zero"));
        }
        if self.qualification_window_days == Some(0) {
            return Err(ProgramError::invalid("qualification_window_days", "is zero"));
        }
        match &self.qualification {
            Qualification::FirstPurchase { minimum: Some(m) } if m.amount() < Decimal::ZERO => {
                return Err(ProgramError::invalid("qualification.first_purchase.minimum", "is negative"));
            }
            Qualification::FirstPurchase { minimum: Some(Minimum::Value(v)) }
                if *v.asset() != Asset::Money(self.currency) =>
            {
                return Err(ProgramError::invalid(
                    "qualification.first_purchase.minimum",
                    format!("{v} is not in the program's currency, {}", self.currency),
                ));
            }
            Qualification::Action(name) if !crate::domain::id::is_name(name) => {
                return Err(ProgramError::invalid(
                    "qualification.action",
                    format!("{name:?} is not 1 to 64 printable characters: no event could send it"),
                ));
            }
            _ => {}
        }
        for (field, values) in
            [("limits.referrer_caps", &self.limits.referrer_caps), ("limits.budgets", &self.limits.budgets)]
        {
            for (i, v) in values.iter().enumerate() {
                if v.amount() < Decimal::ZERO {
                    return Err(ProgramError::invalid(&format!("{field}[{i}]"), format!("{v} is negative")));
                }
                if values.iter().filter(|o| o.asset() == v.asset()).count() > 1 {
                    return Err(ProgramError::invalid(
                        &format!("{field}[{i}]"),
                        format!("{} appears twice", v.asset()),
                    ));
                }
            }
        }
        // A cap or budget in an asset no policy grants would never apply
        // (checked when every policy is a built-in one: a host's own may
        // grant anything).
        if custom.is_empty() {
            let specs = || self.policies.iter().chain(self.variants.iter().flat_map(|v| &v.policies));
            for (field, values) in
                [("limits.referrer_caps", &self.limits.referrer_caps), ("limits.budgets", &self.limits.budgets)]
            {
                for (i, v) in values.iter().enumerate() {
                    if !specs().any(|p| p.can_grant(v.asset())) {
                        return Err(ProgramError::invalid(
                            &format!("{field}[{i}]"),
                            format!("{v} is in an asset no policy grants: it would never apply"),
                        ));
                    }
                }
            }
        }
        if let Some(v) = self.limits.velocity
            && (v.max == 0 || v.window_hours == 0)
        {
            return Err(ProgramError::invalid("limits.velocity", "max and window_hours must be above zero"));
        }
        for (i, item) in self.catalog.iter().enumerate() {
            if !item.price.is_positive() {
                return Err(ProgramError::invalid(&format!("catalog[{i}].price"), "is not above zero"));
            }
            if self.catalog.iter().filter(|o| o.id == item.id).count() > 1 {
                return Err(ProgramError::invalid(&format!("catalog[{i}].id"), format!("{:?} appears twice", item.id)));
            }
        }
        let policies = self
            .policies
            .iter()
            .enumerate()
            .map(|(i, p)| p.build(&format!("policies[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut variants = Vec::with_capacity(self.variants.len());
        for (i, v) in self.variants.iter().enumerate() {
            if v.name.trim().is_empty() || self.variants.iter().filter(|o| o.name == v.name).count() > 1 {
                return Err(ProgramError::invalid(
                    &format!("variants[{i}].name"),
                    format!("{:?} is empty or appears twice", v.name),
                ));
            }
            if v.weight == 0 {
                return Err(ProgramError::invalid(&format!("variants[{i}].weight"), "is zero"));
            }
            let built = v
                .policies
                .iter()
                .enumerate()
                .map(|(j, p)| p.build(&format!("variants[{i}].policies[{j}]")))
                .collect::<Result<Vec<_>, _>>()?;
            variants.push((v.name.clone(), v.weight, built));
        }
        // Every rule that can run for one referral has a name of its own (it
        // keys the once-per-referee mark and a referral's earnings by rule):
        // the common policies, the host's own, and each variant's.
        let common: Vec<&str> = policies.iter().chain(&custom).map(|p| p.name()).collect();
        crate::policy::unique_names(&common, |i| format!("policies[{i}].name")).map_err(ProgramError::from)?;
        for (i, (_, _, built)) in variants.iter().enumerate() {
            let names: Vec<&str> = common.iter().copied().chain(built.iter().map(|p| p.name())).collect();
            crate::policy::unique_names(&names, |j| match j.checked_sub(common.len()) {
                Some(k) => format!("variants[{i}].policies[{k}].name"),
                None => format!("policies[{j}].name"),
            })
            .map_err(ProgramError::from)?;
        }
        if policies.is_empty() && variants.iter().all(|(_, _, p)| p.is_empty()) && custom.is_empty() {
            return Err(ProgramError::invalid("policies", "is empty: a program needs a policy to reward anyone"));
        }
        let terms = Terms { currency: self.currency, rounding: self.rounding };
        let mut policies = policies;
        policies.extend(custom);
        Ok(Program { spec: self, terms, policies, variants })
    }

    /// Durations within [`MAX_DAYS`] / [`MAX_HOURS`], and every value of
    /// the limits, the catalog and the qualification within its asset's
    /// bounds (see [`Value::check_bounds`]).
    fn check_bounds(&self) -> Result<(), ProgramError> {
        let days = [
            ("hold_days", Some(self.hold_days)),
            ("qualification_window_days", self.qualification_window_days),
            ("attribution.window_days", self.attribution.window_days),
        ];
        for (field, value) in days {
            if value.is_some_and(|d| d > MAX_DAYS) {
                return Err(ProgramError::invalid(field, format!("is above {MAX_DAYS} days")));
            }
        }
        let mut hours = vec![("limits.velocity.window_hours".to_owned(), self.limits.velocity.map(|v| v.window_hours))];
        for (i, v) in self.fraud.signal_velocity.iter().enumerate() {
            hours.push((format!("fraud.signal_velocity[{i}].window_hours"), Some(v.window_hours)));
        }
        for (field, value) in hours {
            if value.is_some_and(|h| h > MAX_HOURS) {
                return Err(ProgramError::invalid(&field, format!("is above {MAX_HOURS} hours")));
            }
        }
        let bounded = |field: String, v: &Value| v.check_bounds().map_err(|e| ProgramError::invalid(&field, e));
        for (i, v) in self.limits.referrer_caps.iter().enumerate() {
            bounded(format!("limits.referrer_caps[{i}]"), v)?;
        }
        for (i, v) in self.limits.budgets.iter().enumerate() {
            bounded(format!("limits.budgets[{i}]"), v)?;
        }
        for (i, item) in self.catalog.iter().enumerate() {
            bounded(format!("catalog[{i}].price"), &item.price)?;
            if let Some(gives) = &item.gives {
                bounded(format!("catalog[{i}].gives"), gives)?;
            }
        }
        if let Qualification::FirstPurchase { minimum: Some(m) } = &self.qualification {
            let m = Value::new(Asset::Money(self.currency), m.amount());
            bounded("qualification.first_purchase.minimum".into(), &m)?;
        }
        Ok(())
    }
}

/// The longest duration in days a program takes (a hold, a window): 100 years.
pub const MAX_DAYS: u32 = 36_500;
/// The longest window in hours a program takes: 100 years.
pub const MAX_HOURS: u32 = 876_000;

/// A validated program, ready to run.
#[derive(Debug, Clone)]
pub struct Program {
    spec: ProgramSpec,
    terms: Terms,
    policies: Vec<Arc<dyn RewardPolicy>>,
    variants: Vec<(String, u32, Policies)>,
}

/// A list of built policies.
type Policies = Vec<Arc<dyn RewardPolicy>>;

impl Program {
    /// The program's id.
    pub fn id(&self) -> &ProgramId {
        &self.spec.id
    }

    /// The definition it was built from.
    pub fn spec(&self) -> &ProgramSpec {
        &self.spec
    }

    /// The terms policies see.
    pub fn terms(&self) -> &Terms {
        &self.terms
    }

    /// Every policy, built-in and custom, in the order they run.
    pub fn policies(&self) -> &[Arc<dyn RewardPolicy>] {
        &self.policies
    }

    /// Adds a policy of the host's own.
    pub fn with_policy(mut self, policy: Arc<dyn RewardPolicy>) -> Self {
        self.policies.push(policy);
        self
    }

    /// How many levels of referrers the policies need.
    pub fn chain_depth(&self) -> usize {
        self.policies
            .iter()
            .chain(self.variants.iter().flat_map(|(_, _, p)| p))
            .map(|p| p.chain_depth())
            .max()
            .unwrap_or(1)
            .clamp(1, 16)
    }

    /// The variant a referrer is assigned to: stable, by a hash (UUID v5,
    /// SHA-1) of the program id and the participant id, spread by weight.
    pub fn assign_variant(&self, participant: &crate::domain::id::ParticipantId) -> Option<&str> {
        let total = self.variants.iter().fold(0u64, |sum, (_, w, _)| sum.saturating_add(u64::from(*w)));
        if total == 0 {
            return None;
        }
        let name = format!("{}\u{0}{}", self.spec.id, participant);
        let (high, _) = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).as_u64_pair();
        let mut pick = high.checked_rem(total)?;
        for (name, weight, _) in &self.variants {
            if pick < u64::from(*weight) {
                return Some(name);
            }
            pick = pick.saturating_sub(u64::from(*weight));
        }
        None
    }

    /// The policies of a variant (none for an unknown name).
    pub fn variant_policies(&self, name: &str) -> &[Arc<dyn RewardPolicy>] {
        self.variants.iter().find(|(n, _, _)| n == name).map_or(&[], |(_, _, p)| p.as_slice())
    }

    /// The hold period.
    pub fn hold(&self) -> Duration {
        Duration::days(i64::from(self.spec.hold_days))
    }

    /// A catalog item by id.
    pub fn catalog_item(&self, id: &str) -> Option<&CatalogItem> {
        self.spec.catalog.iter().find(|i| i.id == id)
    }
}

/// A program definition that does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProgramError {
    /// A field's value is invalid.
    #[error("program field `{field}`: {reason}")]
    Invalid {
        /// The field's path (`policies[1].levels[0].reward`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl From<crate::policy::InvalidSpec> for ProgramError {
    fn from(e: crate::policy::InvalidSpec) -> Self {
        Self::Invalid { field: e.field, reason: e.reason }
    }
}

impl ProgramError {
    pub(crate) fn invalid(field: &str, reason: impl fmt::Display) -> Self {
        Self::Invalid { field: field.to_owned(), reason: reason.to_string() }
    }
}
