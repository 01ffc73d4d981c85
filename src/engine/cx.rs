//! The context one event is decided in: the program, the event, its time,
//! the records it reads and writes (through [`Tx`], which records every
//! version seen) and the outcome being built; with the record helpers the
//! handlers share and the event's counting (one place for counters).
//!
//! Nothing here does I/O of its own, and nothing here calls a handler:
//! handlers (`handle/`) call the granting component (`grant`), which calls
//! the ledger (`ledger`); all of them work on a `Cx`.

use crate::domain::code::RandomSource;
use crate::domain::counters::{COUNTER_SHARDS, Counters, ReferrerDay};
use crate::domain::id::{IdSource, ParticipantId};
use crate::domain::ledger::Reward;
use crate::domain::participant::Participant;
use crate::domain::referral::Referral;
use crate::domain::state::ProgramState;
use crate::domain::value::{Asset, Checked, Value, add_to};
use crate::engine::tx::Tx;
use crate::error::{Error, Refusal};
use crate::event::{Event, Outcome};
use crate::program::{Program, ProgramStatus};
use crate::store::{Key, RecordKey};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

/// `at + span`, refused as an error when it leaves the dates the engine can
/// store (years 1 to 9999: keys hold times as fixed-width text).
pub(crate) fn later(at: DateTime<Utc>, span: Duration, what: &'static str) -> Result<DateTime<Utc>, Error> {
    at.checked_add_signed(span).filter(|t| in_key_range(*t)).ok_or_else(|| Refusal::DateOutOfRange { what }.into())
}

