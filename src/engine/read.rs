//! The read side: what hosts show and operators inspect, for one program
//! at a time ([`Engine::read`]). Reads are of committed records; none of
//! them writes.

use chrono::NaiveDate;

use super::Engine;

/// The most referrer-day records (one per referrer active on a day) one
/// [`Reader::report`] reads; past it the report says it is partial
/// ([`Report::referrers_partial`]).
pub const REPORT_REFERRER_DAYS: usize = 10_000;
use super::cx::{self, in_key_range};
use super::page::Listing;
use super::tx::Tx;
use crate::domain::code::CodeRecord;
use crate::domain::code::{Channel, ReferralCode, ShareLink};
use crate::domain::counters::{Counters, ReferrerDay};
use crate::domain::id::{OrderId, ParticipantId, ProgramId, RewardId};
use crate::domain::ledger::{Balance, LedgerEntry, Reward};
use crate::domain::order::Order;
use crate::domain::participant::Participant;
use crate::domain::referral::Referral;
use crate::domain::review::ReviewItem;
use crate::domain::state::ProgramState;
use crate::domain::value::Asset;
use crate::error::Error;
use crate::event::{AuditEntry, Notification, OutboxEntry};
use crate::insight::{Dashboard, Report};
use crate::store::{Key, RecordKey, RecordKind, RecordRange, Store};

/// One program's read side: see [`Engine::read`].
#[derive(Debug)]
pub struct Reader<'e, S> {
    pub(super) engine: &'e Engine<S>,
    pub(super) program: &'e ProgramId,
}

