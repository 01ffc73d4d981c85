//! Record keys: text that sorts the way the engine scans.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use std::marker::PhantomData;

use super::schema::table::*;
use crate::domain::code::{CodeRecord, ReferralCode};
use crate::domain::counters::{Counters, ReferrerDay};
use crate::domain::due::Due;
use crate::domain::id::{EntryId, OrderId, ParticipantId, ProgramId, RewardId};
use crate::domain::ledger::{LedgerEntry, Reward};
use crate::domain::order::Order;
use crate::domain::participant::Participant;
use crate::domain::referral::Referral;
use crate::domain::review::ReviewItem;
use crate::domain::state::{PayoutBatch, ProgramState};
use crate::event::{AuditEntry, OutboxEntry};
use crate::fraud::SignalIndex;

/// The key of one record.
///
/// Keys are ASCII-ordered text: `p/<program>/<participant>` for participants,
/// `r/<program>/<referee>` for referrals, `l/<program>/<participant>/<entry>`
/// for ledger entries, `d/<program>/<time>/<id>` for due work, and so on.
/// Host-chosen parts are escaped so that no id can reach into another's range.
/// A store compares keys byte by byte (SQL: `COLLATE "C"` / `BINARY`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Key(String);

/// Appends `s` escaped, so that no host-chosen part can reach into another range.
fn push_esc(out: &mut String, s: &str) {
    if !s.bytes().any(|b| matches!(b, b'%' | b'/' | b'~')) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            '~' => out.push_str("%7E"),
            c => out.push(c),
        }
    }
}

/// `tag/program/part/part...`, each host-chosen part escaped, built in one allocation.
fn path(tag: &str, program: &ProgramId, parts: &[&str]) -> String {
    let len = parts.iter().fold(tag.len().saturating_add(program.as_str().len()).saturating_add(1), |n, p| {
        n.saturating_add(p.len()).saturating_add(1)
    });
    let mut out = String::with_capacity(len);
    out.push_str(tag);
    out.push('/');
    push_esc(&mut out, program.as_str());
    for part in parts {
        out.push('/');
        push_esc(&mut out, part);
    }
    out
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_esc(&mut out, s);
    out
}

/// A number in `width` digits, zero-padded, so that text order is number order.
fn padded(n: u64, width: usize) -> String {
    let mut out = String::with_capacity(width.max(20));
    push_padded(&mut out, n, width);
    out
}

/// Appends `n` as [`padded`] writes it, without going through formatting
/// (keys are built on every event).
fn push_padded(out: &mut String, n: u64, width: usize) {
    // The largest power of ten not above `n`, and how many digits `n` has.
    let (mut unit, mut len) = (1u64, 1usize);
    while let Some(next) = unit.checked_mul(10).filter(|next| *next <= n) {
        unit = next;
        len = len.saturating_add(1);
    }
    for _ in len..width {
        out.push('0');
    }
    loop {
        let digit = n.checked_div(unit).unwrap_or(0) % 10;
        out.push(char::from_digit(u32::try_from(digit).unwrap_or(0), 10).unwrap_or('0'));
        if unit == 1 {
            break;
        }
        unit /= 10;
    }
}

/// Days in keys: `YYYYMMDD`.
fn ymd(day: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    format!("{:04}{:02}{:02}", day.year(), day.month(), day.day())
}

/// Times in keys: fixed width, so text order is time order.
fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%S%.6f").to_string()
}

