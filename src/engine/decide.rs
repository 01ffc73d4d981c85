//! The pure decision: one event, the records it reads, the changes it makes.
//!
//! Nothing here does I/O of its own: it reads through [`Tx`], which records
//! every version it saw, and collects writes that the engine commits as one
//! unit. The time is an argument.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use super::tx::Tx;
use crate::domain::code::{Channel, RandomSource, ReferralCode};
use crate::domain::id::{EntryId, IdSource, OrderId, ParticipantId, PayoutId, ReferralId, RewardId};
use crate::domain::ledger::{Bucket, EntryKind, LedgerEntry, Reversal, Reward, RewardStatus, Role};
use crate::domain::participant::{Attributes, Participant};
use crate::domain::referral::{PaidOnce, Referral, ReferralStatus, RejectReason, Transition};
use crate::domain::value::{Asset, Checked, Value, add_to, inc, negated};
use crate::error::Error;
use crate::event::{Event, EventKind, Notice, Outcome};
use crate::fraud::{Signal, Verdict};
use crate::policy::Trigger;
use crate::program::{AttributionModel, Program, ProgramStatus, Qualification};
use crate::store::{
    AuditEntry, COUNTER_SHARDS, CodeRecord, CodeUse, Counters, Due, Key, NotificationId, Order, OutboxEntry,
    ProgramState, ReferrerDay, ReviewItem, SignalIndex,
};

/// The most due items one tick handles; the rest wait for the next tick.
pub const TICK_BATCH: usize = 10_000;
/// The most partner codes one event issues.
pub const MAX_PARTNER_CODES: u32 = 10_000;
/// How far up the chain a cycle check looks.
const CYCLE_SEARCH: usize = 256;

/// How many codes a decision draws before it gives up on the random source.
const CODE_DRAWS: u32 = 32;

/// The most participants a signal index lists.
const MAX_SIGNAL_HOLDERS: usize = 32;

/// What the fraud rules make of a sign-up.
enum Screen {
    Pass,
    Reject(RejectReason),
    Flag(String),
}

/// Whether a notice belongs in the audit trail: rejections, flags,
/// approvals, expiries, reversals, withheld grants and payouts.
fn is_audited(notice: &Notice) -> bool {
    matches!(
        notice,
        Notice::ReferralRejected { .. }
            | Notice::ReferralFlagged { .. }
            | Notice::ReferralApproved { .. }
            | Notice::ReferralExpired { .. }
            | Notice::ReferralReversed { .. }
            | Notice::RewardReversed { .. }
            | Notice::RewardWithheld { .. }
            | Notice::RewardCut { .. }
            | Notice::PaidOut { .. }
            | Notice::Suspended { .. }
            | Notice::Reinstated { .. }
    )
}