impl<S: Store> Reader<'_, S> {
    /// One record, straight from the store: a read keeps no read set.
    fn get<T: RecordKind>(&self, key: &RecordKey<T>) -> Result<Option<T>, Error> {
        let Some(found) = self.engine.store.get(key.key())? else { return Ok(None) };
        T::from_ref(&found.record).cloned().map(Some).ok_or_else(|| super::tx::wrong_kind(key.key()))
    }

    /// A participant of a program.
    pub fn participant(&self, id: &ParticipantId) -> Result<Option<Participant>, Error> {
        self.get(&Key::participant(self.program, id))
    }

    /// A participant's balance in one asset (zero when unknown).
    pub fn balance(&self, id: &ParticipantId, asset: &Asset) -> Result<Balance, Error> {
        Ok(self.participant(id)?.map_or_else(|| Balance::zero(asset.clone()), |p| p.balance(asset)))
    }

    /// The referral that brought `referee` in, if any.
    pub fn referral(&self, referee: &ParticipantId) -> Result<Option<Referral>, Error> {
        self.get(&Key::referral(self.program, referee))
    }

    fn listing<T: RecordKind + Clone>(&self, range: RecordRange<T>) -> Listing<'_, T> {
        Listing::new(&self.engine.store, range.into_range(), |r| T::from_ref(r).cloned())
    }

    /// The referrals of a program, by referee, in pages.
    pub fn referrals(&self) -> Listing<'_, Referral> {
        self.listing(Key::referrals(self.program))
    }

    /// The participants of a program, in pages.
    pub fn participants(&self) -> Listing<'_, Participant> {
        self.listing(Key::participants(self.program))
    }

    /// A participant's ledger entries, oldest first, in pages: their statement.
    pub fn statement(&self, id: &ParticipantId) -> Listing<'_, LedgerEntry> {
        self.listing(Key::entries(self.program, id))
    }

    /// A reward.
    pub fn reward(&self, id: &RewardId) -> Result<Option<Reward>, Error> {
        self.get(&Key::reward(self.program, id))
    }

    /// An order the engine has seen: its amount, what was refunded, what it earned.
    pub fn order(&self, id: &OrderId) -> Result<Option<Order>, Error> {
        self.get(&Key::order(self.program, id))
    }

    /// Up to `limit` notifications waiting in a program's outbox, oldest first.
    ///
    /// Delivery is at least once: a notification stays until an
    /// [`crate::EventKind::Acknowledge`] names it, so a
    /// host that crashes between reading and acknowledging reads it again.
    /// Oldest first, by the time the engine's clock gave each event; one
    /// event's notices in the order it gave them; events handled at the same
    /// instant in the order of their stored keys.
    pub fn notifications(&self, limit: usize) -> Result<Vec<Notification>, Error> {
        // Every outbox record holds at least one notification.
        let entries = Tx::new(&self.engine.store).scan::<OutboxEntry>(&Key::notifications(self.program), limit)?;
        Ok(entries.iter().flat_map(|(_, entry)| entry.notifications()).take(limit).collect())
    }

    /// A referrer's dashboard; with `links`, a share link per channel for each
    /// code. `None` when the program has no such participant: a read that
    /// finds nothing is not a refusal (a host answers it with "not found").
    pub fn dashboard(
        &self,
        id: &ParticipantId,
        links: Option<&ShareLink>,
        channels: &[Channel],
    ) -> Result<Option<Dashboard>, Error> {
        let Some(p) = self.participant(id)? else { return Ok(None) };
        let definition =
            self.engine.programs.get(self.program).ok_or_else(|| Error::UnknownProgram(self.program.clone()))?;
        Ok(Some(Dashboard::build(definition, &p, links, channels)))
    }

    /// A program's report for the days from `from` to `to`, both included
    /// (days in UTC). It reads the counter shards of each day (at most
    /// [`COUNTER_SHARDS`](crate::domain::counters::COUNTER_SHARDS)), and one record per
    /// referrer active on each day (for the top referrers and the K-factor).
    pub fn report(&self, from: NaiveDate, to: NaiveDate) -> Result<Report, Error> {
        if from > to {
            return Err(Error::InvalidArgument("a report's `from` day is after its `to` day"));
        }
        let storable = |d: NaiveDate| in_key_range(d.and_time(chrono::NaiveTime::MIN).and_utc());
        if !storable(from) || !storable(to) {
            return Err(Error::InvalidArgument("a report's days are in the years 1 to 9999"));
        }
        let definition =
            self.engine.programs.get(self.program).ok_or_else(|| Error::UnknownProgram(self.program.clone()))?;
        let days: Vec<Counters> = Tx::new(&self.engine.store)
            .scan(&Key::days(self.program, from, to), usize::MAX)?
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        // Bounded whatever the number of active referrers: one more than
        // the report reads says whether it read them all.
        let mut referrer_days: Vec<ReferrerDay> = Tx::new(&self.engine.store)
            .scan(&Key::referrer_days(self.program, from, to), REPORT_REFERRER_DAYS.saturating_add(1))?
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        let partial = referrer_days.len() > REPORT_REFERRER_DAYS;
        referrer_days.truncate(REPORT_REFERRER_DAYS);
        let mut report = Report::build(definition, from, to, days, referrer_days)?;
        report.referrers_partial = partial;
        Ok(report)
    }

    /// The review queue, in pages: flagged referrals awaiting a decision, by referee.
    pub fn review_queue(&self) -> Listing<'_, ReviewItem> {
        self.listing(Key::reviews(self.program))
    }

    /// The audit trail, oldest first: every rejection, flag, approval,
    /// expiry, reversal, withheld or cut grant, suspension and payout, with
    /// its reason and time.
    pub fn audit(&self, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        Tx::new(&self.engine.store)
            .scan(&Key::audits(self.program), limit)
            .map(|v| v.into_iter().map(|(_, a)| a).collect())
    }

    /// Referrals still waiting to qualify after `older_than`, in pages: the
    /// follow-up list for nurturing.
    pub fn stale_referrals(&self, older_than: chrono::Duration) -> Result<Listing<'_, Referral>, Error> {
        if older_than < chrono::Duration::zero() {
            return Err(Error::InvalidArgument("`older_than` is negative"));
        }
        // A span longer than the calendar reaches back before every referral.
        let cutoff = cx::earlier(self.engine.clock.now(), older_than);
        Ok(self.referrals().filter(move |r| {
            r.status == crate::domain::referral::ReferralStatus::Attributed && r.attributed_at <= cutoff
        }))
    }

    /// A program's catalog stock used and payout ids.
    pub fn program_state(&self) -> Result<ProgramState, Error> {
        Ok(self.get(&Key::program(self.program))?.unwrap_or_default())
    }

    /// A program's counters over its whole life (what its budgets are
    /// measured against): the sum of its [`COUNTER_SHARDS`](crate::domain::counters::COUNTER_SHARDS) shards.
    pub fn totals(&self) -> Result<Counters, Error> {
        let shards = Tx::new(&self.engine.store).scan::<Counters>(&Key::all_totals(self.program), usize::MAX)?;
        let mut sum = Counters::default();
        for (_, shard) in &shards {
            sum.add(shard)?;
        }
        Ok(sum)
    }

    /// What a code resolves to; `typed` is normalized first.
    pub fn resolve_code(&self, typed: &str) -> Result<Option<CodeRecord>, Error> {
        let code = ReferralCode::parse(typed)?;
        self.get(&Key::code(self.program, &code))
    }
}

/// Reading: what hosts show.
impl<S: Store> Engine<S> {
    /// The read side of one program: participants, balances, statements,
    /// referrals, orders, the outbox, dashboards, reports, the review queue
    /// and the audit trail.
    ///
    /// ```
    /// # use referral_engine::{Engine, MemoryStore, ProgramSpec};
    /// # let spec: ProgramSpec = serde_json::from_str(r#"{"id": "p", "name": "P", "currency": "USD",
    /// #     "policies": [{"type": "one_sided", "name": "b", "on": "sign_up", "reward": {"fixed": "5.00 USD"}}]}"#).unwrap();
    /// let engine = Engine::new(MemoryStore::new()).with_program(spec.build().unwrap());
    /// let program = "p".parse().unwrap();
    /// let balance = engine.read(&program).balance(&"ann".parse().unwrap(), &"USD".parse().unwrap()).unwrap();
    /// assert!(balance.available.is_zero());
    /// ```
    pub fn read<'e>(&'e self, program: &'e ProgramId) -> Reader<'e, S> {
        Reader { engine: self, program }
    }
}
