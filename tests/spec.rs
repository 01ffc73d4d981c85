//! The specification: what the engine promises, checked on random histories.
//!
//! Each `#[test]` below states one invariant in its doc comment and checks it
//! on `PROPTEST_CASES` (default 256) random event sequences. Failing cases
//! proptest finds are kept in `tests/spec.proptest-regressions`.

mod common;
use referral_engine::event::{
    Approve, Chargeback, Enroll, InviteSent, Payout, Purchase, Redeem, Refund, Reinstate, Reject, SignUp, Suspend,
};
use std::collections::BTreeMap;

use chrono::Duration;
use common::*;
use proptest::prelude::*;
use referral_engine::Clock;
use referral_engine::domain::code::SeededRandom;
use referral_engine::domain::id::ProgramId;
use referral_engine::domain::ledger::{Bucket, Role};
use referral_engine::domain::referral::ReferralStatus;
use referral_engine::fraud::{Signal, SignalKey};
use referral_engine::{Engine, Event, EventKind, ManualClock, MemoryStore, Notice, Outcome, ParticipantId};
use rust_decimal::Decimal;

/// Two-sided, multi-level and revenue-share rules under every limit.
const PROGRAM: &str = r#"{
    "id": "spec", "name": "Spec", "currency": "USD",
    "qualification": {"first_purchase": {"minimum": "10.00"}},
    "qualification_window_days": 20,
    "hold_days": 3,
    "limits": {"max_rewarded_referrals": 3, "referrer_caps": ["40.00 USD"], "budgets": ["60.00 USD", "300 points"],
               "velocity": {"max": 4, "window_hours": 48}},
    "policies": [
        {"type": "two_sided", "name": "welcome",
         "referrer": {"on": "qualified", "reward": {"fixed": "7.77 USD"}},
         "referee":  {"on": "qualified", "reward": {"fixed": "100 points"}}},
        {"type": "multi_level", "name": "chain", "on": "every_purchase", "per_event_cap": "1.50 USD",
         "levels": [{"level": 2, "reward": {"percent": "2.5"}}, {"level": 3, "reward": {"percent": "1"}}]},
        {"type": "revenue_share", "name": "share", "percent": "12.5", "months": 6}
    ],
    "catalog": [{"id": "mug", "price": "150 points", "stock": 3}]
}"#;

const PEOPLE: usize = 6;

/// One step of a random history.
#[derive(Debug, Clone)]
enum Step {
    Enroll(usize),
    Invite(usize),
    /// A sign-up, from one of three IP addresses (or none: `ip` 0).
    SignUp {
        referee: usize,
        referrer: usize,
        ip: u8,
    },
    Approve(usize),
    RejectReview(usize),
    /// Enrolls a, then b signs up with a's code and enrolls, and so on down.
    Chain(Vec<usize>),
    Purchase {
        customer: usize,
        cents: i64,
    },
    Refund {
        order: usize,
        percent: u8,
    },
    Chargeback {
        order: usize,
    },
    Advance(u8),
    Tick,
    Payout,
    Redeem(usize),
    Suspend(usize),
    Reinstate(usize),
    Replay(usize),
    BadCode(String),
    BadAmount {
        customer: usize,
        text: String,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let who = 0..PEOPLE;
    prop_oneof![
        2 => who.clone().prop_map(Step::Enroll),
        1 => who.clone().prop_map(Step::Invite),
        4 => (who.clone(), who.clone(), 0u8..4).prop_map(|(referee, referrer, ip)| Step::SignUp { referee, referrer, ip }),
        1 => who.clone().prop_map(Step::Approve),
        1 => who.clone().prop_map(Step::RejectReview),
        1 => prop::collection::vec(who.clone(), 2..5).prop_map(Step::Chain),
        4 => (who.clone(), -200i64..20_000).prop_map(|(customer, cents)| Step::Purchase { customer, cents }),
        2 => (0usize..12, 1u8..=100).prop_map(|(order, percent)| Step::Refund { order, percent }),
        1 => (0usize..12).prop_map(|order| Step::Chargeback { order }),
        2 => (1u8..15).prop_map(Step::Advance),
        1 => Just(Step::Tick),
        1 => Just(Step::Payout),
        1 => who.clone().prop_map(Step::Redeem),
        1 => who.clone().prop_map(Step::Suspend),
        1 => who.clone().prop_map(Step::Reinstate),
        2 => (0usize..100).prop_map(Step::Replay),
        1 => any::<String>().prop_map(Step::BadCode),
        1 => (who, "\\PC{0,12}").prop_map(|(customer, text)| Step::BadAmount { customer, text }),
    ]
}

fn history() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(step(), 1..60)
}

