//! Revenue share: a percentage of every payment the referee makes.

use chrono::Months;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::InvalidSpec;
use super::{Grant, PolicyContext, PolicyError, RewardPolicy, Trigger, check_name};
use crate::domain::ledger::{Reversal, Role};

/// A percentage of each payment the referee makes, to the direct referrer.
///
/// Payments count from the moment the referral qualifies; with `months`,
/// only payments made before qualification plus that many months earn.
/// `per_payment_cap` and `lifetime_cap` are amounts of the program's currency;
/// the lifetime cap counts what this rule paid on this referral, net of
/// reversals. Refunds reverse the share in proportion.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RevenueShare {
    /// The rule's name.
    pub name: String,
    /// The share, in per cent.
    pub percent: Decimal,
    /// For how many months after qualification payments earn.
    #[serde(default)]
    pub months: Option<u32>,
    /// The most one payment earns.
    #[serde(default)]
    pub per_payment_cap: Option<Decimal>,
    /// The most one referral earns under this rule.
    #[serde(default)]
    pub lifetime_cap: Option<Decimal>,
}

impl RevenueShare {
    /// A share of every payment, for as long as the customer pays.
    pub fn new(name: impl Into<String>, percent: Decimal) -> Self {
        Self { name: name.into(), percent, months: None, per_payment_cap: None, lifetime_cap: None }
    }

    /// Only for payments within `months` of qualification.
    pub fn for_months(mut self, months: u32) -> Self {
        self.months = Some(months);
        self
    }

    /// Caps what one payment earns.
    pub fn with_per_payment_cap(mut self, cap: Decimal) -> Self {
        self.per_payment_cap = Some(cap);
        self
    }

    /// Caps what one referral earns.
    pub fn with_lifetime_cap(mut self, cap: Decimal) -> Self {
        self.lifetime_cap = Some(cap);
        self
    }

    pub(super) fn validate(&self, field: &str) -> Result<(), InvalidSpec> {
        check_name(field, &self.name)?;
        if self.percent <= Decimal::ZERO || self.percent > Decimal::ONE_HUNDRED {
            return Err(InvalidSpec::new(&format!("{field}.percent"), format!("{}% is not in (0, 100]", self.percent)));
        }
        for (name, cap) in [("per_payment_cap", self.per_payment_cap), ("lifetime_cap", self.lifetime_cap)] {
            if cap.is_some_and(|c| c <= Decimal::ZERO) {
                return Err(InvalidSpec::new(&format!("{field}.{name}"), "is not above zero"));
            }
        }
        if self.months == Some(0) {
            return Err(InvalidSpec::new(&format!("{field}.months"), "is zero"));
        }
        Ok(())
    }
}

impl RewardPolicy for RevenueShare {
    fn name(&self) -> &str {
        &self.name
    }

    fn grants(&self, ctx: &PolicyContext<'_>) -> Result<Vec<Grant>, PolicyError> {
        let (Trigger::Purchase { amount, .. }, Some(referral), Some(referrer)) =
            (ctx.trigger, ctx.referral, ctx.referrer())
        else {
            return Ok(vec![]);
        };
        let Some(qualified_at) = referral.qualified_at else {
            return Ok(vec![]);
        };
        if let Some(months) = self.months {
            let until = qualified_at.checked_add_months(Months::new(months));
            if until.is_none_or(|until| ctx.now >= until) {
                return Ok(vec![]);
            }
        }
        let mut value = amount.percent(self.percent, ctx.terms.rounding)?;
        let mut why = format!("revenue share `{}`: {}% of {amount} = {value}", self.name, self.percent.normalize());
        if let Some(cap) = self.per_payment_cap
            && value.amount() > cap
        {
            value = value.with_amount(cap);
            why.push_str(&format!(", cut to the per-payment cap {value}"));
        }
        if let Some(cap) = self.lifetime_cap {
            let so_far = referral.earned_by(&self.name).map_or(Decimal::ZERO, |v| v.amount());
            let room = cap.checked_sub(so_far).ok_or(crate::domain::value::ValueError::Overflow)?.max(Decimal::ZERO);
            if value.amount() > room {
                value = value.with_amount(room);
                why.push_str(&format!(", cut to {value} by the lifetime cap {cap} (earned so far {so_far})"));
            }
        }
        if !value.is_positive() {
            return Ok(vec![]);
        }
        if let Some(months) = self.months {
            why.push_str(&format!(" (for {months} months after qualification)"));
        }
        Ok(vec![Grant::new(referrer.clone(), Role::Referrer, value, why).with_reversal(Reversal::Proportional)])
    }
}
