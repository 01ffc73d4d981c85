//! A program's counters (sign-ups, qualifications, money granted, by
//! channel and A/B variant), kept in shards so that concurrent events seldom
//! meet, and one referrer's counts for a day (velocity limits).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::id::ParticipantId;
use crate::domain::map::Map;
use crate::domain::value::{Asset, ValueError, add_to, inc};

/// How many sign-ups and qualified referrals came through one channel.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Funnel {
    /// Sign-ups attributed.
    pub signups: u64,
    /// Referrals qualified.
    pub qualified: u64,
}

/// The figures of one A/B variant.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VariantFigures {
    /// Referrers assigned to it.
    pub referrers: u64,
    /// Sign-ups attributed to its referrers.
    pub signups: u64,
    /// Their referrals qualified.
    pub qualified: u64,
    /// Net granted on its referrals, per asset.
    pub granted: Map<Asset, Decimal>,
    /// Revenue from its referred customers, net of refunds.
    pub revenue: Decimal,
}

/// Counters kept in the same commit as the events they count, for the whole
/// life of a program and per day.
///
/// Every event would otherwise write the same program-wide record, so that
/// concurrent events of a program could never commit side by side. Each
/// counter is therefore kept in [`COUNTER_SHARDS`] records (shards); an event
/// adds to the shard its key hashes to, and a reader sums them all
/// ([`Counters::add`]). Every field is a number or a map of numbers, so that
/// shards add up field by field.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Counters {
    /// Referrers enrolled.
    pub enrolled: u64,
    /// Invites sent.
    pub invites: u64,
    /// Sign-ups attributed.
    pub signups: u64,
    /// Referrals qualified.
    pub qualified: u64,
    /// Referrals rewarded.
    pub rewarded: u64,
    /// Referrals expired.
    pub expired: u64,
    /// Referrals reversed.
    pub reversed: u64,
    /// Referrals rejected, by reason.
    pub rejected: Map<String, u64>,
    /// Net granted per asset (what budgets are measured against).
    pub granted: Map<Asset, Decimal>,
    /// Revenue from referred customers, net of refunds.
    pub revenue: Decimal,
    /// Sign-ups and qualified referrals per channel.
    pub channels: Map<String, Funnel>,
    /// Figures per A/B variant.
    pub variants: Map<String, VariantFigures>,
}

/// One referrer's activity on one day, in its own record (so a busy day's
/// counters stay small): what reports rank top referrers and count inviters by.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ReferrerDay {
    /// The referrer.
    pub referrer: Option<ParticipantId>,
    /// Invites sent that day.
    pub invites: u64,
    /// Referrals qualified that day.
    pub qualified: u64,
}

/// How many channels a counter record names; more count under `"other"`.
pub const MAX_CHANNELS: usize = 32;

/// How many records each of a program's counters is spread over: events whose
/// keys hash to different shards update their counters without conflicting.
pub const COUNTER_SHARDS: u32 = 16;

impl Counters {
    /// Net granted in one asset.
    pub fn granted_in(&self, asset: &Asset) -> Decimal {
        self.granted.get(asset).copied().unwrap_or_default()
    }

    /// Adds `other` to these counters, field by field (money checked).
    pub fn add(&mut self, other: &Counters) -> Result<(), ValueError> {
        for (mine, theirs) in [
            (&mut self.enrolled, other.enrolled),
            (&mut self.invites, other.invites),
            (&mut self.signups, other.signups),
            (&mut self.qualified, other.qualified),
            (&mut self.rewarded, other.rewarded),
            (&mut self.expired, other.expired),
            (&mut self.reversed, other.reversed),
        ] {
            *mine = mine.saturating_add(theirs);
        }
        add_to(&mut self.revenue, other.revenue)?;
        add_each(&mut self.rejected, &other.rejected, |a, b| {
            *a = a.saturating_add(*b);
            Ok(())
        })?;
        add_each(&mut self.granted, &other.granted, |a, b| add_to(a, *b))?;
        for (tag, theirs) in other.channels.iter() {
            let mine = self.channel(tag);
            mine.signups = mine.signups.saturating_add(theirs.signups);
            mine.qualified = mine.qualified.saturating_add(theirs.qualified);
        }
        add_each(&mut self.variants, &other.variants, |a, b| {
            a.referrers = a.referrers.saturating_add(b.referrers);
            a.signups = a.signups.saturating_add(b.signups);
            a.qualified = a.qualified.saturating_add(b.qualified);
            add_to(&mut a.revenue, b.revenue)?;
            add_each(&mut a.granted, &b.granted, |x, y| add_to(x, *y))
        })
    }