fn person(i: usize) -> ParticipantId {
    pid(&format!("p{i}"))
}

/// Turns steps into events (with keys), the way a host would send them.
struct Driver {
    engine: Engine<MemoryStore>,
    clock: ManualClock,
    sent: Vec<Event>,
    orders: Vec<(String, Decimal)>,
    codes: BTreeMap<usize, String>,
    next: usize,
}

impl Driver {
    fn new() -> Self {
        let clock = ManualClock::new(t0());
        let engine = Engine::new(MemoryStore::new())
            .with_clock(clock.clone())
            .with_random(SeededRandom::new(9))
            .with_signal_key(SignalKey::new(*b"spec-signal-key-0123").unwrap())
            .with_program(program(PROGRAM));
        Self { engine, clock, sent: vec![], orders: vec![], codes: BTreeMap::new(), next: 0 }
    }

    fn program(&self) -> ProgramId {
        "spec".parse().unwrap()
    }

    fn event(&mut self, kind: EventKind) -> Event {
        self.next += 1;
        Event::new(&format!("k{}", self.next), "spec", kind).unwrap()
    }

    /// Applies a step; returns the event sent and its result, if a step sends one.
    fn apply(&mut self, step: &Step) -> Option<(Event, Result<Outcome, String>)> {
        let kind: EventKind = match step {
            Step::Enroll(i) => Enroll::new(person(*i)).into(),
            Step::Chain(people) => {
                let mut last = None;
                for pair in people.windows(2) {
                    last = self.apply(&Step::Enroll(pair[0])).or(last);
                    last = self.apply(&Step::SignUp { referee: pair[1], referrer: pair[0], ip: 0 }).or(last);
                }
                return last;
            }
            Step::Invite(i) => InviteSent::new(person(*i)).into(),
            Step::SignUp { referee, referrer, ip } => {
                let code = self.codes.get(referrer).cloned().unwrap_or_else(|| "UNKNOWN1".into());
                let signals = match ip {
                    0 => vec![],
                    n => vec![Signal::ip(format!("10.0.0.{n}"))],
                };
                SignUp::new(person(*referee), code).with_signals(signals).into()
            }
            Step::Approve(i) => Approve::new(person(*i)).into(),
            Step::RejectReview(i) => Reject::new(person(*i), "spec").into(),
            Step::Purchase { customer, cents } => {
                let order = format!("o{}", self.orders.len());
                let amount = Decimal::new(*cents, 2);
                self.orders.push((order.clone(), amount));
                Purchase::new(person(*customer), order.parse().unwrap(), value(&format!("{amount} USD"))).into()
            }
            Step::Refund { order, percent } => {
                let (id, amount) = self.orders.get(*order)?.clone();
                let part = (amount * Decimal::from(*percent) / Decimal::ONE_HUNDRED).round_dp(2);
                Refund::new(id.parse().unwrap(), value(&format!("{part} USD"))).into()
            }
            Step::Chargeback { order } => {
                let (id, amount) = self.orders.get(*order)?.clone();
                Chargeback::new(id.parse().unwrap(), value(&format!("{amount} USD"))).into()
            }
            Step::Advance(days) => {
                self.clock.advance(Duration::days(i64::from(*days)));
                return None;
            }
            Step::Tick => EventKind::Tick,
            Step::Payout => {
                Payout::new(format!("batch-{}", self.next).parse().unwrap(), asset("USD")).at_least(dec("5")).into()
            }
            Step::Redeem(i) => Redeem::new(person(*i), "mug").into(),
            Step::Suspend(i) => Suspend::new(person(*i)).into(),
            Step::Reinstate(i) => Reinstate::new(person(*i)).into(),
            Step::Replay(k) => {
                let earlier = self.sent.get(k % self.sent.len().max(1))?.clone();
                let result = flat(self.engine.handle(&earlier)).map_err(|e| e.to_string());
                return Some((earlier, result));
            }
            Step::BadCode(code) => SignUp::new(person(0), code.clone()).into(),
            Step::BadAmount { customer, text } => match text.parse() {
                Ok(v) => Purchase::new(person(*customer), "bad".parse().unwrap(), v).into(),
                Err(_) => return None,
            },
        };
        let event = self.event(kind);
        let result = flat(self.engine.handle(&event)).map_err(|e| e.to_string());
        if let (Ok(out), EventKind::Enroll(Enroll { participant, .. })) = (&result, &event.kind)
            && let (Some(code), Some(i)) =
                (out.codes.first(), participant.as_str().strip_prefix('p').and_then(|n| n.parse().ok()))
        {
            self.codes.insert(i, code.to_string());
        }
        self.sent.push(event.clone());
        Some((event, result))
    }