/// `at + span`, refused as an error when it leaves the dates the engine can
/// store (years 1 to 9999: keys hold times as fixed-width text).
pub(crate) fn later(at: DateTime<Utc>, span: Duration, what: &'static str) -> Result<DateTime<Utc>, Error> {
    at.checked_add_signed(span).filter(|t| in_key_range(*t)).ok_or(Error::DateOutOfRange { what })
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

/// Adds hashed signals a participant does not hold yet.
fn merge_signals(held: &mut Vec<Signal>, new: &[Signal]) {
    for s in new {
        if !held.contains(s) {
            held.push(s.clone());
        }
    }
}

pub(crate) struct Decision<'a, 's> {
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
    totals: Option<Counters>,
    day: Option<Counters>,
    /// Where they go: this event's shards (by its key) of the lifetime and
    /// today's counters.
    counter_keys: [Key; 2],
    /// The stored shards' net granted in one asset, once summed.
    granted_memo: Option<(Asset, Decimal)>,
    /// The last [`Self::variant_above`] answer with a referral behind it: a
    /// referral's referrer and a referrer's variant never change.
    variant_memo: Option<(ParticipantId, Option<String>)>,
}

impl<'a, 's> Decision<'a, 's> {
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

    pub(crate) fn run(&mut self) -> Result<(), Error> {
        self.prefetch()?;
        let kind = &self.event.kind;
        match kind {
            EventKind::Enroll { participant, segment, attributes, vanity_code, signals } => {
                self.enroll(participant, segment.as_deref(), attributes, vanity_code.as_deref(), signals)
            }
            EventKind::IssueCode { participant, vanity_code } => {
                self.issue_code(participant, vanity_code.as_deref()).map(drop)
            }
            EventKind::IssuePartnerCodes { partner, count } => self.issue_partner_codes(partner, *count),
            EventKind::InviteSent { referrer, channel } => self.invite(referrer, channel),
            EventKind::SignUp { referee, code, channel, clicked_at, signals } => {
                self.sign_up(referee, code, channel, *clicked_at, signals)
            }
            EventKind::Approve { referee } => self.review(referee, None),
            EventKind::Reject { referee, reason } => self.review(referee, Some(reason)),
            EventKind::Purchase { customer, order, amount, coupon } => {
                self.purchase(customer, order, amount, coupon.as_deref())
            }
            EventKind::Refund { order, amount } => self.refund(order, amount, "refund"),
            EventKind::Chargeback { order, amount } => self.refund(order, amount, "chargeback"),
            EventKind::Action { participant, name } => self.action(participant, name),
            EventKind::Tick => self.tick(),
            EventKind::Suspend { participant } => self.set_suspended(participant, true),
            EventKind::Reinstate { participant } => self.set_suspended(participant, false),
            EventKind::Redeem { participant, item } => self.redeem(participant, item),
            EventKind::Payout { payout, asset, minimum } => self.payout(payout, asset, *minimum),
            EventKind::Acknowledge { notifications } => self.acknowledge(notifications),
        }
    }

    // ----- reading -----------------------------------------------------

    /// Fetches in one store call the records an event of its kind reads
    /// first (see [`Tx::prefetch`]); the rest are read as the decision needs
    /// them.
    fn prefetch(&mut self) -> Result<(), Error> {
        let p = self.program.id();
        let mut keys = match &self.event.kind {
            EventKind::SignUp { referee, code, .. } => {
                let mut keys = vec![Key::referral(p, referee), Key::participant(p, referee)];
                keys.extend(ReferralCode::parse(code).ok().map(|c| Key::code(p, &c)));
                keys
            }
            EventKind::Purchase { customer, order, .. } => {
                vec![Key::order(p, order), Key::referral(p, customer), Key::participant(p, customer)]
            }
            EventKind::Enroll { participant, .. }
            | EventKind::InviteSent { referrer: participant, .. }
            | EventKind::Action { participant, .. } => vec![Key::participant(p, participant)],
            _ => return Ok(()),
        };
        keys.extend(self.counter_keys.iter().cloned());
        self.tx.prefetch(keys)
    }

    /// Fetches a referrer's records that a referral's next steps read.
    fn prefetch_referrer(&mut self, referrer: &ParticipantId) -> Result<(), Error> {
        let p = self.program.id();
        let keys = [Key::participant(p, referrer), Key::referrer_day(p, self.now.date_naive(), referrer)];
        self.tx.prefetch(keys)
    }

    pub(crate) fn participant(&mut self, id: &ParticipantId) -> Result<Option<Participant>, Error> {
        self.tx.get(&Key::participant(self.program.id(), id))
    }

    pub(crate) fn known_participant(&mut self, id: &ParticipantId) -> Result<Participant, Error> {
        self.participant(id)?.ok_or_else(|| Error::UnknownParticipant(id.clone()))
    }

    pub(crate) fn save_participant(&mut self, p: Participant) -> Result<(), Error> {
        self.tx.put(Key::participant(self.program.id(), &p.id), p)
    }

    pub(crate) fn referral_of(&mut self, referee: &ParticipantId) -> Result<Option<Referral>, Error> {
        self.tx.get(&Key::referral(self.program.id(), referee))
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
        let shards: Vec<Key> = (0..COUNTER_SHARDS).map(|i| Key::totals(p, i)).collect();
        self.tx.prefetch(shards.iter().cloned())?;
        let mut stored = Decimal::ZERO;
        for key in &shards {
            let shard = self.tx.read_with(key, |c: Option<&Counters>| c.map(|c| c.granted_in(asset)))?;
            add_to(&mut stored, shard.unwrap_or_default())?;
        }
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
            let mut shard: Counters = self.tx.get(&key)?.unwrap_or_default();
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
        let mut day: ReferrerDay = self.tx.get(&key)?.unwrap_or_default();
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

    // ----- checks ------------------------------------------------------

    fn require_open(&self) -> Result<(), Error> {
        let spec = self.program.spec();
        if spec.status != ProgramStatus::Active {
            return Err(Error::ProgramNotActive { program: spec.id.clone(), status: spec.status });
        }
        if spec.starts_at.is_some_and(|s| self.now < s) || spec.ends_at.is_some_and(|e| self.now >= e) {
            return Err(Error::OutsideProgramDates { program: spec.id.clone(), at: self.now });
        }
        Ok(())
    }

    fn require_enrolled(&mut self, id: &ParticipantId) -> Result<Participant, Error> {
        match self.participant(id)? {
            Some(p) if p.enrolled_at.is_some() => Ok(p),
            _ => Err(Error::NotEnrolled(id.clone())),
        }
    }

    fn program_money(&self, amount: &Value) -> Result<(), Error> {
        let expected = Asset::Money(self.program.terms().currency);
        if amount.asset() != &expected {
            return Err(Error::CurrencyMismatch { expected, found: amount.asset().clone() });
        }
        if !amount.is_positive() {
            return Err(Error::InvalidAmount(amount.clone()));
        }
        amount.check_bounds()?;
        Ok(())
    }

    // ----- codes -------------------------------------------------------

    fn new_code(&mut self, owner: &ParticipantId, vanity: Option<&str>, usage: CodeUse) -> Result<ReferralCode, Error> {
        let code = match vanity {
            Some(v) => {
                let code = ReferralCode::parse(v)?;
                if self.tx.get::<CodeRecord>(&Key::code(self.program.id(), &code))?.is_some() {
                    return Err(Error::CodeTaken(code));
                }
                code
            }
            None => {
                // A sound random source repeats a 50-bit code about never; one
                // that keeps repeating is broken, and is refused, not looped on.
                let mut fresh = None;
                for _ in 0..CODE_DRAWS {
                    let code = ReferralCode::generate(self.random);
                    if self.tx.get::<CodeRecord>(&Key::code(self.program.id(), &code))?.is_none() {
                        fresh = Some(code);
                        break;
                    }
                }
                fresh.ok_or(Error::NoFreshCode(CODE_DRAWS))?
            }
        };
        let record = CodeRecord {
            code: code.clone(),
            program: self.program.id().clone(),
            owner: owner.clone(),
            usage,
            issued_at: self.now,
        };
        self.tx.put(Key::code(self.program.id(), &code), record)?;
        self.out.codes.push(code.clone());
        self.out.notices.push(Notice::CodeIssued { participant: owner.clone(), code: code.clone() });
        Ok(code)
    }

    fn enroll(
        &mut self,
        id: &ParticipantId,
        segment: Option<&str>,
        attributes: &Attributes,
        vanity: Option<&str>,
        signals: &[Signal],
    ) -> Result<(), Error> {
        self.require_open()?;
        let mut p = match self.participant(id)? {
            Some(p) if p.enrolled_at.is_some() => {
                return Err(Error::DuplicateEnrollment(id.clone()));
            }
            Some(p) => p,
            None => Participant::new(self.program.id().clone(), id.clone(), self.now),
        };
        if let Some(rule) = &self.program.spec().enrollment {
            if !rule.matches(attributes) {
                return Err(Error::NotEligible(id.clone()));
            }
        }
        if let Some(s) = segment {
            if s.is_empty() || s.len() > 64 || s.chars().any(char::is_control) {
                return Err(Error::InvalidEvent(format!("segment {s:?} is not 1 to 64 printable characters")));
            }
        }
        p.enrolled_at = Some(self.now);
        p.segment = segment.map(str::to_owned);
        p.variant = self.program.assign_variant(id).map(str::to_owned);
        let variant = p.variant.clone();
        self.count(|c| {
            inc(&mut c.enrolled);
            if let Some(v) = &variant {
                inc(&mut c.variant(v).referrers);
            }
        })?;
        p.attributes = attributes.clone();
        self.index_signals(id, signals, false)?;
        merge_signals(&mut p.signals, signals);
        let code = self.new_code(id, vanity, CodeUse::Reusable)?;
        p.codes.push(code);
        self.save_participant(p)?;
        self.out.notices.push(Notice::Enrolled { participant: id.clone() });
        Ok(())
    }

    fn issue_code(&mut self, id: &ParticipantId, vanity: Option<&str>) -> Result<ReferralCode, Error> {
        self.require_open()?;
        let mut p = self.require_enrolled(id)?;
        let code = self.new_code(id, vanity, CodeUse::Reusable)?;
        p.codes.push(code.clone());
        self.save_participant(p)?;
        Ok(code)
    }

    fn issue_partner_codes(&mut self, partner: &ParticipantId, count: u32) -> Result<(), Error> {
        self.require_open()?;
        if count == 0 || count > MAX_PARTNER_CODES {
            return Err(Error::InvalidEvent(format!("partner code count {count} is not in 1..={MAX_PARTNER_CODES}")));
        }
        self.require_enrolled(partner)?;
        for _ in 0..count {
            self.new_code(partner, None, CodeUse::SingleUse(None))?;
        }
        Ok(())
    }

    // ----- referrals ---------------------------------------------------

    fn invite(&mut self, referrer: &ParticipantId, channel: &Channel) -> Result<(), Error> {
        channel.check().map_err(|e| Error::InvalidEvent(e.into()))?;
        self.require_open()?;
        let mut p = self.require_enrolled(referrer)?;
        inc(&mut p.stats.invites);
        self.save_participant(p)?;
        self.count(|c| inc(&mut c.invites))?;
        self.count_referrer_day(referrer, |d| inc(&mut d.invites))?;
        let trigger = Trigger::InviteSent { channel: channel.clone() };
        self.reward(&trigger, referrer, None)
    }

    fn sign_up(
        &mut self,
        referee: &ParticipantId,
        typed: &str,
        channel: &Channel,
        clicked_at: Option<DateTime<Utc>>,
        signals: &[Signal],
    ) -> Result<(), Error> {
        channel.check().map_err(|e| Error::InvalidEvent(e.into()))?;
        let code = ReferralCode::parse(typed)?;
        let record: CodeRecord =
            self.tx.get(&Key::code(self.program.id(), &code))?.ok_or_else(|| Error::UnknownCode(code.clone()))?;
        self.require_open()?;
        let referrer = record.owner.clone();
        self.prefetch_referrer(&referrer)?;
        if &referrer == referee {
            return Err(Error::SelfReferral(referee.clone()));
        }
        if let (Some(clicked), Some(days)) = (clicked_at, self.program.spec().attribution.window_days) {
            if clicked < earlier(self.now, Duration::days(i64::from(days))) {
                return Err(Error::AttributionWindowPassed { clicked_at: clicked, at: self.now, window_days: days });
            }
        }
        if let CodeUse::SingleUse(Some(_)) = record.usage {
            return Err(Error::CodeAlreadyRedeemed(code));
        }
        // Only someone who has referred others can sit above the referrer.
        if self.participant(referee)?.is_some_and(|p| p.stats.signups > 0) {
            self.check_cycle(referee, &referrer)?;
        }
        let mut paid_once = Vec::new();
        if let Some(existing) = self.referral_of(referee)? {
            let last_touch = self.program.spec().attribution.model == AttributionModel::LastTouch;
            if !(last_touch && existing.status == ReferralStatus::Attributed) || existing.referrer == referrer {
                return Err(Error::AlreadyReferred { referee: referee.clone() });
            }
            paid_once = self.supersede(existing)?;
        }
        let mut referrer_p = self.known_participant(&referrer)?;
        let mut referee_p = self
            .participant(referee)?
            .unwrap_or_else(|| Participant::new(self.program.id().clone(), referee.clone(), self.now));

        // velocity: referrals per referrer per window
        let mut status = ReferralStatus::Attributed;
        if let Some(v) = self.program.spec().limits.velocity {
            let since = earlier(self.now, Duration::hours(i64::from(v.window_hours)));
            referrer_p.recent_referrals.retain(|t| *t > since);
            if referrer_p.recent_referrals.len() >= v.max as usize {
                status = ReferralStatus::Rejected(RejectReason::Velocity);
            } else {
                referrer_p.recent_referrals.push(self.now);
            }
        }

        // fraud rules on identity signals
        let mut flagged = None;
        if status == ReferralStatus::Attributed {
            match self.screen(referee, &referrer, signals)? {
                Screen::Pass => {}
                Screen::Reject(reason) => status = ReferralStatus::Rejected(reason),
                Screen::Flag(reason) => flagged = Some(reason),
            }
        }
        self.index_signals(referee, signals, true)?;
        merge_signals(&mut referee_p.signals, signals);

        let id = ReferralId::from_uuid(self.ids.next());
        let mut referral = Referral {
            id,
            program: self.program.id().clone(),
            referrer: referrer.clone(),
            referee: referee.clone(),
            code: code.clone(),
            channel: channel.clone(),
            status: ReferralStatus::Attributed,
            attributed_at: self.now,
            qualified_at: None,
            history: vec![Transition { to: ReferralStatus::Attributed, at: self.now, event: self.event.key.clone() }],
            purchases: 0,
            earned: vec![],
            in_review: flagged.clone(),
            paid_once,
            counts_for_referrer: false,
            qualified_purchases: 0,
        };
        if let CodeUse::SingleUse(None) = record.usage {
            let mut used = record;
            used.usage = CodeUse::SingleUse(Some(referee.clone()));
            self.tx.put(Key::code(self.program.id(), &code), used)?;
        }
        if let ReferralStatus::Rejected(reason) = status {
            let reason_name = reason.name();
            referral.transition(ReferralStatus::Rejected(reason.clone()), self.now, &self.event.key);
            self.out.notices.push(Notice::ReferralRejected { referral: id, referrer: referrer.clone(), reason });
            self.count(|c| c.count_rejected(reason_name))?;
            self.save_participant(referrer_p)?;
            if self.participant(referee)?.is_none() || !signals.is_empty() {
                self.save_participant(referee_p)?;
            }
            return self.save_referral(referral);
        }
        inc(&mut referrer_p.stats.signups);
        referee_p.referred_by = Some(referrer.clone());
        let referrer_variant = referrer_p.variant.clone();
        self.save_participant(referrer_p)?;
        self.save_participant(referee_p)?;
        let variant = referrer_variant.clone();
        self.count(|c| {
            inc(&mut c.signups);
            inc(&mut c.channel(channel.tag()).signups);
            if let Some(v) = &variant {
                inc(&mut c.variant(v).signups);
            }
        })?;
        self.out.notices.push(Notice::ReferralAttributed {
            referral: id,
            referrer: referrer.clone(),
            referee: referee.clone(),
        });
        if let Some(days) = self.program.spec().qualification_window_days {
            let at = later(self.now, Duration::days(i64::from(days)), "qualification_window_days")?;
            let due = Due::Expire { referral: id, referee: referee.clone() };
            self.tx.put_new(Key::due(self.program.id(), at, &id.to_string()), due);
        }
        self.save_referral(referral.clone())?;
        if let Some(reason) = flagged {
            let item = ReviewItem {
                referral: id,
                referee: referee.clone(),
                referrer: referrer.clone(),
                reason: reason.clone(),
                flagged_at: self.now,
                held: vec![],
            };
            self.tx.put_new(Key::review(self.program.id(), referee, &id), item);
            self.out.notices.push(Notice::ReferralFlagged { referral: id, referrer: referrer.clone(), reason });
        }
        self.reward(&Trigger::SignedUp, referee, Some(referral))?;
        if self.program.spec().qualification == Qualification::SignUp {
            self.qualify(referee)?;
        }
        Ok(())
    }

    /// Ends an attribution that a later one replaces (last touch). What it
    /// paid stays paid, and is carried over so that no rule that pays once
    /// per referee pays again; rewards a review still held are reversed, as a
    /// rejection would, and its review item goes. Returns what it carries.
    fn supersede(&mut self, existing: Referral) -> Result<Vec<PaidOnce>, Error> {
        let (program, referee) = (self.program.id().clone(), existing.referee.clone());
        let mut released = Vec::new();
        let review = Key::review(&program, &referee, &existing.id);
        if let Some(item) = self.tx.get::<ReviewItem>(&review)? {
            for id in &item.held {
                let Some(reward) = self.tx.get::<Reward>(&Key::reward(&program, id))? else { continue };
                let left = reward.outstanding();
                if reward.status == RewardStatus::InReview && left > Decimal::ZERO {
                    released.push(PaidOnce { rule: reward.rule.clone(), role: reward.role });
                    let why = format!("superseded while in review: reverses {}", reward.explanation);
                    self.reverse(reward, left, &why)?;
                }
            }
            self.tx.delete(review)?;
        }
        // Read again: the reversals updated its earnings.
        let mut existing = self.referral_of(&referee)?.unwrap_or(existing);
        existing.in_review = None;
        existing.paid_once.retain(|p| !released.contains(p));
        if existing.counts_for_referrer && !existing.paid_once.iter().any(|p| p.role == Role::Referrer) {
            // Its only referrer rewards were taken back: it no longer counts.
            existing.counts_for_referrer = false;
            let mut referrer = self.known_participant(&existing.referrer)?;
            referrer.stats.rewarded_referrals = referrer.stats.rewarded_referrals.saturating_sub(1);
            self.save_participant(referrer)?;
        }
        existing.transition(ReferralStatus::Rejected(RejectReason::Superseded), self.now, &self.event.key);
        self.out.notices.push(Notice::ReferralRejected {
            referral: existing.id,
            referrer: existing.referrer.clone(),
            reason: RejectReason::Superseded,
        });
        self.count(|c| c.count_rejected("superseded"))?;
        // The superseded referral keeps its history under its own id.
        self.tx.put_new(Key::superseded(&program, &existing.id), existing.clone());
        let carried = existing.paid_once.clone();
        self.out.referrals.retain(|o| o.id != existing.id);
        self.out.referrals.push(existing);
        Ok(carried)
    }

    /// Applies the program's fraud rules to a referee's signals.
    fn screen(
        &mut self,
        referee: &ParticipantId,
        referrer: &ParticipantId,
        signals: &[Signal],
    ) -> Result<Screen, Error> {
        let rules = self.program.spec().fraud.clone();
        let mut flag = None;
        for s in signals {
            let index: SignalIndex = self.tx.get(&Key::signal(self.program.id(), s))?.unwrap_or_default();
            let kind = format!("{:?}", s.kind).to_lowercase();
            let mut found = Vec::new();
            if index.participants.iter().any(|p| p == referrer) {
                let verdict = if s.kind.is_weak() { rules.weak_match } else { rules.self_referral };
                found.push((verdict, RejectReason::SelfReferral, format!("{kind} shared with the referrer")));
            } else if index.participants.iter().any(|p| p != referee) {
                let verdict = if s.kind.is_weak() { rules.weak_match } else { rules.duplicate_account };
                found.push((
                    verdict,
                    RejectReason::DuplicateAccount,
                    format!("{kind} shared with another participant"),
                ));
            }
            for v in rules.signal_velocity.iter().filter(|v| v.kind == s.kind) {
                let since = earlier(self.now, Duration::hours(i64::from(v.window_hours)));
                let recent = index.recent.iter().filter(|t| **t > since).count();
                if recent >= v.max as usize {
                    found.push((
                        v.verdict,
                        RejectReason::SignalVelocity,
                        format!("{recent} sign-ups on one {kind} in {}h", v.window_hours),
                    ));
                }
            }
            for (verdict, reason, words) in found {
                match verdict {
                    Verdict::Reject => return Ok(Screen::Reject(reason)),
                    _ => flag = flag.or(Some(words)),
                }
            }
        }
        Ok(flag.map_or(Screen::Pass, Screen::Flag))
    }

    /// Records who carries each signal, and when sign-ups carried it: at most
    /// as many times as a velocity rule on its kind looks at, within the
    /// longest such rule's window, so that the record stays small.
    fn index_signals(&mut self, who: &ParticipantId, signals: &[Signal], signup: bool) -> Result<(), Error> {
        let rules = &self.program.spec().fraud.signal_velocity;
        for s in signals {
            let of_kind = || rules.iter().filter(|v| v.kind == s.kind);
            let keep = of_kind().map(|v| v.window_hours).max().unwrap_or(0);
            let most = of_kind().map(|v| v.max as usize).max().unwrap_or(0);
            let key = Key::signal(self.program.id(), s);
            let mut index: SignalIndex = self.tx.get(&key)?.unwrap_or_default();
            if !index.participants.contains(who) && index.participants.len() < MAX_SIGNAL_HOLDERS {
                index.participants.push(who.clone());
            }
            if signup && keep > 0 {
                let since = earlier(self.now, Duration::hours(i64::from(keep)));
                index.recent.retain(|t| *t > since);
                index.recent.push(self.now);
                let excess = index.recent.len().saturating_sub(most);
                index.recent.drain(..excess);
            }
            self.tx.put(key, index)?;
        }
        Ok(())
    }

    /// A reviewer's decision on a flagged referral: approve (`None`) or reject with a reason.
    fn review(&mut self, referee: &ParticipantId, rejection: Option<&String>) -> Result<(), Error> {
        let not_in_review = || Error::NotInReview(referee.clone());
        let mut referral = self.referral_of(referee)?.ok_or_else(not_in_review)?;
        let key = Key::review(self.program.id(), referee, &referral.id);
        let item: ReviewItem = self.tx.get(&key)?.ok_or_else(not_in_review)?;
        referral.in_review = None;
        self.tx.delete(key)?;
        match rejection {
            None => {
                self.out
                    .notices
                    .push(Notice::ReferralApproved { referral: referral.id, referrer: referral.referrer.clone() });
                self.save_referral(referral)?;
                for id in &item.held {
                    let Some(mut reward) = self.tx.get::<Reward>(&Key::reward(self.program.id(), id))? else {
                        continue;
                    };
                    let until = later(reward.granted_at, self.program.hold(), "hold_days")?;
                    if until > self.now {
                        reward.status = RewardStatus::Pending(until);
                        self.tx.put_new(Key::due(self.program.id(), until, &id.to_string()), Due::Release(*id));
                        self.save_reward(reward)?;
                    } else {
                        self.save_reward(reward)?;
                        self.release(id)?;
                    }
                }
            }
            Some(words) => {
                if words.trim().is_empty() || words.len() > 500 {
                    return Err(Error::InvalidEvent("a rejection needs a reason of 1 to 500 characters".into()));
                }
                // A referral that expired while in review keeps its end: the
                // rejection only reverses the rewards the review held.
                if referral.status != ReferralStatus::Expired {
                    let reason = RejectReason::Review(words.clone());
                    referral.transition(ReferralStatus::Rejected(reason.clone()), self.now, &self.event.key);
                    self.out.notices.push(Notice::ReferralRejected {
                        referral: referral.id,
                        referrer: referral.referrer.clone(),
                        reason,
                    });
                    self.count(|c| c.count_rejected("review"))?;
                }
                self.save_referral(referral)?;
                for id in &item.held {
                    let Some(reward) = self.tx.get::<Reward>(&Key::reward(self.program.id(), id))? else { continue };
                    let left = reward.outstanding();
                    if left > Decimal::ZERO {
                        let why = format!("review rejected ({words}): reverses {}", reward.explanation);
                        self.reverse(reward, left, &why)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn check_cycle(&mut self, referee: &ParticipantId, referrer: &ParticipantId) -> Result<(), Error> {
        let mut current = referrer.clone();
        for _ in 0..CYCLE_SEARCH {
            let Some(p) = self.participant(&current)? else {
                return Ok(());
            };
            match p.referred_by {
                Some(up) if &up == referee => {
                    return Err(Error::ReferralCycle { referee: referee.clone(), referrer: referrer.clone() });
                }
                Some(up) => current = up,
                None => return Ok(()),
            }
        }
        Ok(())
    }

    /// Moves an attributed referral to qualified and runs the policies, unless
    /// its qualification window has passed (then it expires).
    fn qualify(&mut self, referee: &ParticipantId) -> Result<bool, Error> {
        let Some(mut referral) = self.referral_of(referee)? else {
            return Ok(false);
        };
        if referral.status != ReferralStatus::Attributed {
            return Ok(false);
        }
        if let Some(days) = self.program.spec().qualification_window_days {
            if self.now >= later(referral.attributed_at, Duration::days(i64::from(days)), "qualification_window_days")?
            {
                self.expire(referral)?;
                return Ok(false);
            }
        }
        referral.transition(ReferralStatus::Qualified, self.now, &self.event.key);
        referral.qualified_at = Some(self.now);
        let mut referrer = self.known_participant(&referral.referrer)?;
        inc(&mut referrer.stats.qualified);
        self.save_participant(referrer)?;
        let (channel, variant) = (referral.channel.tag().to_owned(), self.variant_above(referee)?);
        self.count(|c| {
            inc(&mut c.qualified);
            inc(&mut c.channel(&channel).qualified);
            if let Some(v) = &variant {
                inc(&mut c.variant(v).qualified);
            }
        })?;
        self.count_referrer_day(&referral.referrer, |d| inc(&mut d.qualified))?;
        self.out.notices.push(Notice::ReferralQualified {
            referral: referral.id,
            referrer: referral.referrer.clone(),
            referee: referee.clone(),
        });
        self.save_referral(referral.clone())?;
        self.reward(&Trigger::Qualified, referee, Some(referral))?;
        Ok(true)
    }

    fn expire(&mut self, mut referral: Referral) -> Result<(), Error> {
        referral.transition(ReferralStatus::Expired, self.now, &self.event.key);
        self.out.notices.push(Notice::ReferralExpired { referral: referral.id, referrer: referral.referrer.clone() });
        self.count(|c| inc(&mut c.expired))?;
        self.save_referral(referral)
    }

    fn action(&mut self, participant: &ParticipantId, name: &str) -> Result<(), Error> {
        if name.trim().is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(Error::InvalidEvent(format!("action name {name:?} is not 1 to 64 printable characters")));
        }
        self.require_open()?;
        self.known_participant(participant)?;
        if self.program.spec().qualification == Qualification::Action(name.to_owned()) {
            self.qualify(participant)?;
        }
        let referral = self.referral_of(participant)?.filter(|r| r.status.is_qualified());
        self.reward(&Trigger::Action { name: name.to_owned() }, participant, referral)
    }

    // ----- money in and out -------------------------------------------

    fn purchase(
        &mut self,
        customer: &ParticipantId,
        order_id: &OrderId,
        amount: &Value,
        coupon: Option<&str>,
    ) -> Result<(), Error> {
        self.program_money(amount)?;
        self.require_open()?;
        let order_key = Key::order(self.program.id(), order_id);
        if self.tx.get::<Order>(&order_key)?.is_some() {
            return Err(Error::DuplicateOrder(order_id.clone()));
        }
        if let Some(code) = coupon {
            if self.referral_of(customer)?.is_none() {
                self.redeem_coupon(customer, code)?;
            }
        }
        let mut order = Order {
            id: order_id.clone(),
            customer: customer.clone(),
            referral: None,
            amount: amount.clone(),
            refunded: Decimal::ZERO,
            rewards: vec![],
            qualifying: false,
            at: self.now,
        };
        let Some(mut referral) = self.referral_of(customer)?.filter(|r| r.status.is_live()) else {
            self.tx.put_new(order_key, order);
            return Ok(());
        };
        self.prefetch_referrer(&referral.referrer)?;
        order.referral = Some(referral.id);
        referral.purchases = referral.purchases.saturating_add(1);
        let first_ever = referral.purchases == 1;
        self.save_referral(referral.clone())?;
        let variant = self.variant_above(customer)?;
        self.count_money(|c| c.add_revenue(amount.amount(), variant.as_deref()))?;
        if first_ever {
            let mut referrer = self.known_participant(&referral.referrer)?;
            inc(&mut referrer.stats.sales);
            self.save_participant(referrer)?;
        }
        if let Qualification::FirstPurchase { minimum } = self.program.spec().qualification {
            if referral.status == ReferralStatus::Attributed && minimum.is_none_or(|m| amount.amount() >= m) {
                order.qualifying = self.qualify(customer)?;
            }
        }
        if let Some(mut referral) = self.referral_of(customer)?.filter(|r| r.status.is_qualified()) {
            // `first`: the first purchase of a qualified referral, which is the
            // qualifying one when a purchase qualifies it.
            referral.qualified_purchases = referral.qualified_purchases.saturating_add(1);
            let first = referral.qualified_purchases == 1;
            self.save_referral(referral.clone())?;
            let trigger = Trigger::Purchase { order: order_id.clone(), amount: amount.clone(), first };
            self.reward(&trigger, customer, Some(referral))?;
        }
        order.rewards = self.out.rewards.iter().filter(|r| r.order.as_ref() == Some(order_id)).map(|r| r.id).collect();
        self.tx.put_new(order_key, order);
        Ok(())
    }

    /// A coupon on a purchase signs its customer up with the code; a coupon
    /// that cannot (unknown, own, already used, a cycle...) is ignored with a
    /// notice, and the purchase is recorded all the same.
    fn redeem_coupon(&mut self, customer: &ParticipantId, code: &str) -> Result<(), Error> {
        let mark = (self.out.clone(), self.totals.clone(), self.day.clone(), self.tx.mark());
        match self.sign_up(customer, code, &Channel::Coupon, None, &[]) {
            Ok(()) => Ok(()),
            Err(Error::Store(failed)) => Err(Error::Store(failed)),
            Err(refused) => {
                let (out, totals, day, writes) = mark;
                (self.out, self.totals, self.day) = (out, totals, day);
                self.tx.undo(writes);
                self.out
                    .notices
                    .push(Notice::CouponIgnored { customer: customer.clone(), reason: refused.to_string() });
                Ok(())
            }
        }
    }

    fn refund(&mut self, order_id: &OrderId, amount: &Value, what: &str) -> Result<(), Error> {
        amount.check_bounds()?;
        let key = Key::order(self.program.id(), order_id);
        let mut order: Order = self.tx.get(&key)?.ok_or_else(|| Error::UnknownOrder(order_id.clone()))?;
        if amount.asset() != order.amount.asset() {
            return Err(Error::CurrencyMismatch {
                expected: order.amount.asset().clone(),
                found: amount.asset().clone(),
            });
        }
        if !amount.is_positive() {
            return Err(Error::InvalidAmount(amount.clone()));
        }
        let remaining = order.amount.amount().minus(order.refunded)?;
        if amount.amount() > remaining {
            return Err(Error::RefundExceedsOrder { order: order_id.clone(), requested: amount.amount(), remaining });
        }
        add_to(&mut order.refunded, amount.amount())?;
        let full = order.refunded == order.amount.amount();
        if order.referral.is_some() {
            let variant = self.variant_above(&order.customer)?;
            self.count_money(|c| c.add_revenue(negated(amount.amount()), variant.as_deref()))?;
        }
        for reward_id in order.rewards.clone() {
            let Some(reward) = self.tx.get::<Reward>(&Key::reward(self.program.id(), &reward_id))? else {
                continue;
            };
            let target = match reward.reversal {
                Reversal::Proportional if full => reward.value.amount(),
                Reversal::Proportional => {
                    // The refunded share first, so that a large reward times a
                    // large refund does not overflow before the division.
                    let share = order.refunded.over(order.amount.amount())?;
                    let exact = reward.value.amount().times(share)?;
                    reward.value.round_amount(exact, self.program.terms().rounding)
                }
                Reversal::OnFullRefund if full => reward.value.amount(),
                _ => reward.reversed,
            };
            let delta = target.min(reward.value.amount()).minus(reward.reversed)?;
            if delta > Decimal::ZERO {
                let why = format!(
                    "{what} of {amount} on order {order_id} reverses {} of: {}",
                    reward.value.with_amount(delta),
                    reward.explanation
                );
                self.reverse(reward, delta, &why)?;
            }
        }
        if full && order.qualifying {
            if let Some(mut referral) = self.referral_of(&order.customer)? {
                if referral.status.is_qualified() {
                    referral.transition(ReferralStatus::Reversed, self.now, &self.event.key);
                    self.out
                        .notices
                        .push(Notice::ReferralReversed { referral: referral.id, referrer: referral.referrer.clone() });
                    self.count(|c| inc(&mut c.reversed))?;
                    // A reversed referral no longer counts as qualified for
                    // its referrer's tiers and conversion.
                    let mut referrer = self.known_participant(&referral.referrer)?;
                    referrer.stats.qualified = referrer.stats.qualified.saturating_sub(1);
                    self.save_participant(referrer)?;
                    self.save_referral(referral)?;
                }
            }
        }
        self.tx.put(key, order)
    }

    // ----- time --------------------------------------------------------

    fn tick(&mut self) -> Result<(), Error> {
        let due = self.tx.scan::<Due>(&Key::due_until(self.program.id(), self.now), TICK_BATCH)?;
        for (key, item) in due {
            match item {
                Due::Release(id) => self.release(&id)?,
                Due::Expire { referral, referee } => {
                    // Only the referral it was written for: a later attribution
                    // of the same referee has its own window.
                    if let Some(r) = self
                        .referral_of(&referee)?
                        .filter(|r| r.id == referral && r.status == ReferralStatus::Attributed)
                    {
                        self.expire(r)?;
                    }
                }
            }
            self.tx.delete(key)?;
        }
        Ok(())
    }

    pub(crate) fn release(&mut self, id: &RewardId) -> Result<(), Error> {
        let key = Key::reward(self.program.id(), id);
        let Some(mut reward) = self.tx.get::<Reward>(&key)? else {
            return Ok(());
        };
        // Only a hold that has ended (a review approval releases by setting
        // the status first).
        match reward.status {
            RewardStatus::Pending(until) if until <= self.now => {}
            RewardStatus::InReview => {}
            _ => return Ok(()),
        }
        reward.status = RewardStatus::Available;
        let left = reward.value.with_amount(reward.outstanding());
        if !left.amount().is_zero() {
            let why = format!("hold ended: {}", reward.explanation);
            self.post(
                &reward.beneficiary,
                &left.with_amount(negated(left.amount())),
                Bucket::Pending,
                EntryKind::Release,
                Some(reward.id),
                &why,
            )?;
            self.post(&reward.beneficiary, &left, Bucket::Available, EntryKind::Release, Some(reward.id), &why)?;
            self.out.notices.push(Notice::RewardAvailable {
                reward: reward.id,
                beneficiary: reward.beneficiary.clone(),
                value: left,
            });
        }
        self.save_reward(reward)
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

    // ----- participants ------------------------------------------------

    fn set_suspended(&mut self, id: &ParticipantId, suspended: bool) -> Result<(), Error> {
        let mut p = self.known_participant(id)?;
        if p.suspended == suspended {
            return Ok(());
        }
        p.suspended = suspended;
        self.save_participant(p)?;
        self.out.notices.push(if suspended {
            Notice::Suspended { participant: id.clone() }
        } else {
            Notice::Reinstated { participant: id.clone() }
        });
        Ok(())
    }

    fn redeem(&mut self, id: &ParticipantId, item_id: &str) -> Result<(), Error> {
        let item = self.program.catalog_item(item_id).ok_or_else(|| Error::UnknownItem(item_id.to_owned()))?.clone();
        let p = self.known_participant(id)?;
        if p.suspended {
            return Err(Error::Suspended(id.clone()));
        }
        let taken = self.state_mut()?.redeemed_items.get(item_id).copied().unwrap_or(0);
        if item.stock.is_some_and(|s| taken >= s) {
            return Err(Error::OutOfStock(item_id.to_owned()));
        }
        let available = p.balance(item.price.asset()).available;
        if available < item.price.amount() {
            return Err(Error::InsufficientBalance { participant: id.clone(), available, price: item.price.clone() });
        }
        inc(self.state_mut()?.redeemed_items.entry(item_id.to_owned()).or_default());
        let why = format!("redeemed {} for {item_id:?}", item.price);
        let kind = EntryKind::Redemption(item_id.to_owned());
        self.post(
            id,
            &item.price.with_amount(negated(item.price.amount())),
            Bucket::Available,
            kind.clone(),
            None,
            &why,
        )?;
        self.post(id, &item.price, Bucket::Redeemed, kind.clone(), None, &why)?;
        if let Some(gives) = &item.gives {
            self.post(id, gives, Bucket::Available, kind, None, &format!("{item_id:?} gives {gives}"))?;
        }
        self.out.notices.push(Notice::Redeemed {
            participant: id.clone(),
            item: item_id.to_owned(),
            price: item.price.clone(),
        });
        Ok(())
    }

    fn payout(&mut self, payout: &PayoutId, asset: &Asset, minimum: Option<Decimal>) -> Result<(), Error> {
        // Payouts are of money, in the program's currency; points and units
        // are redeemed, not paid.
        let currency = Asset::Money(self.program.terms().currency);
        if asset != &currency {
            return Err(Error::CurrencyMismatch { expected: currency, found: asset.clone() });
        }
        if let Some(m) = minimum {
            let floor = Value::new(asset.clone(), m);
            if m < Decimal::ZERO {
                return Err(Error::InvalidAmount(floor));
            }
            floor.check_bounds()?;
        }
        if !self.state_mut()?.payouts.insert(payout.clone()) {
            return Err(Error::DuplicatePayout(payout.clone()));
        }
        let floor = minimum.unwrap_or(Decimal::ZERO);
        let everyone = self.tx.scan::<Participant>(&Key::participants(self.program.id()), usize::MAX)?;
        for (_, p) in everyone {
            // A suspended participant keeps their balance until reinstated.
            if p.suspended {
                continue;
            }
            let available = p.balance(asset).available;
            if available <= Decimal::ZERO || available < floor {
                continue;
            }
            let value = Value::new(asset.clone(), available);
            let why = format!("payout {payout} of {value}");
            self.post(
                &p.id,
                &value.with_amount(negated(available)),
                Bucket::Available,
                EntryKind::Payout(payout.clone()),
                None,
                &why,
            )?;
            self.post(&p.id, &value, Bucket::Paid, EntryKind::Payout(payout.clone()), None, &why)?;
            self.out.notices.push(Notice::PaidOut { participant: p.id.clone(), payout: payout.clone(), value });
        }
        Ok(())
    }

    // ----- the outbox --------------------------------------------------

    /// Writes this event's notices to the outbox (one record) and the audited
    /// ones to the trail, in the same commit, under ids made of the time, the
    /// event's key and the notice's index.
    pub(crate) fn publish(&mut self, outbox: bool) -> Result<(), Error> {
        let (program, event, now) = (self.program.id(), &self.event.key, self.now);
        let numbered = || self.out.notices.iter().enumerate().map(|(i, n)| (u32::try_from(i).unwrap_or(u32::MAX), n));
        for (index, notice) in numbered().filter(|(_, n)| is_audited(n)) {
            let id = NotificationId { at: now, event: event.clone(), index };
            let entry = AuditEntry { at: now, event: event.clone(), notice: notice.clone() };
            self.tx.put_new(Key::audit(program, &id), entry);
        }
        if outbox && !self.out.notices.is_empty() {
            // Collected from an exact-size iterator: no spare capacity kept.
            let pending = numbered().map(|(i, n)| (i, n.clone())).collect();
            let entry = OutboxEntry { at: now, event: event.clone(), pending };
            self.tx.put_new(Key::outbox(program, now, event), entry);
        }
        Ok(())
    }

    /// Takes the named notifications out of the outbox; an event's record
    /// goes when none of its notices is left. Unknown ids are ignored (a
    /// retried acknowledgement changes nothing).
    fn acknowledge(&mut self, ids: &[NotificationId]) -> Result<(), Error> {
        for id in ids {
            let key = Key::outbox(self.program.id(), id.at, &id.event);
            let Some(mut entry) = self.tx.get::<OutboxEntry>(&key)? else { continue };
            let before = entry.pending.len();
            entry.pending.retain(|(index, _)| *index != id.index);
            if entry.pending.is_empty() {
                self.tx.delete(key)?;
            } else if entry.pending.len() < before {
                self.tx.put(key, entry)?;
            }
        }
        Ok(())
    }

    // ----- the ledger --------------------------------------------------

    /// Appends one entry and moves the participant's balance with it.
    pub(crate) fn post(
        &mut self,
        who: &ParticipantId,
        value: &Value,
        bucket: Bucket,
        kind: EntryKind,
        reward: Option<RewardId>,
        why: &str,
    ) -> Result<(), Error> {
        let mut p = self.known_participant(who)?;
        p.post(value, bucket)?;
        self.save_participant(p)?;
        let entry = LedgerEntry {
            id: EntryId::from_uuid(self.ids.next()),
            program: self.program.id().clone(),
            participant: who.clone(),
            value: value.clone(),
            bucket,
            kind,
            reward,
            explanation: why.to_owned(),
            event: self.event.key.clone(),
            at: self.now,
        };
        self.tx.put_new(Key::entry(self.program.id(), who, &entry.id), entry.clone());
        self.out.entries.push(entry);
        Ok(())
    }
}