    /// Adds `amount` (negative for a refund) to the revenue, and to the
    /// variant's when the referrer runs one.
    pub(crate) fn add_revenue(&mut self, amount: Decimal, variant: Option<&str>) -> Result<(), ValueError> {
        add_to(&mut self.revenue, amount)?;
        if let Some(v) = variant {
            add_to(&mut self.variant(v).revenue, amount)?;
        }
        Ok(())
    }

    /// Adds `amount` (negative for a reversal) to what was granted in `asset`,
    /// and to the variant's when the referrer runs one.
    pub(crate) fn add_granted(
        &mut self,
        asset: &Asset,
        amount: Decimal,
        variant: Option<&str>,
    ) -> Result<(), ValueError> {
        add_to(granted_slot(&mut self.granted, asset), amount)?;
        if let Some(v) = variant {
            add_to(granted_slot(&mut self.variant(v).granted, asset), amount)?;
        }
        Ok(())
    }

    /// Counts an enrolled referrer, and in their variant.
    pub(crate) fn count_enrolled(&mut self, variant: Option<&str>) {
        inc(&mut self.enrolled);
        if let Some(v) = variant {
            inc(&mut self.variant(v).referrers);
        }
    }

    /// Counts a sign-up through `channel`, and in the referrer's variant.
    pub(crate) fn count_signup(&mut self, channel: &str, variant: Option<&str>) {
        inc(&mut self.signups);
        inc(&mut self.channel(channel).signups);
        if let Some(v) = variant {
            inc(&mut self.variant(v).signups);
        }
    }

    /// Counts a qualified referral that came through `channel`, and in the
    /// referrer's variant.
    pub(crate) fn count_qualified(&mut self, channel: &str, variant: Option<&str>) {
        inc(&mut self.qualified);
        inc(&mut self.channel(channel).qualified);
        if let Some(v) = variant {
            inc(&mut self.variant(v).qualified);
        }
    }

    /// Counts one rejection for `reason`.
    pub(crate) fn count_rejected(&mut self, reason: &str) {
        match self.rejected.get_mut(reason) {
            Some(n) => inc(n),
            None => {
                self.rejected.insert(reason.to_owned(), 1);
            }
        }
    }

    /// The figures of a variant, created empty on first use.
    pub(crate) fn variant(&mut self, name: &str) -> &mut VariantFigures {
        self.variants.get_or_default(name.to_owned())
    }

    /// The funnel of a channel, created empty on first use; past
    /// [`MAX_CHANNELS`] names, new ones count under `"other"`, so that the
    /// record stays small whatever names hosts send.
    pub(crate) fn channel(&mut self, tag: &str) -> &mut Funnel {
        let tag = if self.channels.get(tag).is_none() && self.channels.len() >= MAX_CHANNELS { "other" } else { tag };
        self.channels.get_or_default(tag.to_owned())
    }
}

fn granted_slot<'a>(map: &'a mut Map<Asset, Decimal>, asset: &Asset) -> &'a mut Decimal {
    map.get_or_default(asset.clone())
}

/// Adds each entry of `from` into the entry of `into` under the same key.
fn add_each<K: Ord + Clone, V: Default>(
    into: &mut Map<K, V>,
    from: &Map<K, V>,
    add: impl Fn(&mut V, &V) -> Result<(), ValueError>,
) -> Result<(), ValueError> {
    for (k, v) in from.iter() {
        match into.get_mut(k) {
            Some(mine) => add(mine, v)?,
            None => {
                let mut mine = V::default();
                add(&mut mine, v)?;
                into.insert(k.clone(), mine);
            }
        }
    }
    Ok(())
}