    fn run(&mut self, steps: &[Step]) -> Vec<Option<Result<Outcome, String>>> {
        steps.iter().map(|s| self.apply(s).map(|(_, r)| r)).collect()
    }
}

proptest! {
    /// Idempotency: replaying any earlier event that took effect, any number of
    /// times, at any later point, changes nothing, and answers its first
    /// outcome within the retention window, `already_handled` after it. (A
    /// refused event wrote nothing, not even its key: sent again, it is
    /// judged afresh.)
    #[test]
    fn idempotency(steps in history(), replays in prop::collection::vec(0usize..1000, 1..8)) {
        let mut d = Driver::new();
        let mut firsts = Vec::new();
        for s in &steps {
            if let Some((e, r)) = d.apply(s)
                && let (false, Ok(first)) = (matches!(s, Step::Replay(_)), r) { firsts.push((e, first)); }
        }
        prop_assume!(!firsts.is_empty());
        for later in [Duration::zero(), Duration::days(30)] {
            d.clock.advance(later);
            let before = d.engine.store().dump();
            for &k in &replays {
                let (event, first) = &firsts[k % firsts.len()];
                let again = flat(d.engine.handle(event));
                if d.clock.now() < first.at + referral_engine::engine::DEFAULT_OUTCOME_RETENTION {
                    let again = again.map_err(|e| e.to_string());
                    prop_assert_eq!(again.as_ref(), Ok(first));
                } else {
                    prop_assert_eq!(again.err().map(|e| e.code()), Some("already_handled"));
                }
                prop_assert_eq!(&d.engine.store().dump(), &before);
            }
        }
    }

    /// Determinism: the same event sequence gives identical state and outcomes.
    #[test]
    fn determinism(steps in history()) {
        let (mut a, mut b) = (Driver::new(), Driver::new());
        prop_assert_eq!(a.run(&steps), b.run(&steps));
        prop_assert_eq!(a.engine.store().dump(), b.engine.store().dump());
    }

    /// Conservation: every balance equals the sum of its ledger entries, per
    /// asset and bucket, after every step.
    #[test]
    fn conservation(steps in history()) {
        let mut d = Driver::new();
        for s in &steps {
            d.apply(s);
            for p in d.engine.read(&d.program()).participants().all().unwrap() {
                let mut sums: BTreeMap<(String, Bucket), Decimal> = BTreeMap::new();
                for e in d.engine.read(&d.program()).statement(&p.id).all().unwrap() {
                    *sums.entry((e.value.asset().to_string(), e.bucket)).or_default() += e.value.amount();
                }
                for (asset, b) in &p.balances {
                    for bucket in [Bucket::Pending, Bucket::Available, Bucket::Paid, Bucket::Redeemed] {
                        let sum = sums.get(&(asset.to_string(), bucket)).copied().unwrap_or_default();
                        prop_assert_eq!(b.bucket(bucket), sum, "{} {} {:?}", p.id, asset, bucket);
                    }
                }
            }
        }
    }

    /// Limits: what the program has granted per asset never exceeds its
    /// budget; no referrer earns past their cap or is rewarded for more than
    /// the maximum number of referrals.
    #[test]
    fn limits(steps in history()) {
        let mut d = Driver::new();
        for s in &steps {
            d.apply(s);
            let state = d.engine.read(&d.program()).totals().unwrap();
            prop_assert!(state.granted_in(&asset("USD")) <= dec("60.00"));
            prop_assert!(state.granted_in(&asset("points")) <= dec("300"));
            for p in d.engine.read(&d.program()).participants().all().unwrap() {
                prop_assert!(p.stats.earned_in(&asset("USD")) <= dec("40.00"), "{} earned {}", p.id, p.stats.earned_in(&asset("USD")));
                prop_assert!(p.stats.rewarded_referrals <= 3);
            }
        }
    }

    /// No self-reward, nobody referred twice, and a rejected or expired
    /// referral earns nothing.
    #[test]
    fn referral_rules(steps in history()) {
        let mut d = Driver::new();
        let mut referred: BTreeMap<ParticipantId, ParticipantId> = BTreeMap::new();
        for s in &steps {
            let Some((event, result)) = d.apply(s) else { continue };
            if let (EventKind::SignUp(SignUp { referee, .. }), Ok(out)) = (&event.kind, &result)
                && !out.referrals.is_empty() {
                    let r = &out.referrals[out.referrals.len() - 1];
                    prop_assert_ne!(&r.referrer, &r.referee);
                    if let Some(before) = referred.insert(referee.clone(), r.referrer.clone()) {
                        prop_assert_eq!(before, r.referrer.clone(), "{} referred twice", referee);
                    }
                }
        }
        let program = d.program();
        for r in d.engine.read(&program).referrals().all().unwrap() {
            let earned: Decimal = r.earned.iter().map(|e| e.value.amount()).sum();
            if matches!(r.status, ReferralStatus::Rejected(_) | ReferralStatus::Expired) {
                prop_assert_eq!(earned, Decimal::ZERO, "{:?}", r);
            }
        }
        for p in d.engine.read(&program).participants().all().unwrap() {
            for e in d.engine.read(&program).statement(&p.id).all().unwrap() {
                if let Some(id) = e.reward {
                    let reward = d.engine.read(&program).reward(&id).unwrap().unwrap();
                    if reward.role != Role::Referee {
                        prop_assert_ne!(Some(&reward.beneficiary), reward.referee.as_ref());
                    }
                }
            }
        }
    }

    /// Multi-level: no event pays the chain past its per-event cap or deeper
    /// than its levels, and no one twice in one event; a cycle never pays.
    #[test]
    fn multi_level(steps in history()) {
        let mut d = Driver::new();
        for s in &steps {
            let Some((_, Ok(out))) = d.apply(s) else { continue };
            let chain: Vec<_> = out.rewards.iter().filter(|r| r.rule.starts_with("chain/") && r.reversed.is_zero() && r.event == out.event).collect();
            let total: Decimal = chain.iter().map(|r| r.value.amount()).sum();
            prop_assert!(total <= dec("1.50"));
            let mut seen = std::collections::BTreeSet::new();
            for r in &chain {
                prop_assert!(matches!(r.role, Role::Ancestor(2) | Role::Ancestor(3)));
                prop_assert!(seen.insert(r.beneficiary.clone()), "paid twice");
                prop_assert_ne!(Some(&r.beneficiary), r.referee.as_ref());
            }
        }
    }

    /// Rounding: once an order is refunded in full, every reward it earned is
    /// reversed exactly, to the cent: no money created or lost.
    #[test]
    fn rounding(steps in history(), parts in 1u32..5) {
        let mut d = Driver::new();
        d.run(&steps);
        let program = d.program();
        let mut fully_refunded = Vec::new();
        for (id, _) in d.orders.clone() {
            let Some(order) = d.engine.read(&program).order(&id.parse().unwrap()).unwrap() else { continue };
            // What is left, in `parts` refunds of whole cents, the last taking the rest.
            let mut left = order.amount.amount() - order.refunded;
            for part in 0..parts {
                let share = if part + 1 == parts { left } else { (left / Decimal::from(parts - part)).round_dp(2) };
                if share <= Decimal::ZERO { continue; }
                left -= share;
                let kind = Refund::new(id.parse().unwrap(), value(&format!("{share} USD")));
                flat(d.engine.handle(&Event::new(&format!("final-{id}-{part}"), "spec", kind).unwrap())).unwrap();
            }
            fully_refunded.push(id);
        }
        for p in d.engine.read(&program).participants().all().unwrap() {
            for e in d.engine.read(&program).statement(&p.id).all().unwrap() {
                let Some(id) = e.reward else { continue };
                let r = d.engine.read(&program).reward(&id).unwrap().unwrap();
                if r.order.as_ref().is_some_and(|o| fully_refunded.contains(&o.to_string())) {
                    prop_assert_eq!(r.reversed, r.value.amount(), "{:?}", r);
                }
            }
        }
    }

    /// Refund symmetry: refunding a purchase fully, in any number of partial
    /// refunds, returns every balance to its value before the purchase.
    #[test]
    fn refund_symmetry(steps in history(), cents in 1_000i64..50_000, parts in prop::collection::vec(1u32..100, 1..6)) {
        let mut d = Driver::new();
        d.run(&steps);
        let program = d.program();
        let referred = d.engine.read(&program).referrals().all().unwrap().into_iter().find(|r| r.status.is_qualified());
        let Some(referral) = referred else { return Ok(()) };
        let balances = |d: &Driver| d.engine.read(&program).participants().all().unwrap().into_iter().map(|p| (p.id.clone(), p.balances)).collect::<BTreeMap<_, _>>();
        let before = balances(&d);
        let amount = Decimal::new(cents, 2);
        flat(d.engine.handle(&Event::new("sym-buy", "spec", Purchase::new(referral.referee.clone(), "sym".parse().unwrap(), value(&format!("{amount} USD")))).unwrap())).unwrap();
        let total: u32 = parts.iter().sum();
        let mut left = amount;
        for (i, w) in parts.iter().enumerate() {
            let part = if i + 1 == parts.len() { left } else { (amount * Decimal::from(*w) / Decimal::from(total)).round_dp(2).min(left) };
            if part.is_zero() { continue; }
            left -= part;
            let kind = Refund::new("sym".parse().unwrap(), value(&format!("{part} USD")));
            flat(d.engine.handle(&Event::new(&format!("sym-refund-{i}"), "spec", kind).unwrap())).unwrap();
        }
        let after = balances(&d);
        for (who, b) in before {
            let a = after.get(&who).cloned().unwrap_or_default();
            for (asset, bal) in b {
                let now = a.get(&asset).cloned().unwrap_or_else(|| referral_engine::domain::ledger::Balance::zero(asset.clone()));
                prop_assert_eq!(bal.total().unwrap(), now.total().unwrap(), "{} {}", who, asset);
            }
        }
    }

    /// Bad input: arbitrary strings and numbers for codes, ids, amounts and
    /// program definitions never panic and never write.
    #[test]
    fn bad_input(code in any::<String>(), id in any::<String>(), amount in any::<String>(), json in any::<String>(), n in any::<i64>(), scale in 0u32..30) {
        let d = Driver::new();
        let before = d.engine.store().dump();
        let _ = flat(d.engine.handle(&Event::new("bad-1", "spec", SignUp::new(person(1), code.clone())).unwrap()));
        if let Ok(p) = ParticipantId::new(id.clone()) {
            let _ = flat(d.engine.handle(&Event::new("bad-2", "spec", Suspend::new(p)).unwrap()));
        }
        if let Ok(v) = amount.parse::<referral_engine::Value>() {
            let _ = flat(d.engine.handle(&Event::new("bad-3", "spec", Refund::new("none".parse().unwrap(), v)).unwrap()));
        }
        let number = Decimal::try_new(n, scale.min(28)).unwrap_or_default();
        let _ = flat(d.engine.handle(&Event::new("bad-4", "spec", Refund::new("none".parse().unwrap(), value("1 USD").with_amount(number))).unwrap()));
        let _ = serde_json::from_str::<referral_engine::ProgramSpec>(&json).map(|s| s.build());
        let _ = serde_json::from_str::<Event>(&json);
        prop_assert_eq!(d.engine.store().dump(), before);
    }
}

