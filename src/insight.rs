//! Insight: a referrer's dashboard and a program's report, read from counters
//! kept in the same commit as the events, so a read costs the same whatever
//! the length of history.
//!
//! Ratios are per cent, rounded half-to-even to two decimal places; a ratio
//! with nothing to divide by is `None`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::code::{Channel, ShareLink};
use crate::domain::counters::{Counters, Funnel, ReferrerDay, VariantFigures};
use crate::domain::id::ParticipantId;
use crate::domain::ledger::Balance;
use crate::domain::participant::Participant;
use crate::domain::value::Asset;
use crate::domain::value::ValueError;
use crate::policy::{PolicySpec, TierBasis};
use crate::program::Program;

/// `part / whole` in per cent, two decimals; `None` when `whole` is zero.
pub fn percent(part: Decimal, whole: Decimal) -> Option<Decimal> {
    if whole.is_zero() {
        return None;
    }
    part.checked_mul(Decimal::ONE_HUNDRED).and_then(|x| x.checked_div(whole)).map(|x| x.round_dp(2))
}

/// Where a referrer stands in a tiered rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TierProgress {
    /// The tiered rule.
    pub rule: String,
    /// What the tiers measure.
    pub basis: TierBasis,
    /// The referrer's measure now (qualified referrals, or conversion in per cent).
    pub measure: Decimal,
    /// The threshold of the tier they are in, if any.
    pub current: Option<Decimal>,
    /// The threshold of the next tier, if any.
    pub next: Option<Decimal>,
}

/// What a referrer sees: progress, money, links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Dashboard {
    /// Whose.
    pub participant: ParticipantId,
    /// Invites sent.
    pub invites: u64,
    /// Sign-ups with their codes.
    pub signups: u64,
    /// Referrals qualified.
    pub qualified: u64,
    /// Referees who bought.
    pub sales: u64,
    /// Qualified over sign-ups, per cent.
    pub conversion: Option<Decimal>,
    /// Balances per asset: pending, available, paid, redeemed.
    pub balances: Vec<Balance>,
    /// Progress in each tiered rule of the program.
    pub tiers: Vec<TierProgress>,
    /// A share link per channel, for each of their codes.
    pub links: Vec<(Channel, String)>,
    /// Their A/B variant, if the program has variants.
    pub variant: Option<String>,
}

impl Dashboard {
    pub(crate) fn build(program: &Program, p: &Participant, links: Option<&ShareLink>, channels: &[Channel]) -> Self {
        let tiers = program
            .spec()
            .policies
            .iter()
            .filter_map(|spec| match spec {
                PolicySpec::Tiered(t) => Some(t),
                _ => None,
            })
            .map(|t| {
                let measure = match t.basis {
                    TierBasis::QualifiedCount => Decimal::from(p.stats.qualified),
                    _ => p.stats.conversion_percent().round_dp(2),
                };
                let current = t.tier_for(measure).map(|tier| tier.threshold);
                let next =
                    t.tiers.iter().map(|tier| tier.threshold).filter(|th| Some(*th) > current && *th > measure).min();
                TierProgress { rule: t.name.clone(), basis: t.basis, measure, current, next }
            })
            .collect();
        let links = match links {
            Some(builder) => p
                .codes
                .iter()
                .flat_map(|code| channels.iter().map(move |ch| (ch.clone(), builder.build(code, ch))))
                .collect(),
            None => vec![],
        };
        Self {
            participant: p.id.clone(),
            invites: p.stats.invites,
            signups: p.stats.signups,
            qualified: p.stats.qualified,
            sales: p.stats.sales,
            conversion: percent(Decimal::from(p.stats.qualified), Decimal::from(p.stats.signups)),
            balances: p.balances.values().cloned().collect(),
            tiers,
            links,
            variant: p.variant.clone(),
        }
    }
}

/// A channel's funnel in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ChannelReport {
    /// Sign-ups and qualified referrals.
    pub funnel: Funnel,
    /// Qualified over sign-ups, per cent.
    pub conversion: Option<Decimal>,
}

