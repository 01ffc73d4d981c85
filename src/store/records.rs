//! The records the engine keeps, besides the domain types themselves.

use std::collections::{BTreeMap, BTreeSet};

use litemap::LiteMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::code::ReferralCode;
use crate::domain::id::{OrderId, ParticipantId, PayoutId, ProgramId, ReferralId, RewardId};
use crate::domain::ledger::{LedgerEntry, Reward};
use crate::domain::participant::Participant;
use crate::domain::referral::Referral;
use crate::domain::value::{Asset, Value, ValueError, add_to, inc};
use crate::event::{Event, Outcome};

/// How a code may be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CodeUse {
    /// Any number of sign-ups.
    Reusable,
    /// One sign-up; `Some` once redeemed.
    SingleUse(Option<ParticipantId>),
}

/// A code and the (program, participant) it resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CodeRecord {
    /// The normalized code.
    pub code: ReferralCode,
    /// Its program.
    pub program: ProgramId,
    /// Whom it attributes to.
    pub owner: ParticipantId,
    /// Reusable or single-use.
    pub usage: CodeUse,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
}

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
    pub granted: LiteMap<Asset, Decimal>,
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
    pub rejected: LiteMap<String, u64>,
    /// Net granted per asset (what budgets are measured against).
    pub granted: LiteMap<Asset, Decimal>,
    /// Revenue from referred customers, net of refunds.
    pub revenue: Decimal,
    /// Sign-ups and qualified referrals per channel.
    pub channels: LiteMap<String, Funnel>,
    /// Figures per A/B variant.
    pub variants: LiteMap<String, VariantFigures>,
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
        self.variants.entry(name.to_owned()).or_default()
    }

    /// The funnel of a channel, created empty on first use; past
    /// [`MAX_CHANNELS`] names, new ones count under `"other"`, so that the
    /// record stays small whatever names hosts send.
    pub(crate) fn channel(&mut self, tag: &str) -> &mut Funnel {
        let tag = if self.channels.get(tag).is_none() && self.channels.len() >= MAX_CHANNELS { "other" } else { tag };
        self.channels.entry(tag.to_owned()).or_default()
    }
}

fn granted_slot<'a>(map: &'a mut LiteMap<Asset, Decimal>, asset: &Asset) -> &'a mut Decimal {
    map.entry(asset.clone()).or_default()
}

/// Adds each entry of `from` into the entry of `into` under the same key.
fn add_each<K: Ord + Clone, V: Default>(
    into: &mut LiteMap<K, V>,
    from: &LiteMap<K, V>,
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

/// Program-wide state that an event reads before it changes it: catalog stock
/// used and payout ids. (Counters live apart, in shards: see [`Counters`].)
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ProgramState {
    /// Catalog items redeemed, by id.
    pub redeemed_items: LiteMap<String, u64>,
    /// Payout batch ids used (paid to the end).
    pub payouts: BTreeSet<PayoutId>,
    /// Payout batches under way, paid a page at a time: the key of the last
    /// participant each has reached.
    #[serde(default)]
    pub payout_cursors: BTreeMap<PayoutId, String>,
}

/// A notification waiting in the outbox for the host to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Notification {
    /// Its id, which says when and by which event: the order in which
    /// notifications are read.
    pub id: NotificationId,
    /// What happened.
    pub notice: crate::event::Notice,
}

/// The notices of one event still waiting in a program's outbox: one record
/// per event, so an event writes one outbox record however many notices it
/// gives, and acknowledging takes notices out until none is left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OutboxEntry {
    /// When the event was handled.
    pub at: DateTime<Utc>,
    /// The event.
    pub event: crate::domain::id::EventKey,
    /// The notices not yet acknowledged, each with its index among the
    /// event's notices, in that order.
    pub pending: Vec<(u32, crate::event::Notice)>,
}

impl OutboxEntry {
    /// The pending notices as notifications, in order.
    pub fn notifications(&self) -> impl Iterator<Item = Notification> + '_ {
        self.pending.iter().map(|(index, notice)| Notification {
            id: NotificationId { at: self.at, event: self.event.clone(), index: *index },
            notice: notice.clone(),
        })
    }
}

/// A notification's place in a program's outbox (and an audit entry's in the
/// trail): the time of the event that wrote it, the event's key, and its index
/// among that event's notices.
///
/// The outbox and the trail are read oldest first; the notices of one event in
/// the order it gave them, events handled at the same instant in the order of
/// their stored keys. No program-wide sequence number orders them, so that
/// concurrent events never contend for one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationId {
    /// When the event was handled.
    pub at: DateTime<Utc>,
    /// The event that caused it.
    pub event: crate::domain::id::EventKey,
    /// The index among the event's notices.
    pub index: u32,
}