/// A reference model of a plain program, written without the engine's code:
/// the referrer earns 10% of every purchase, the referee 5.00 USD once on
/// qualifying (the first purchase), reversed when that purchase is refunded
/// in full; no holds, no limits.
mod model {
    use super::*;

    pub const PROGRAM: &str = r#"{
        "id": "model", "name": "Model", "currency": "USD",
        "qualification": {"first_purchase": {}},
        "policies": [
            {"type": "revenue_share", "name": "share", "percent": "10"},
            {"type": "two_sided", "name": "welcome", "referee": {"on": "qualified", "reward": {"fixed": "5.00 USD"}}}
        ]
    }"#;

    #[derive(Default, Debug)]
    pub struct Model {
        pub enrolled: Vec<usize>,
        pub referrer_of: BTreeMap<usize, usize>,
        pub qualified: Vec<usize>,
        pub reversed: Vec<usize>,
        pub known: Vec<usize>,
        pub suspended: Vec<usize>,
        pub paid: BTreeMap<usize, Decimal>,
        /// order -> (customer, amount, refunded, share paid, share reversed, bounty?)
        pub orders: BTreeMap<String, (usize, Decimal, Decimal, Decimal, Decimal, bool)>,
        /// Orders that qualified their customer: refunded in full, they end the referral.
        pub qualifying: Vec<String>,
        pub balance: BTreeMap<usize, Decimal>,
    }

    fn round(x: Decimal) -> Decimal {
        x.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointNearestEven)
    }

    impl Model {
        pub fn enroll(&mut self, i: usize) -> bool {
            if self.enrolled.contains(&i) {
                return false;
            }
            self.enrolled.push(i);
            if !self.known.contains(&i) {
                self.known.push(i);
            }
            true
        }

        pub fn invite(&mut self, i: usize) -> bool {
            self.enrolled.contains(&i)
        }

        pub fn suspend(&mut self, i: usize, on: bool) -> bool {
            if !self.known.contains(&i) {
                return false;
            }
            self.suspended.retain(|s| *s != i);
            if on {
                self.suspended.push(i);
            }
            true
        }

        /// Everyone not suspended with at least the minimum available is paid all of it.
        pub fn payout(&mut self, minimum: Decimal) -> bool {
            for (who, available) in self.balance.iter_mut() {
                if !self.suspended.contains(who) && *available > Decimal::ZERO && *available >= minimum {
                    *self.paid.entry(*who).or_default() += *available;
                    *available = Decimal::ZERO;
                }
            }
            true
        }

        pub fn remaining(&self, order: &str) -> Option<Decimal> {
            self.orders.get(order).map(|o| o.1 - o.2)
        }

        pub fn sign_up(&mut self, referee: usize, referrer: usize) -> bool {
            let ok = self.enrolled.contains(&referrer)
                && referee != referrer
                && !self.referrer_of.contains_key(&referee)
                && !self.above(referrer).contains(&referee);
            if ok {
                self.referrer_of.insert(referee, referrer);
                if !self.known.contains(&referee) {
                    self.known.push(referee);
                }
            }
            ok
        }

        /// Who is above `who` in the referral tree: a reversed referral no
        /// longer links its referee to the referrer.
        fn above(&self, mut who: usize) -> Vec<usize> {
            let mut out = vec![];
            while let Some(up) = self.referrer_of.get(&who).filter(|_| !self.reversed.contains(&who)) {
                if out.contains(up) {
                    break;
                }
                out.push(*up);
                who = *up;
            }
            out
        }

        pub fn purchase(&mut self, order: String, customer: usize, amount: Decimal) -> bool {
            if amount <= Decimal::ZERO || self.orders.contains_key(&order) {
                return false;
            }
            let mut bounty = false;
            let mut share = Decimal::ZERO;
            if let Some(referrer) =
                self.referrer_of.get(&customer).copied().filter(|_| !self.reversed.contains(&customer))
            {
                if !self.qualified.contains(&customer) {
                    self.qualified.push(customer);
                    self.qualifying.push(order.clone());
                    if !self.suspended.contains(&customer) {
                        bounty = true;
                        *self.balance.entry(customer).or_default() += dec("5.00");
                    }
                }
                if !self.suspended.contains(&referrer) {
                    share = round(amount / Decimal::TEN);
                    *self.balance.entry(referrer).or_default() += share;
                }
            }
            self.orders.insert(order, (customer, amount, Decimal::ZERO, share, Decimal::ZERO, bounty));
            true
        }

        pub fn refund(&mut self, order: &str, amount: Decimal) -> bool {
            let referrer_of = self.referrer_of.clone();
            let Some(o) = self.orders.get_mut(order) else {
                return false;
            };
            if amount <= Decimal::ZERO || amount > o.1 - o.2 {
                return false;
            }
            o.2 += amount;
            let full = o.2 == o.1;
            let target = if full { o.3 } else { round(o.3 * o.2 / o.1) };
            let delta = target - o.4;
            o.4 = target;
            if let Some(r) = referrer_of.get(&o.0) {
                *self.balance.entry(*r).or_default() -= delta;
            }
            if full && o.5 {
                o.5 = false;
                *self.balance.entry(o.0).or_default() -= dec("5.00");
            }
            if full && self.qualifying.iter().any(|q| q == order) {
                self.reversed.push(o.0);
            }
            true
        }
    }
}