/// A program's figures over a period of days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Report {
    /// The first day.
    pub from: NaiveDate,
    /// The last day (included).
    pub to: NaiveDate,
    /// The counters summed over the days.
    pub counters: Counters,
    /// Sign-ups over invites, per cent.
    pub invite_to_signup: Option<Decimal>,
    /// Qualified over sign-ups, per cent.
    pub signup_to_qualified: Option<Decimal>,
    /// Per channel.
    pub channels: BTreeMap<String, ChannelReport>,
    /// Referrers who sent invites in the period.
    pub inviters: u64,
    /// Viral coefficient: invites per inviting referrer times the
    /// invite-to-sign-up conversion (that is, sign-ups per inviting referrer).
    pub k_factor: Option<Decimal>,
    /// What rewards cost, per asset, net of reversals.
    pub cost: BTreeMap<Asset, Decimal>,
    /// Revenue from referred customers in the program's currency, net of refunds.
    pub revenue: Decimal,
    /// Return on the money spent on rewards in the program's currency:
    /// (revenue - cost) / cost, per cent.
    pub return_on_spend: Option<Decimal>,
    /// The referrers with the most qualified referrals, most first (at most 10).
    pub top_referrers: Vec<(ParticipantId, u64)>,
    /// The share of qualified referrals the top referrers brought, per cent.
    pub top_share: Option<Decimal>,
    /// Figures per A/B variant.
    pub variants: BTreeMap<String, VariantFigures>,
    /// Whether more referrers were active in the period than a report reads
    /// ([`REPORT_REFERRER_DAYS`](crate::engine::REPORT_REFERRER_DAYS) referrer-days,
    /// so that a report's cost is bounded): `inviters`, `k_factor`,
    /// `top_referrers` and `top_share` then count the first of them (by day,
    /// then referrer id) only. The counters are whole either way.
    pub referrers_partial: bool,
}

/// How many referrers a report ranks.
pub const TOP_REFERRERS: usize = 10;

impl Report {
    pub(crate) fn build(
        program: &Program,
        from: NaiveDate,
        to: NaiveDate,
        days: Vec<Counters>,
        referrer_days: Vec<ReferrerDay>,
    ) -> Result<Self, ValueError> {
        let mut sum = Counters::default();
        let mut inviters: BTreeSet<ParticipantId> = BTreeSet::new();
        let mut by_referrer: BTreeMap<ParticipantId, u64> = BTreeMap::new();
        for d in referrer_days {
            let Some(who) = d.referrer else { continue };
            if d.invites > 0 {
                inviters.insert(who.clone());
            }
            if d.qualified > 0 {
                let n = by_referrer.entry(who).or_default();
                *n = n.saturating_add(d.qualified);
            }
        }
        for d in &days {
            sum.add(d)?;
        }
        let channels = sum
            .channels
            .iter()
            .map(|(k, f)| {
                let conversion = percent(Decimal::from(f.qualified), Decimal::from(f.signups));
                (k.clone(), ChannelReport { funnel: f.clone(), conversion })
            })
            .collect();
        let inviter_count = inviters.len() as u64;
        let k_factor = Decimal::from(sum.signups).checked_div(Decimal::from(inviter_count)).map(|k| k.round_dp(2));
        let money = Asset::Money(program.terms().currency);
        let spent = sum.granted_in(&money);
        let mut top: Vec<(ParticipantId, u64)> = by_referrer.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top.truncate(TOP_REFERRERS);
        let top_total = top.iter().fold(0u64, |sum, (_, n)| sum.saturating_add(*n));
        Ok(Self {
            from,
            to,
            invite_to_signup: percent(Decimal::from(sum.signups), Decimal::from(sum.invites)),
            signup_to_qualified: percent(Decimal::from(sum.qualified), Decimal::from(sum.signups)),
            channels,
            inviters: inviter_count,
            k_factor,
            cost: sum.granted.iter().map(|(a, v)| (a.clone(), *v)).collect(),
            revenue: sum.revenue,
            return_on_spend: sum.revenue.checked_sub(spent).and_then(|gain| percent(gain, spent)),
            top_share: percent(Decimal::from(top_total), Decimal::from(sum.qualified)),
            top_referrers: top,
            variants: sum.variants.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            counters: sum,
            referrers_partial: false,
        })
    }
}