impl Key {
    /// Rebuilds a key read back from a store.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn participant(p: &ProgramId, id: &ParticipantId) -> RecordKey<Participant> {
        PARTICIPANT.key(path(PARTICIPANT.tag(), p, &[id.as_str()]))
    }

    pub(crate) fn participants(p: &ProgramId) -> RecordRange<Participant> {
        PARTICIPANT.range(KeyRange::prefix(format!("{}/{}/", PARTICIPANT.tag(), esc(p.as_str()))))
    }

    /// A code, within its program: each program has its own code space, so
    /// that a vanity code taken in one is free in another, and a code typed
    /// in the wrong program is simply unknown there.
    pub(crate) fn code(p: &ProgramId, code: &ReferralCode) -> RecordKey<CodeRecord> {
        CODE.key(path(CODE.tag(), p, &[code.as_str()]))
    }

    pub(crate) fn referral(p: &ProgramId, referee: &ParticipantId) -> RecordKey<Referral> {
        REFERRAL.key(path(REFERRAL.tag(), p, &[referee.as_str()]))
    }

    pub(crate) fn referrals(p: &ProgramId) -> RecordRange<Referral> {
        REFERRAL.range(KeyRange::prefix(format!("{}/{}/", REFERRAL.tag(), esc(p.as_str()))))
    }

    pub(crate) fn superseded(p: &ProgramId, id: &crate::domain::id::ReferralId) -> RecordKey<Referral> {
        SUPERSEDED.key(format!("{}/{}/{id}", SUPERSEDED.tag(), esc(p.as_str())))
    }

    pub(crate) fn reward(p: &ProgramId, id: &RewardId) -> RecordKey<Reward> {
        REWARD.key(path(REWARD.tag(), p, &[&id.to_string()]))
    }

    pub(crate) fn entry(p: &ProgramId, participant: &ParticipantId, id: &EntryId) -> RecordKey<LedgerEntry> {
        ENTRY.key(path(ENTRY.tag(), p, &[participant.as_str(), &id.to_string()]))
    }

    pub(crate) fn entries(p: &ProgramId, participant: &ParticipantId) -> RecordRange<LedgerEntry> {
        ENTRY.range(KeyRange::prefix(format!("{}/{}/{}/", ENTRY.tag(), esc(p.as_str()), esc(participant.as_str()))))
    }

    pub(crate) fn program(p: &ProgramId) -> RecordKey<ProgramState> {
        PROGRAM.key(path(PROGRAM.tag(), p, &[]))
    }

    /// One payout batch.
    pub(crate) fn payout(p: &ProgramId, id: &crate::domain::id::PayoutId) -> RecordKey<PayoutBatch> {
        PAYOUT.key(path(PAYOUT.tag(), p, &[id.as_str()]))
    }

    /// The payout batch `id` of the program whose state is stored under
    /// `program_key` (`s/<program>`, as stored): for the data migration,
    /// which reads keys, not ids.
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "sqlx-postgres"))]
    pub(crate) fn payout_of_state(program_key: &str, id: &crate::domain::id::PayoutId) -> Option<Key> {
        let program = program_key.strip_prefix(PROGRAM.tag())?.strip_prefix('/')?;
        let mut out = format!("{}/{program}/", PAYOUT.tag());
        push_esc(&mut out, id.as_str());
        Some(Key(out))
    }

    /// One shard of a program's lifetime counters.
    pub(crate) fn totals(p: &ProgramId, shard: u32) -> RecordKey<Counters> {
        TOTALS.key(path(TOTALS.tag(), p, &[&padded(u64::from(shard), 2)]))
    }

    /// The key of every shard of a program's lifetime counters, `0..shards`,
    /// each as [`Key::totals`] builds it (the program escaped once).
    pub(crate) fn every_total(p: &ProgramId, shards: u32) -> Vec<RecordKey<Counters>> {
        let prefix = path(TOTALS.tag(), p, &[""]);
        (0..shards)
            .map(|shard| {
                let mut key = String::with_capacity(prefix.len().saturating_add(2));
                key.push_str(&prefix);
                push_padded(&mut key, u64::from(shard), 2);
                TOTALS.key(key)
            })
            .collect()
    }

    /// Every shard of a program's lifetime counters.
    pub(crate) fn all_totals(p: &ProgramId) -> RecordRange<Counters> {
        TOTALS.range(KeyRange::prefix(format!("{}/{}/", TOTALS.tag(), esc(p.as_str()))))
    }

    /// One shard of a program's counters for one day.
    pub(crate) fn day(p: &ProgramId, day: chrono::NaiveDate, shard: u32) -> RecordKey<Counters> {
        DAY.key(path(DAY.tag(), p, &[&ymd(day), &padded(u64::from(shard), 2)]))
    }

    /// Every shard of the days from `from` to `to`, both included.
    pub(crate) fn days(p: &ProgramId, from: chrono::NaiveDate, to: chrono::NaiveDate) -> RecordRange<Counters> {
        let start = Key(format!("{}/{}/{}/", DAY.tag(), esc(p.as_str()), ymd(from)));
        let end = Key(format!("{}/{}/{}0", DAY.tag(), esc(p.as_str()), ymd(to)));
        DAY.range(KeyRange { start, end })
    }

    pub(crate) fn referrer_day(
        p: &ProgramId,
        day: chrono::NaiveDate,
        referrer: &ParticipantId,
    ) -> RecordKey<ReferrerDay> {
        REFERRER_DAY.key(path(REFERRER_DAY.tag(), p, &[&ymd(day), referrer.as_str()]))
    }

    /// Referrer days from `from` to `to`, both included.
    pub(crate) fn referrer_days(
        p: &ProgramId,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> RecordRange<ReferrerDay> {
        let start = Key(format!("{}/{}/{}/", REFERRER_DAY.tag(), esc(p.as_str()), ymd(from)));
        let end = Key(format!("{}/{}/{}0", REFERRER_DAY.tag(), esc(p.as_str()), ymd(to)));
        REFERRER_DAY.range(KeyRange { start, end })
    }

    /// The outbox record of the event `event` handled at `at`.
    pub(crate) fn outbox(
        p: &ProgramId,
        at: DateTime<Utc>,
        event: &crate::domain::id::EventKey,
    ) -> RecordKey<OutboxEntry> {
        OUTBOX.key(path(OUTBOX.tag(), p, &[&stamp(at), event.as_str()]))
    }

    pub(crate) fn notifications(p: &ProgramId) -> RecordRange<OutboxEntry> {
        OUTBOX.range(KeyRange::prefix(format!("{}/{}/", OUTBOX.tag(), esc(p.as_str()))))
    }

    pub(crate) fn signal(p: &ProgramId, signal: &crate::fraud::Signal) -> RecordKey<SignalIndex> {
        SIGNAL.key(format!(
            "{}/{}/{}/{}",
            SIGNAL.tag(),
            esc(p.as_str()),
            signal.kind.name(),
            esc(signal.hash().unwrap_or("raw"))
        ))
    }

    /// A referral's review item: under its referee, then its id, so that a
    /// later attribution of the same referee never re-creates a deleted key
    /// (a new record's version starts at 1 again: see [`crate::store::Store`]).
    pub(crate) fn review(
        p: &ProgramId,
        referee: &ParticipantId,
        referral: &crate::domain::id::ReferralId,
    ) -> RecordKey<ReviewItem> {
        REVIEW.key(path(REVIEW.tag(), p, &[referee.as_str(), &referral.to_string()]))
    }

    pub(crate) fn reviews(p: &ProgramId) -> RecordRange<ReviewItem> {
        REVIEW.range(KeyRange::prefix(format!("{}/{}/", REVIEW.tag(), esc(p.as_str()))))
    }

    /// An audit entry: `a/program/time/event/index`, in time order.
    pub(crate) fn audit(p: &ProgramId, id: &crate::event::NotificationId) -> RecordKey<AuditEntry> {
        AUDIT.key(path(AUDIT.tag(), p, &[&stamp(id.at), id.event.as_str(), &padded(u64::from(id.index), 6)]))
    }

    pub(crate) fn audits(p: &ProgramId) -> RecordRange<AuditEntry> {
        AUDIT.range(KeyRange::prefix(format!("{}/{}/", AUDIT.tag(), esc(p.as_str()))))
    }

    pub(crate) fn order(p: &ProgramId, id: &OrderId) -> RecordKey<Order> {
        ORDER.key(path(ORDER.tag(), p, &[id.as_str()]))
    }

    pub(crate) fn due(p: &ProgramId, at: DateTime<Utc>, id: &str) -> RecordKey<Due> {
        DUE.key(format!("{}/{}/{}/{}", DUE.tag(), esc(p.as_str()), stamp(at), esc(id)))
    }

    /// Due work at or before `now`.
    pub(crate) fn due_until(p: &ProgramId, now: DateTime<Utc>) -> RecordRange<Due> {
        let start = format!("{}/{}/", DUE.tag(), esc(p.as_str()));
        let end = format!("{start}{}~", stamp(now));
        DUE.range(KeyRange { start: Key(start), end: Key(end) })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key with, through the space it is in, the type of the record under it
/// (built only by the key builders, from [`schema`](super::schema)'s tables).
pub(crate) struct RecordKey<T> {
    key: Key,
    record: PhantomData<fn() -> T>,
}

impl<T> RecordKey<T> {
    pub(crate) fn new(key: Key) -> Self {
        Self { key, record: PhantomData }
    }

    /// The key.
    pub(crate) fn key(&self) -> &Key {
        &self.key
    }

    /// The key, untyped (for the store and the read set).
    pub(crate) fn into_key(self) -> Key {
        self.key
    }
}

impl AsRef<Key> for Key {
    fn as_ref(&self) -> &Key {
        self
    }
}

impl<T> AsRef<Key> for RecordKey<T> {
    fn as_ref(&self) -> &Key {
        &self.key
    }
}

impl<T> Clone for RecordKey<T> {
    fn clone(&self) -> Self {
        Self::new(self.key.clone())
    }
}

impl<T> fmt::Debug for RecordKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.key.fmt(f)
    }
}