proptest! {
    /// Model-based: random histories of enrollments, invites, sign-ups,
    /// purchases and recurring payments, refunds, chargebacks, time passing,
    /// releases, payouts, redemptions, review decisions, suspensions, replays
    /// and malformed events, applied to the engine and to the reference model,
    /// agree on every available and paid balance and on which events are
    /// refused, after every step.
    #[test]
    fn engine_agrees_with_the_reference_model(steps in history()) {
        let clock = ManualClock::new(t0());
        let engine = Engine::new(MemoryStore::new()).with_clock(clock.clone()).with_program(program(model::PROGRAM));
        let mut m = model::Model::default();
        let mut codes: BTreeMap<usize, String> = BTreeMap::new();
        let mut sent: Vec<Event> = vec![];
        let mut orders: Vec<(String, Decimal)> = vec![];
        for (n, s) in steps.iter().enumerate() {
            let key = format!("m{n}");
            let (kind, expected): (EventKind, Option<bool>) = match s {
                Step::Enroll(i) => (Enroll::new(person(*i)).into(), Some(m.enroll(*i))),
                Step::SignUp { referee, referrer, .. } => match codes.get(referrer) {
                    Some(code) => (SignUp::new(person(*referee), code.clone()).into(), Some(m.sign_up(*referee, *referrer))),
                    None => continue,
                },
                Step::Purchase { customer, cents } => {
                    let order = format!("o{}", orders.len());
                    let amount = Decimal::new(*cents, 2);
                    orders.push((order.clone(), amount));
                    let ok = m.purchase(order.clone(), *customer, amount);
                    (Purchase::new(person(*customer), order.parse().unwrap(), value(&format!("{amount} USD"))).into(), Some(ok))
                }
                Step::Refund { order, percent } => {
                    let Some((id, amount)) = orders.get(*order).cloned() else { continue };
                    let part = (amount * Decimal::from(*percent) / Decimal::ONE_HUNDRED).round_dp(2);
                    (Refund::new(id.parse().unwrap(), value(&format!("{part} USD"))).into(), Some(m.refund(&id, part)))
                }
                Step::Replay(k) => match sent.get(k % sent.len().max(1)) {
                    Some(e) => (e.kind.clone(), None),
                    None => continue,
                },
                Step::BadCode(code) => (SignUp::new(person(0), code.clone()).into(), Some(false)),
                Step::Invite(i) => (InviteSent::new(person(*i)).into(), Some(m.invite(*i))),
                Step::Chargeback { order } => {
                    let Some((id, _)) = orders.get(*order).cloned() else { continue };
                    let left = m.remaining(&id).unwrap_or_default();
                    let ok = m.refund(&id, left);
                    let kind: EventKind = Chargeback::new(id.parse().unwrap(), value(&format!("{left} USD"))).into();
                    (kind, Some(ok))
                }
                Step::Tick => (EventKind::Tick, Some(true)),
                Step::Payout => {
                    let payout = format!("batch-{n}").parse().unwrap();
                    (Payout::new(payout, asset("USD")).at_least(dec("5")).into(), Some(m.payout(dec("5"))))
                }
                Step::Redeem(i) => (Redeem::new(person(*i), "mug").into(), Some(false)),
                Step::Approve(i) => (Approve::new(person(*i)).into(), Some(false)),
                Step::RejectReview(i) => (Reject::new(person(*i), "no").into(), Some(false)),
                Step::Suspend(i) => (Suspend::new(person(*i)).into(), Some(m.suspend(*i, true))),
                Step::Reinstate(i) => (Reinstate::new(person(*i)).into(), Some(m.suspend(*i, false))),
                Step::Advance(days) => { clock.advance(Duration::days(i64::from(*days))); continue; }
                _ => continue,
            };
            let event = match (&expected, s) {
                (None, Step::Replay(k)) => sent[k % sent.len()].clone(),
                _ => Event::new(&key, "model", kind).unwrap(),
            };
            let result = flat(engine.handle(&event));
            if let Some(ok) = expected {
                prop_assert_eq!(result.is_ok(), ok, "step {:?}: {:?}", s, result);
                if let (Ok(out), Step::Enroll(i)) = (&result, s) {
                    codes.insert(*i, out.codes[0].to_string());
                }
                if result.is_ok() {
                    sent.push(event);
                }
            }
            for i in 0..PEOPLE {
                let got = engine.read(&"model".parse().unwrap()).balance(&person(i), &asset("USD")).unwrap();
                prop_assert_eq!(got.available, m.balance.get(&i).copied().unwrap_or_default(), "available p{} after {:?}", i, s);
                prop_assert_eq!(got.paid, m.paid.get(&i).copied().unwrap_or_default(), "paid p{} after {:?}", i, s);
            }
        }
    }
}