/// `at - span`, where a time before the engine's dates means "since ever".
pub(crate) fn earlier(at: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
    at.checked_sub_signed(span).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Whether a time fits the fixed-width form keys hold it in.
pub(crate) fn in_key_range(at: DateTime<Utc>) -> bool {
    use chrono::Datelike;
    (1..=9999).contains(&at.year())
}

/// One event's decision context (see the module).
pub(crate) struct Cx<'a, 's> {
    pub(crate) program: &'a Program,
    pub(crate) event: &'a Event,
    pub(crate) now: DateTime<Utc>,
    pub(crate) tx: &'a mut Tx<'s>,
    pub(crate) ids: IdSource,
    pub(crate) random: &'a dyn RandomSource,
    pub(crate) out: Outcome,
    state: Option<ProgramState>,
    /// What this event adds to the program's lifetime counters and to
    /// today's, written by [`Self::flush`] into the event's shard.
    pub(crate) totals: Option<Counters>,
    pub(crate) day: Option<Counters>,
    /// Where they go: this event's shards (by its key) of the lifetime and
    /// today's counters.
    counter_keys: [RecordKey<Counters>; 2],
    /// The stored shards' net granted in one asset, once summed.
    granted_memo: Option<(Asset, Decimal)>,
    /// The last [`Self::variant_above`] answer with a referral behind it: a
    /// referral's referrer and a referrer's variant never change.
    variant_memo: Option<(ParticipantId, Option<String>)>,
}

impl<'a, 's> Cx<'a, 's> {
    pub(crate) fn new(
        program: &'a Program,
        event: &'a Event,
        now: DateTime<Utc>,
        tx: &'a mut Tx<'s>,
        random: &'a dyn RandomSource,
    ) -> Self {
        let ids = IdSource::new(&event.key, now);
        let shard = ids.shard(COUNTER_SHARDS);
        let counter_keys = [Key::totals(program.id(), shard), Key::day(program.id(), now.date_naive(), shard)];
        Self {
            program,
            event,
            now,
            tx,
            ids,
            random,
            out: Outcome::new(event.key.clone(), now),
            state: None,
            totals: None,
            day: None,
            counter_keys,
            granted_memo: None,
            variant_memo: None,
        }
    }

    /// Fetches in one store call the records a handler is about to read,
    /// with this event's counter shards, instead of a round trip each: each
    /// handler names them where it starts (the rest are read as it goes).
    /// A record fetched and never read adds no condition to the commit.
    pub(crate) fn read_ahead<const N: usize>(&mut self, keys: [Option<Key>; N]) -> Result<(), Error> {
        let counters = self.counter_keys.iter().map(|k| k.key().clone());
        self.tx.prefetch(keys.into_iter().flatten().chain(counters))
    }

    /// Fetches a referrer's records that a referral's next steps read.
    pub(crate) fn read_ahead_referrer(&mut self, referrer: &ParticipantId) -> Result<(), Error> {
        let p = self.program.id();
        let day = self.now.date_naive();
        // The event's counter shards were named by the handler's own read_ahead.
        self.tx.prefetch([Key::participant(p, referrer).into_key(), Key::referrer_day(p, day, referrer).into_key()])
    }

    pub(crate) fn participant(&mut self, id: &ParticipantId) -> Result<Option<Participant>, Error> {
        self.tx.get(&Key::participant(self.program.id(), id))
    }

    pub(crate) fn known_participant(&mut self, id: &ParticipantId) -> Result<Participant, Error> {
        Ok(self.participant(id)?.ok_or_else(|| Refusal::UnknownParticipant(id.clone()))?)
    }

    /// Changes a known participant in place (refused if unknown).
    pub(crate) fn update_participant<R>(
        &mut self,
        id: &ParticipantId,
        f: impl FnOnce(&mut Participant) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let key = Key::participant(self.program.id(), id);
        self.tx.update(&key, f)?.ok_or_else(|| Refusal::UnknownParticipant(id.clone()).into())
    }

    pub(crate) fn save_participant(&mut self, p: Participant) -> Result<(), Error> {
        self.tx.put(Key::participant(self.program.id(), &p.id), p)
    }

    pub(crate) fn referral_of(&mut self, referee: &ParticipantId) -> Result<Option<Referral>, Error> {
        self.tx.get(&Key::referral(self.program.id(), referee))
    }

    /// A referral leaves the live states (rejected in review, reversed by a
    /// full refund, superseded by a later touch): it gives back every count
    /// it contributed, so that it no longer weighs on its referrer's tiers,
    /// milestones and conversion (`stats.qualified`), on
    /// `max_rewarded_referrals` (`stats.rewarded_referrals`, unless a reward
    /// it earned its referrer still stands: what was paid stays paid, and
    /// the place goes back when the last such reward is reversed), or in a
    /// multi-level chain (the referee's `referred_by`, which a superseding
    /// touch points at its own referrer). The one place every exit goes
    /// through: call it after the exit's reversals and before the referral's
    /// transition, and save the referral after.
    pub(crate) fn give_back(&mut self, referral: &mut Referral) -> Result<(), Error> {
        let was_qualified = referral.status.is_qualified();
        let was_counted = referral.counts_for_referrer && referral.standing_referrer_rewards == 0;
        if was_counted {
            referral.counts_for_referrer = false;
        }
        if was_qualified || was_counted {
            self.update_participant(&referral.referrer, |r| {
                if was_qualified {
                    r.stats.qualified = r.stats.qualified.saturating_sub(1);
                }
                if was_counted {
                    r.stats.rewarded_referrals = r.stats.rewarded_referrals.saturating_sub(1);
                }
                Ok(())
            })?;
        }
        let referrer = referral.referrer.clone();
        let key = Key::participant(self.program.id(), &referral.referee);
        let linked = self.tx.get(&key)?.is_some_and(|p| p.referred_by.as_ref() == Some(&referrer));
        if linked {
            self.update_participant(&referral.referee, |p| {
                p.referred_by = None;
                Ok(())
            })?;
        }
        Ok(())
    }

    pub(crate) fn save_referral(&mut self, r: Referral) -> Result<(), Error> {
        self.out.referrals.retain(|o| o.id != r.id);
        self.out.referrals.push(r.clone());
        self.tx.put(Key::referral(self.program.id(), &r.referee), r)
    }

    /// The program's state as this decision has it; read once, written once by [`Self::flush`].
    pub(crate) fn state_mut(&mut self) -> Result<&mut ProgramState, Error> {
        let state = match self.state.take() {
            Some(s) => s,
            None => self.tx.get(&Key::program(self.program.id()))?.unwrap_or_default(),
        };
        Ok(self.state.insert(state))
    }

    /// Adds to the program's counters: its lifetime totals and today's.
    pub(crate) fn count(&mut self, f: impl Fn(&mut Counters)) -> Result<(), Error> {
        f(self.totals.get_or_insert_default());
        self.count_today(f)
    }

    /// Adds money to the program's counters, checked: lifetime and today's.
    pub(crate) fn count_money(
        &mut self,
        f: impl Fn(&mut Counters) -> Result<(), crate::domain::value::ValueError>,
    ) -> Result<(), Error> {
        f(self.totals.get_or_insert_default())?;
        f(self.day.get_or_insert_default())?;
        Ok(())
    }

    /// Adds to today's counters only.
    pub(crate) fn count_today(&mut self, f: impl FnOnce(&mut Counters)) -> Result<(), Error> {
        f(self.day.get_or_insert_default());
        Ok(())
    }

    /// Net granted in `asset` over the program's life, this event included:
    /// every shard of the totals is read (and so must not change before the
    /// commit), which is what a budget needs.
    pub(crate) fn granted_so_far(&mut self, asset: &Asset) -> Result<Decimal, Error> {
        let pending = self.totals.as_ref().map_or(Decimal::ZERO, |t| t.granted_in(asset));
        if let Some((memo, stored)) = &self.granted_memo
            && memo == asset
        {
            return Ok(stored.plus(pending)?);
        }
        // Every shard, each read by key: one not stored yet is read as
        // absent, so that one a concurrent event (or one earlier in this
        // batch) creates counts too. Fetched in one call, but for the shards
        // this decision already read (its own, fetched ahead).
        let p = self.program.id();
        let shards = Key::every_total(p, COUNTER_SHARDS);
        let mut stored = Decimal::ZERO;
        let mut sum = Ok(());
        self.tx.read_many(&shards, |c| {
            if let (Ok(()), Some(c)) = (&sum, c) {
                sum = add_to(&mut stored, c.granted_in(asset));
            }
        })?;
        sum?;
        // The stored shards do not change during a decision (they are
        // written by `flush`, at its end): a second grant reuses the sum.
        self.granted_memo = Some((asset.clone(), stored));
        Ok(stored.plus(pending)?)
    }

    /// Writes the program state and adds this event's counts to its shards,
    /// once, after everything else.
    pub(crate) fn flush(&mut self) -> Result<(), Error> {
        if let Some(state) = self.state.take() {
            self.tx.put(Key::program(self.program.id()), state)?;
        }
        let [totals_key, day_key] = self.counter_keys.clone();
        for (key, delta) in [(totals_key, self.totals.take()), (day_key, self.day.take())] {
            let Some(delta) = delta else { continue };
            let mut shard = self.tx.get(&key)?.unwrap_or_default();
            shard.add(&delta)?;
            self.tx.put(key, shard)?;
        }
        Ok(())
    }

    /// Adds to one referrer's counters for today.
    pub(crate) fn count_referrer_day(
        &mut self,
        referrer: &ParticipantId,
        f: impl FnOnce(&mut ReferrerDay),
    ) -> Result<(), Error> {
        let key = Key::referrer_day(self.program.id(), self.now.date_naive(), referrer);
        let mut day = self.tx.get(&key)?.unwrap_or_default();
        day.referrer = Some(referrer.clone());
        f(&mut day);
        self.tx.put(key, day)
    }

    /// The A/B variant of whoever referred `referee`, if any.
    pub(crate) fn variant_above(&mut self, referee: &ParticipantId) -> Result<Option<String>, Error> {
        if let Some((who, variant)) = &self.variant_memo
            && who == referee
        {
            return Ok(variant.clone());
        }
        let Some(referral) = self.referral_of(referee)? else { return Ok(None) };
        let variant = self.participant(&referral.referrer)?.and_then(|p| p.variant);
        self.variant_memo = Some((referee.clone(), variant.clone()));
        Ok(variant)
    }

    pub(crate) fn require_open(&self) -> Result<(), Error> {
        let spec = self.program.spec();
        if spec.status != ProgramStatus::Active {
            return Err(Refusal::ProgramNotActive { program: spec.id.clone(), status: spec.status }.into());
        }
        if spec.starts_at.is_some_and(|s| self.now < s) || spec.ends_at.is_some_and(|e| self.now >= e) {
            return Err(Refusal::OutsideProgramDates { program: spec.id.clone(), at: self.now }.into());
        }
        Ok(())
    }

    pub(crate) fn require_enrolled(&mut self, id: &ParticipantId) -> Result<Participant, Error> {
        match self.participant(id)? {
            Some(p) if p.enrolled_at.is_some() => Ok(p),
            _ => Err(Refusal::NotEnrolled(id.clone()).into()),
        }
    }

    pub(crate) fn program_money(&self, amount: &Value) -> Result<(), Error> {
        let expected = Asset::Money(self.program.terms().currency);
        if amount.asset() != &expected {
            return Err(Refusal::CurrencyMismatch { expected, found: amount.asset().clone() }.into());
        }
        if !amount.is_positive() {
            return Err(Refusal::InvalidAmount(amount.clone()).into());
        }
        amount.check_bounds()?;
        Ok(())
    }

    pub(crate) fn save_reward(&mut self, reward: Reward) -> Result<(), Error> {
        self.out.rewards.retain(|r| r.id != reward.id);
        self.out.rewards.push(reward.clone());
        self.tx.put(Key::reward(self.program.id(), &reward.id), reward)
    }

    /// Saves a reward just granted: its id is fresh, so nothing is read first.
    pub(crate) fn save_new_reward(&mut self, reward: Reward) {
        self.out.rewards.push(reward.clone());
        self.tx.put_new(Key::reward(self.program.id(), &reward.id), reward);
    }
}