/// An order the engine has seen, for refunds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Order {
    /// The order id.
    pub id: OrderId,
    /// Who paid.
    pub customer: ParticipantId,
    /// The referral it was attributed to, if any.
    pub referral: Option<ReferralId>,
    /// What was paid.
    pub amount: Value,
    /// Refunded so far.
    pub refunded: Decimal,
    /// The rewards it earned.
    pub rewards: Vec<RewardId>,
    /// Whether it qualified its referral.
    pub qualifying: bool,
    /// When.
    pub at: DateTime<Utc>,
}

/// Work due at a time: a hold to release or a referral to expire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Due {
    /// Release a reward's hold.
    Release(RewardId),
    /// Expire a referral that has not qualified (by then).
    Expire {
        /// The referral.
        referral: ReferralId,
        /// Its referee.
        referee: ParticipantId,
    },
}

/// Who has shown one identity signal, and when sign-ups last carried it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SignalIndex {
    /// Participants carrying it (the first few).
    pub participants: Vec<ParticipantId>,
    /// Times of recent sign-ups carrying it.
    pub recent: Vec<DateTime<Utc>>,
}

/// A flagged referral in the review queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ReviewItem {
    /// The referral.
    pub referral: ReferralId,
    /// Its referee.
    pub referee: ParticipantId,
    /// Its referrer.
    pub referrer: ParticipantId,
    /// The rule that flagged it.
    pub reason: String,
    /// When.
    pub flagged_at: DateTime<Utc>,
    /// Rewards held until the review.
    pub held: Vec<RewardId>,
}

/// One line of the audit trail: a rejection, flag, approval, reversal or payout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// The event that caused it.
    pub event: crate::domain::id::EventKey,
    /// What happened, with its reason.
    pub notice: crate::event::Notice,
}

/// Any record a store keeps under a [`Key`](super::Key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Record {
    /// A participant.
    Participant(Box<Participant>),
    /// A code.
    Code(CodeRecord),
    /// A referral.
    Referral(Box<Referral>),
    /// A reward.
    Reward(Box<Reward>),
    /// A ledger entry.
    Entry(Box<LedgerEntry>),
    /// Program-wide state.
    Program(Box<ProgramState>),
    /// An order.
    Order(Box<Order>),
    /// Due work.
    Due(Due),
    /// One shard of a program's counters, for its whole life or for one day.
    #[serde(alias = "day")]
    Counters(Box<Counters>),
    /// One referrer's day.
    ReferrerDay(Box<ReferrerDay>),
    /// The notices of one event waiting in the outbox.
    Outbox(Box<OutboxEntry>),
    /// Who carries an identity signal.
    Signal(Box<SignalIndex>),
    /// A referral awaiting review.
    Review(Box<ReviewItem>),
    /// A line of the audit trail.
    Audit(Box<AuditEntry>),
}

/// An event and its outcome, as stored under the event's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StoredEvent {
    /// The event as first handled.
    pub event: Event,
    /// Its outcome.
    pub outcome: Outcome,
}

/// A record type and the [`Record`] variant that holds it.
pub(crate) trait RecordKind: Sized + Clone {
    fn from_ref(record: &Record) -> Option<&Self>;
    fn into_record(self) -> Record;
}

macro_rules! record_kind {
    ($variant:ident, $ty:ty) => {
        impl RecordKind for $ty {
            fn from_ref(record: &Record) -> Option<&Self> {
                match record {
                    Record::$variant(x) => Some(x),
                    _ => None,
                }
            }
            fn into_record(self) -> Record {
                // Boxes the value for the variants that hold a box.
                Record::$variant(self.into())
            }
        }
    };
}

record_kind!(Participant, Participant);
record_kind!(Referral, Referral);
record_kind!(Reward, Reward);
record_kind!(Entry, LedgerEntry);
record_kind!(Program, ProgramState);
record_kind!(Order, Order);
record_kind!(Counters, Counters);
record_kind!(ReferrerDay, ReferrerDay);
record_kind!(Outbox, OutboxEntry);
record_kind!(Code, CodeRecord);
record_kind!(Signal, SignalIndex);
record_kind!(Review, ReviewItem);
record_kind!(Audit, AuditEntry);
record_kind!(Due, Due);