#[test]
fn notices_name_every_withheld_grant() {
    // A sanity check that the spec program's limits are reachable at all.
    let w = World::new(program(PROGRAM));
    let code = w.enroll("a");
    for i in 0..5 {
        w.sign_up(&format!("f{i}"), &code).unwrap();
        w.purchase(&format!("f{i}"), &format!("o{i}"), "20.00 USD").unwrap();
    }
    let out = w.sign_up("f9", &code).unwrap();
    assert!(out.notices.iter().any(|n| matches!(n, Notice::ReferralRejected { .. })), "velocity reached: {out:?}");
}

proptest! {
    /// Counters: the counters kept in each event's commit (the program's
    /// totals, and the per-day records a report sums) agree with a full
    /// recomputation from the referrals, rewards and orders themselves.
    #[test]
    fn counters_agree_with_a_recomputation(steps in history()) {
        let mut d = Driver::new();
        // Invites that took effect, each once (a replay of a refused invite may take effect).
        let mut invites = std::collections::BTreeSet::new();
        for s in &steps {
            if let Some((event, Ok(_))) = d.apply(s)
                && matches!(event.kind, EventKind::InviteSent(InviteSent { .. })) {
                    invites.insert(event.key.clone());
                }
        }
        let invites = invites.len() as u64;
        let program = d.program();
        let totals = d.engine.read(&program).totals().unwrap();
        let referrals = d.engine.read(&program).referrals().all().unwrap();
        let velocity = |r: &referral_engine::domain::referral::Referral| {
            r.history.iter().any(|t| t.to == ReferralStatus::Rejected(referral_engine::domain::referral::RejectReason::Velocity))
        };
        prop_assert_eq!(totals.invites, invites);
        prop_assert_eq!(totals.signups, referrals.iter().filter(|r| !velocity(r)).count() as u64);
        prop_assert_eq!(totals.qualified, referrals.iter().filter(|r| r.qualified_at.is_some()).count() as u64);
        prop_assert_eq!(totals.expired, referrals.iter().filter(|r| r.status == ReferralStatus::Expired).count() as u64);
        prop_assert_eq!(totals.reversed, referrals.iter().filter(|r| r.status == ReferralStatus::Reversed).count() as u64);
        prop_assert_eq!(totals.rewarded, referrals.iter().filter(|r| r.history.iter().any(|t| t.to == ReferralStatus::Rewarded)).count() as u64);
        prop_assert_eq!(totals.rejected.get("velocity").copied().unwrap_or(0), referrals.iter().filter(|r| velocity(r)).count() as u64);
        let mut granted: BTreeMap<String, Decimal> = BTreeMap::new();
        for p in d.engine.read(&program).participants().all().unwrap() {
            for e in d.engine.read(&program).statement(&p.id).all().unwrap() {
                if let (referral_engine::domain::ledger::EntryKind::Grant, Some(id)) = (&e.kind, e.reward) {
                    let r = d.engine.read(&program).reward(&id).unwrap().unwrap();
                    *granted.entry(r.value.asset().to_string()).or_default() += r.value.amount() - r.reversed;
                }
            }
        }
        let counted: BTreeMap<String, Decimal> = totals.granted.iter().map(|(a, v)| (a.to_string(), *v)).filter(|(_, v)| !v.is_zero()).collect();
        granted.retain(|_, v| !v.is_zero());
        prop_assert_eq!(counted, granted);
        let mut revenue = Decimal::ZERO;
        for (id, _) in &d.orders {
            if let Some(o) = d.engine.read(&program).order(&id.parse().unwrap()).unwrap()
                && o.referral.is_some() {
                    revenue += o.amount.amount() - o.refunded;
                }
        }
        prop_assert_eq!(totals.revenue, revenue);
        // The days add up to the totals.
        let report = d.engine.read(&program).report(t0().date_naive(), (t0() + Duration::days(3650)).date_naive()).unwrap();
        let days = report.counters;
        prop_assert_eq!((days.invites, days.signups, days.qualified, days.expired, days.reversed, days.rewarded),
            (totals.invites, totals.signups, totals.qualified, totals.expired, totals.reversed, totals.rewarded));
        prop_assert_eq!(days.revenue, totals.revenue);
        prop_assert_eq!(days.granted, totals.granted);
    }
}