/// A range of keys of one space, with the type of their records.
pub(crate) struct RecordRange<T> {
    range: KeyRange,
    record: PhantomData<fn() -> T>,
}

impl<T> RecordRange<T> {
    pub(crate) fn new(range: KeyRange) -> Self {
        Self { range, record: PhantomData }
    }

    /// The range.
    pub(crate) fn range(&self) -> &KeyRange {
        &self.range
    }

    /// The range, untyped.
    pub(crate) fn into_range(self) -> KeyRange {
        self.range
    }

    /// Part of this range (a page of it), of the same space.
    pub(crate) fn narrowed(&self, part: KeyRange) -> Self {
        Self::new(part)
    }
}

/// Keys from `start` (inclusive) to `end` (exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// The first key in range.
    pub start: Key,
    /// The first key past the range.
    pub end: Key,
}

impl KeyRange {
    /// Every key that starts with `prefix`, which ends in `/`.
    fn prefix(prefix: String) -> Self {
        // '0' is the byte after '/', so this bounds every continuation,
        // whatever bytes (UTF-8 included) follow the prefix.
        let end = format!("{}0", prefix.trim_end_matches('/'));
        Self { start: Key(prefix), end: Key(end) }
    }

    /// Whether no key is in range (its start is at or past its end). Every
    /// store answers a scan of such a range with nothing.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// Whether the key is in range.
    pub fn contains(&self, key: &Key) -> bool {
        &self.start <= key && key < &self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_numbers_sort_as_numbers() {
        assert_eq!(padded(42, 6), "000042");
        assert_eq!(padded(1234567, 6), "1234567");
        assert!(padded(9, 20) < padded(10, 20));
        assert_eq!(padded(0, 2), "00");
        assert_eq!(padded(u64::MAX, 2), u64::MAX.to_string());
        for n in [0, 7, 10, 99, 100, 12345, u64::MAX / 3] {
            assert_eq!(padded(n, 8), format!("{n:08}"));
        }
    }

    #[test]
    fn every_total_is_each_totals_key() {
        let p = ProgramId::new("a/b~%").unwrap();
        let each: Vec<Key> = (0..120).map(|i| Key::totals(&p, i).into_key()).collect();
        let all: Vec<Key> = Key::every_total(&p, 120).into_iter().map(RecordKey::into_key).collect();
        assert_eq!(all, each);
    }

    #[test]
    fn host_ids_cannot_reach_into_other_ranges() {
        let p = ProgramId::new("prog").unwrap();
        let a = ParticipantId::new("a").unwrap();
        let a_slash = ParticipantId::new("a/x").unwrap();
        let tilde = ParticipantId::new("a~").unwrap();
        let unicode = ParticipantId::new("é").unwrap();
        assert!(Key::participants(&p).range().contains(Key::participant(&p, &unicode).key()));
        let e = EntryId::from_uuid(uuid::Uuid::nil());
        let range = Key::entries(&p, &a).into_range();
        assert!(range.contains(Key::entry(&p, &a, &e).key()));
        assert!(!range.contains(Key::entry(&p, &a_slash, &e).key()));
        assert!(!range.contains(Key::entry(&p, &tilde, &e).key()));
    }
}
