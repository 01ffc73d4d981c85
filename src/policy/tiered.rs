//! Tiered: the referrer's reward grows with their performance.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::InvalidSpec;
use super::{Amount, Grant, On, PolicyContext, PolicyError, RewardPolicy, Trigger, check_name};
use crate::domain::ledger::Role;
use crate::domain::value::Value;

/// What the tiers are measured on.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TierBasis {
    /// The referrer's qualified referrals, this one included. A tier applies
    /// when the count is at least its threshold (bands 1-5, 6-20, 21+ are
    /// thresholds 1, 6, 21).
    QualifiedCount,
    /// The referrer's lead-to-sale conversion in per cent: referees who made a
    /// purchase over qualified referrals, this trigger included. A tier applies
    /// when the rate is strictly above its threshold ("350 above 10%"); a tier
    /// with threshold zero applies at any rate, zero included (the base rate).
    Conversion,
}

/// One tier: its threshold and its reward.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Tier {
    /// The threshold (see [`TierBasis`] for how it compares).
    pub threshold: Decimal,
    /// What the referrer earns in this tier.
    pub reward: Amount,
}

impl Tier {
    /// A tier.
    pub fn new(threshold: Decimal, reward: Amount) -> Self {
        Self { threshold, reward }
    }
}

/// A one-off bonus when the referrer's qualified count reaches a number.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Milestone {
    /// The qualified count that earns it.
    pub count: u64,
    /// The bonus.
    pub bonus: Value,
}

/// The reward depends on the referrer's count of qualified referrals or on
/// their conversion rate; milestones add one-off bonuses.
///
/// A tier change applies going forward only: each trigger is paid at the tier
/// the referrer is in at that moment, and earlier rewards are not revisited.
/// The highest tier whose threshold is met wins; below the lowest, nothing is paid.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Tiered {
    /// The rule's name.
    pub name: String,
    /// When it fires (`qualified` for "per lead").
    pub on: On,
    /// What the tiers measure.
    pub basis: TierBasis,
    /// The tiers, any order.
    pub tiers: Vec<Tier>,
    /// One-off bonuses by qualified count.
    #[serde(default)]
    pub milestones: Vec<Milestone>,
}

impl Tiered {
    /// A tiered rule without milestones.
    pub fn new(name: impl Into<String>, on: On, basis: TierBasis, tiers: Vec<Tier>) -> Self {
        Self { name: name.into(), on, basis, tiers, milestones: vec![] }
    }

    /// Adds a milestone bonus.
    pub fn with_milestone(mut self, count: u64, bonus: Value) -> Self {
        self.milestones.push(Milestone { count, bonus });
        self
    }

    pub(super) fn validate(&self, field: &str) -> Result<(), InvalidSpec> {
        check_name(field, &self.name)?;
        if self.tiers.is_empty() {
            return Err(InvalidSpec::new(&format!("{field}.tiers"), "at least one tier is needed"));
        }
        for (i, t) in self.tiers.iter().enumerate() {
            t.reward.validate(&format!("{field}.tiers[{i}].reward"), &self.on)?;
            if t.threshold < Decimal::ZERO {
                return Err(InvalidSpec::new(&format!("{field}.tiers[{i}].threshold"), "is negative"));
            }
            if self.tiers.iter().filter(|o| o.threshold == t.threshold).count() > 1 {
                return Err(InvalidSpec::new(
                    &format!("{field}.tiers[{i}].threshold"),
                    format!("{} appears twice: which tier applies would be ambiguous", t.threshold),
                ));
            }
        }
        for (i, m) in self.milestones.iter().enumerate() {
            if m.count == 0 {
                return Err(InvalidSpec::new(&format!("{field}.milestones[{i}].count"), "is zero"));
            }
            super::check_value(&format!("{field}.milestones[{i}].bonus"), &m.bonus)?;
        }
        Ok(())
    }

    /// The tier in force for a measure, if any.
    pub fn tier_for(&self, measure: Decimal) -> Option<&Tier> {
        self.tiers
            .iter()
            .filter(|t| match self.basis {
                TierBasis::QualifiedCount => measure >= t.threshold,
                TierBasis::Conversion => measure > t.threshold || t.threshold.is_zero(),
            })
            .max_by(|a, b| a.threshold.cmp(&b.threshold))
    }
}

impl RewardPolicy for Tiered {
    fn name(&self) -> &str {
        &self.name
    }

    fn grants(&self, ctx: &PolicyContext<'_>) -> Result<Vec<Grant>, PolicyError> {
        let (Some(referrer), Some(stats)) = (ctx.referrer(), ctx.stats) else {
            return Ok(vec![]);
        };
        let mut out = Vec::new();
        if self.on.matches(ctx.trigger) {
            let (measure, label) = match self.basis {
                TierBasis::QualifiedCount => {
                    (Decimal::from(stats.qualified), format!("{} qualified referrals", stats.qualified))
                }
                TierBasis::Conversion => {
                    let rate = stats.conversion_percent();
                    (
                        rate,
                        format!(
                            "conversion {}% ({} sales / {} leads)",
                            rate.round_dp(2).normalize(),
                            stats.sales,
                            stats.qualified
                        ),
                    )
                }
            };
            if let Some(tier) = self.tier_for(measure)
                && let Some((value, arithmetic, reversal)) = tier.reward.resolve(ctx)?
            {
                let tier_name = match self.basis {
                    _ if tier.threshold.is_zero() => "the base tier".to_owned(),
                    TierBasis::QualifiedCount => {
                        format!("the tier from {}", tier.threshold.normalize())
                    }
                    TierBasis::Conversion => {
                        format!("the tier above {}%", tier.threshold.normalize())
                    }
                };
                let why = format!(
                    "tiered `{}`: {arithmetic} {}; {tier_name} applies at {label}",
                    self.name,
                    self.on.describe()
                );
                out.push(Grant::new(referrer.clone(), Role::Referrer, value, why).with_reversal(reversal));
            }
        }
        if matches!(ctx.trigger, Trigger::Qualified) {
            for m in self.milestones.iter().filter(|m| m.count == stats.qualified) {
                let why = format!(
                    "tiered `{}`: milestone bonus {} for reaching {} qualified referrals",
                    self.name, m.bonus, m.count
                );
                out.push(
                    Grant::new(referrer.clone(), Role::Referrer, m.bonus.clone(), why)
                        .with_rule_suffix(format!("milestone-{}", m.count)),
                );
            }
        }
        Ok(out)
    }
}
