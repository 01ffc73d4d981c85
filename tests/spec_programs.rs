//! The combinatorial specification: generated programs, not only events.
//!
//! Each case draws a program (every policy type and trigger, first or last
//! touch, holds, review through fraud flags, qualification with and without a
//! minimum, every limit, extreme amounts) and a sequence of events that
//! re-attribute, buy, refund in parts, charge back, suspend, review, pay out,
//! tick and replay. After every event and at the end, it checks the business
//! rules in money terms, from what the engine shows a host (balances,
//! statements, rewards), not from its internals:
//!
//! 1. a refused event changes nothing;
//! 2. a replay returns the first outcome and changes nothing;
//! 3. every balance equals the sum of its ledger entries;
//! 4. no referrer is paid as referrer for more than `max_rewarded_referrals` referees;
//! 5. granted net of reversals never exceeds a budget;
//! 6. a rule on sign-up or qualification pays each (referee, role) at most once net;
//! 7. no referrer earns more than a referrer cap;
//! 8. the same events give the same balances on MemoryStore and on SQLite;
//! 9. a referrer's counts follow its referrals: `stats.qualified` counts its
//!    qualified referrals in their referees' slots, `rewarded_referrals` those
//!    (kept or superseded) that count for it; a referral that left the live
//!    states (rejected in review, reversed, superseded) keeps no count once
//!    no reward it earned its referrer stands;
//! 10. `referred_by` names whoever holds the referee's live referral, and
//!     nobody through a rejected or reversed one (the multi-level chain);
//! 11. only a touch that is itself attributed supersedes an attribution: the
//!     referral an event superseded one with was not rejected by that event.
//!
//! Programs run in a currency drawn from ISO 4217 codes of 0, 2 and 4 minor
//! units and currencies of one's own (`"PTS/3"`), every amount at its scale;
//! some reject weak fraud matches (so that, under last touch, rejected
//! touches meet attributions), some run A/B variants and segment routes
//! (their rule names unique across what runs for one referral).
//!
//! `SPEC_CASES` sets the number of programs (default 48); the long run in the
//! README uses `SPEC_CASES=12000` (over a million events).

mod common;

use referral_engine::event::{
    Approve, Chargeback, Enroll, Payout, Purchase, Refund, Reinstate, Reject, SignUp, Suspend,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Duration;
use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use referral_engine::domain::code::SeededRandom;
use referral_engine::domain::id::ProgramId;
use referral_engine::domain::ledger::{Reward, Role};
use referral_engine::fraud::{Signal, SignalKey};
use referral_engine::store::{Record, Store};
use referral_engine::{Engine, Error, Event, EventKind, ManualClock, MemoryStore, Outcome};
use rust_decimal::Decimal;

/// A generated program, with what the checks need to know about it.
#[derive(Debug, Clone)]
struct Plan {
    json: String,
    /// The program's currency as written (`"USD"`, `"PTS/3"`), and its scale.
    currency: String,
    scale: u32,
    /// Rules that pay once per referee (on sign-up or qualification), and
    /// the role they pay so (`None`: whichever).
    once: Vec<(String, Option<Role>)>,
    max_rewarded: Option<u64>,
    cap: Option<Decimal>,
    budget: Option<Decimal>,
}

/// An amount in hundredths of the currency's unit (a scale-free draw,
/// written at the program's scale by [`at`]).
fn amount() -> impl Strategy<Value = Units> {
    prop_oneof![
        4 => (1i64..5000).prop_map(Units::Hundredths),
        1 => Just(Units::Hundredths(10_000_000_000_000_000)),
        1 => Just(Units::Smallest),
    ]
}

/// A drawn amount: so many hundredths, or the currency's smallest unit.
#[derive(Debug, Clone, Copy)]
enum Units {
    Hundredths(i64),
    Smallest,
}

/// `units` at `scale` decimal places (hundredths of a unit rounded up to
/// the smallest unit where the scale has none finer), as text.
fn at(units: Units, scale: u32) -> Decimal {
    match units {
        Units::Smallest => Decimal::new(1, scale),
        Units::Hundredths(h) => {
            let exact = Decimal::new(h, 2);
            let rounded = exact.round_dp_with_strategy(scale, rust_decimal::RoundingStrategy::AwayFromZero);
            let mut d = rounded.max(Decimal::new(1, scale));
            d.rescale(scale);
            d
        }
    }
}

fn currency() -> impl Strategy<Value = (&'static str, u32)> {
    prop_oneof![3 => Just(("USD", 2)), 1 => Just(("JPY", 0)), 1 => Just(("CLF", 4)), 1 => Just(("PTS/3", 3))]
}

fn trigger() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("sign_up"), Just("qualified"), Just("first_purchase"), Just("every_purchase")]
}

/// One policy as JSON, and the names of its rules that pay once per referee.
fn policy(i: usize, (c, scale): (&'static str, u32)) -> impl Strategy<Value = (String, Vec<(String, Option<Role>)>)> {
    let name = format!("r{i}");
    let v = move |u: Units| format!("{} {c}", at(u, scale));
    let once =
        |on: &str, n: &str| if matches!(on, "sign_up" | "qualified") { vec![(n.to_owned(), None)] } else { vec![] };
    let once_as = |on: &str, n: &str, role: Role| {
        if matches!(on, "sign_up" | "qualified") { vec![(n.to_owned(), Some(role))] } else { vec![] }
    };
    prop_oneof![
        (trigger(), amount()).prop_map({
            let name = name.clone();
            move |(on, a)| {
                let a = v(a);
                (
                    format!(r#"{{"type":"one_sided","name":"{name}","on":"{on}","reward":{{"fixed":"{a}"}}}}"#),
                    once(on, &name),
                )
            }
        }),
        (trigger(), trigger(), amount(), amount()).prop_map({
            let name = name.clone();
            move |(a_on, b_on, a, b)| {
                let (a, b) = (v(a), v(b));
                let mut o = once_as(a_on, &name, Role::Referrer);
                o.extend(once_as(b_on, &name, Role::Referee));
                (
                    format!(
                        r#"{{"type":"two_sided","name":"{name}","referrer":{{"on":"{a_on}","reward":{{"fixed":"{a}"}}}},"referee":{{"on":"{b_on}","reward":{{"fixed":"{b}"}}}}}}"#
                    ),
                    o,
                )
            }
        }),
        (amount(), amount()).prop_map({
            let name = name.clone();
            move |(a, b)| {
                let (a, b) = (v(a), v(b));
                (
                    format!(
                        r#"{{"type":"tiered","name":"{name}","on":"qualified","basis":"qualified_count","tiers":[{{"threshold":"0","reward":{{"fixed":"{a}"}}}},{{"threshold":"2","reward":{{"fixed":"{b}"}}}}]}}"#
                    ),
                    vec![(name.clone(), None)],
                )
            }
        }),
        (amount(), amount()).prop_map({
            let name = name.clone();
            move |(a, b)| {
                let (a, b) = (v(a), v(b));
                (
                    format!(
                        r#"{{"type":"multi_level","name":"{name}","on":"qualified","levels":[{{"level":1,"reward":{{"fixed":"{a}"}}}},{{"level":2,"reward":{{"fixed":"{b}"}}}}]}}"#
                    ),
                    vec![(format!("{name}/level-1"), None), (format!("{name}/level-2"), None)],
                )
            }
        }),
        (1u32..60).prop_map(move |p| {
            (format!(r#"{{"type":"revenue_share","name":"{name}","percent":"{p}"}}"#), vec![])
        }),
    ]
}

/// Policies as JSON, and the rules among them that pay once (with the role).
type Policies = (Vec<String>, Vec<(String, Option<Role>)>);

/// Policies `first..first + n` in a currency, as JSON, with their once-rules.
fn policies(first: usize, n: std::ops::Range<usize>, c: (&'static str, u32)) -> impl Strategy<Value = Policies> {
    prop::collection::vec(0usize..1, n)
        .prop_flat_map(move |v| (0..v.len()).map(|i| policy(first + i, c)).collect::<Vec<_>>())
        .prop_map(|list| {
            let mut once = Vec::new();
            let mut json = Vec::new();
            for (j, o) in list {
                json.push(j);
                once.extend(o);
            }
            (json, once)
        })
}

/// What a program runs besides its common policies: nothing, two A/B
/// variants, or a segment route (`vip`) with a default.
#[derive(Debug, Clone)]
enum Extra {
    None,
    Variants([Policies; 2]),
    Routes(Policies, Policies),
}

fn extra(c: (&'static str, u32)) -> impl Strategy<Value = Extra> {
    prop_oneof![
        2 => Just(Extra::None),
        1 => (policies(10, 1..2, c), policies(20, 1..2, c)).prop_map(|(a, b)| Extra::Variants([a, b])),
        1 => (policies(30, 1..3, c), policies(40, 0..2, c)).prop_map(|(vip, default)| Extra::Routes(vip, default)),
    ]
}

fn plan() -> impl Strategy<Value = Plan> {
    currency().prop_flat_map(|c| {
        (
            (policies(0, 1..3, c), extra(c)),
            (any::<bool>(), any::<bool>()),
            prop_oneof![Just(None), Just(Some(None)), Just(Some(Some(Units::Hundredths(2000))))],
            0u32..3,
            prop::option::of(1u64..4),
            prop::option::of(amount()),
            prop::option::of(amount()),
            any::<bool>(),
            prop::option::of(2u32..5),
        )
            .prop_map(
                move |(
                    ((common, mut once), extra),
                    (last_touch, reject_weak),
                    qualification,
                    hold,
                    max,
                    cap,
                    budget,
                    refuse,
                    velocity,
                )| {
                    let (code, scale) = c;
                    let mut list = common;
                    let mut variants = String::new();
                    match extra {
                        Extra::None => {}
                        Extra::Variants([a, b]) => {
                            variants = format!(
                                r#","variants":[{{"name":"A","weight":1,"policies":[{}]}},{{"name":"B","weight":1,"policies":[{}]}}]"#,
                                a.0.join(","),
                                b.0.join(",")
                            );
                            once.extend(a.1);
                            once.extend(b.1);
                        }
                        Extra::Routes(vip, default) => {
                            list.push(format!(
                                r#"{{"type":"segmented","routes":[{{"segment":"vip","policies":[{}]}}],"default":[{}]}}"#,
                                vip.0.join(","),
                                default.0.join(",")
                            ));
                            let inner = vip.1.into_iter().chain(default.1);
                            once.extend(inner.map(|(rule, role)| (format!("segmented/{rule}"), role)));
                        }
                    }
                    let attribution =
                        if last_touch { r#"{"model":"last_touch"}"# } else { r#"{"model":"first_touch"}"# };
                    let qualification = match qualification {
                        None => r#""sign_up""#.to_owned(),
                        Some(None) => r#"{"first_purchase":{}}"#.to_owned(),
                        Some(Some(m)) => format!(r#"{{"first_purchase":{{"minimum":"{} {code}"}}}}"#, at(m, scale)),
                    };
                    let (cap, budget) = (cap.map(|u| at(u, scale)), budget.map(|u| at(u, scale)));
                    let mut limits = Vec::new();
                    if let Some(m) = max {
                        limits.push(format!(r#""max_rewarded_referrals":{m}"#));
                    }
                    if let Some(c) = &cap {
                        limits.push(format!(r#""referrer_caps":["{c} {code}"]"#));
                    }
                    if let Some(b) = &budget {
                        limits.push(format!(r#""budgets":["{b} {code}"]"#));
                        limits.push(format!(r#""budget_mode":"{}""#, if refuse { "refuse" } else { "cut" }));
                    }
                    if let Some(v) = velocity {
                        limits.push(format!(r#""velocity":{{"max":{v},"window_hours":24}}"#));
                    }
                    let fraud = if reject_weak { r#","fraud":{"weak_match":"reject"}"# } else { "" };
                    let json = format!(
                        r#"{{"id":"g","name":"G","currency":"{code}","attribution":{attribution},"qualification":{qualification},
                        "hold_days":{hold},"qualification_window_days":20,"limits":{{{}}},"policies":[{}]{variants}{fraud}}}"#,
                        limits.join(","),
                        list.join(",")
                    );
                    Plan { json, currency: code.to_owned(), scale, once, max_rewarded: max, cap, budget }
                },
            )
    })
}

#[derive(Debug, Clone)]
enum Step {
    Enroll(usize),
    SignUp { referee: usize, referrer: usize, ip: Option<u8> },
    Purchase { customer: usize, amount: Units },
    Refund { order: usize, percent: u32, chargeback: bool },
    Suspend(usize, bool),
    Review(usize, bool),
    Payout,
    Tick(i64),
    Replay(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0usize..6).prop_map(Step::Enroll),
        6 => (0usize..8, 0usize..6, prop::option::of(0u8..3))
            .prop_map(|(referee, referrer, ip)| Step::SignUp { referee, referrer, ip }),
        4 => (0usize..8, amount()).prop_map(|(customer, amount)| Step::Purchase { customer, amount }),
        2 => (0usize..12, 1u32..101, any::<bool>())
            .prop_map(|(order, percent, chargeback)| Step::Refund { order, percent, chargeback }),
        1 => (0usize..8, any::<bool>()).prop_map(|(p, on)| Step::Suspend(p, on)),
        1 => (0usize..8, any::<bool>()).prop_map(|(p, ok)| Step::Review(p, ok)),
        1 => Just(Step::Payout),
        2 => (0i64..25).prop_map(Step::Tick),
        1 => (0usize..100).prop_map(Step::Replay),
    ]
}

fn person(i: usize) -> String {
    format!("p{i}")
}

/// An engine on `store` for `plan`, and the events' results.
struct Run<S: Store> {
    engine: Engine<S>,
    clock: ManualClock,
    program: ProgramId,
    codes: BTreeMap<usize, String>,
    orders: Vec<(String, Decimal, Decimal)>,
    sent: Vec<(Event, Result<Outcome, String>)>,
    /// The clock's time at each sent event.
    times: Vec<chrono::DateTime<chrono::Utc>>,
    payouts: u32,
    currency: String,
    scale: u32,
}

impl<S: Store> Run<S> {
    fn new(store: S, plan: &Plan) -> Self {
        let clock = ManualClock::new(t0());
        let engine = Engine::new(store)
            .with_clock(clock.clone())
            .with_random(SeededRandom::new(3))
            .with_signal_key(SignalKey::new(*b"spec-programs-key-0123").unwrap())
            .with_program(program(&plan.json));
        Self {
            engine,
            clock,
            program: "g".parse().unwrap(),
            codes: BTreeMap::new(),
            orders: vec![],
            sent: vec![],
            times: vec![],
            payouts: 0,
            currency: plan.currency.clone(),
            scale: plan.scale,
        }
    }

    fn kind(&mut self, step: &Step) -> Option<EventKind> {
        Some(match step {
            Step::Enroll(i) => {
                let enroll = Enroll::new(pid(&person(*i))).with_signals(vec![Signal::ip(format!("10.0.0.{i}"))]);
                // Odd referrers in the `vip` segment (routes, where the program has them).
                if i % 2 == 1 { enroll.in_segment("vip").into() } else { enroll.into() }
            }
            Step::SignUp { referee, referrer, ip } => SignUp::new(
                pid(&person(*referee)),
                self.codes.get(referrer).cloned().unwrap_or_else(|| "UNKNOWN-CODE".into()),
            )
            .with_signals(ip.map(|n| Signal::ip(format!("10.0.0.{n}"))))
            .into(),
            Step::Purchase { customer, amount } => {
                let order = format!("o{}", self.orders.len());
                let amount = at(*amount, self.scale);
                self.orders.push((order.clone(), amount, Decimal::ZERO));
                let amount = value(&format!("{amount} {}", self.currency));
                Purchase::new(pid(&person(*customer)), order.parse().unwrap(), amount).into()
            }
            Step::Refund { order, percent, chargeback } => {
                let (id, total, refunded) = self.orders.get(*order)?.clone();
                let left = total - refunded;
                let part = (total * Decimal::from(*percent) / Decimal::ONE_HUNDRED).round_dp(self.scale).min(left);
                if part <= Decimal::ZERO {
                    return None;
                }
                let amount = value(&format!("{part} {}", self.currency));
                let order = id.parse().unwrap();
                if *chargeback { Chargeback::new(order, amount).into() } else { Refund::new(order, amount).into() }
            }
            Step::Suspend(i, on) => {
                let participant = pid(&person(*i));
                if *on { Suspend::new(participant).into() } else { Reinstate::new(participant).into() }
            }
            Step::Review(i, ok) => {
                let referee = pid(&person(*i));
                if *ok { Approve::new(referee).into() } else { Reject::new(referee, "spec").into() }
            }
            Step::Payout => {
                self.payouts += 1;
                Payout::new(format!("pay{}", self.payouts).parse().unwrap(), asset(&self.currency)).into()
            }
            Step::Tick(days) => {
                self.clock.advance(Duration::days(*days));
                EventKind::Tick
            }
            Step::Replay(_) => return None,
        })
    }
}

impl Run<MemoryStore> {
    /// Sends one step, checking rules 1 and 2 on the way.
    fn send(&mut self, step: &Step) -> Result<(), TestCaseError> {
        if let Step::Replay(i) = step {
            if self.sent.is_empty() {
                return Ok(());
            }
            let (event, first) = self.sent[i % self.sent.len()].clone();
            // A refused event recorded nothing, its key included: sent again,
            // it is decided afresh (see README), so only accepted ones replay.
            if first.is_err() {
                return Ok(());
            }
            let before = self.engine.store().dump();
            let again = flat(self.engine.handle(&event)).map_err(|e| e.to_string());
            if let Ok(first) = first {
                let now = referral_engine::Clock::now(&self.clock);
                if now < first.at + referral_engine::engine::DEFAULT_OUTCOME_RETENTION {
                    prop_assert_eq!(again.as_ref().ok(), Some(&first), "a replay returns the first outcome");
                } else {
                    let past = again.as_ref().err().is_some_and(|e| e.contains("past the retention window"));
                    prop_assert!(past, "a replay past the retention window: {:?}", again);
                }
            }
            prop_assert!(
                diff(&before, &self.engine.store().dump()).is_none(),
                "a replay changed {:?}",
                diff(&before, &self.engine.store().dump())
            );
            return Ok(());
        }
        let Some(kind) = self.kind(step) else { return Ok(()) };
        let event = Event::new(&format!("e{}", self.sent.len()), "g", kind).unwrap();
        let before = self.engine.store().dump();
        let result = flat(self.engine.handle(&event));
        match &result {
            Ok(out) => {
                if let (Step::Enroll(i), Some(code)) = (step, out.codes.first()) {
                    self.codes.insert(*i, code.to_string());
                }
                if let (
                    Step::Refund { order, .. },
                    EventKind::Refund(Refund { amount, .. }) | EventKind::Chargeback(Chargeback { amount, .. }),
                ) = (step, &event.kind)
                {
                    self.orders[*order].2 += amount.amount();
                }
            }
            Err(Error::Store(e)) => return Err(TestCaseError::fail(format!("store failed: {e}"))),
            Err(Error::Contention(_)) => return Err(TestCaseError::fail("contention on one thread")),
            Err(e) => {
                let changed = diff(&before, &self.engine.store().dump());
                prop_assert!(changed.is_none(), "refused ({e}) yet changed {changed:?}");
            }
        }
        self.sent.push((event, result.map_err(|e| e.to_string())));
        self.times.push(self.clock.now_for_tests());
        Ok(())
    }
}

type Dump =
    (Vec<(referral_engine::store::Key, referral_engine::store::Versioned)>, Vec<referral_engine::event::StoredEvent>);

/// The first key whose record differs between two dumps, if any.
fn diff(a: &Dump, b: &Dump) -> Option<String> {
    if a.1.len() != b.1.len() {
        return Some(format!("events: {} -> {}", a.1.len(), b.1.len()));
    }
    let keys = |d: &Dump| d.0.iter().map(|(k, v)| (k.as_str().to_owned(), v.version)).collect::<Vec<_>>();
    let (ka, kb) = (keys(a), keys(b));
    ka.iter()
        .zip(&kb)
        .find(|(x, y)| x != y)
        .map(|(x, y)| format!("{x:?} -> {y:?}"))
        .or_else(|| (ka.len() != kb.len()).then(|| format!("{} records -> {}", ka.len(), kb.len())))
}

fn rewards(store: &MemoryStore) -> Vec<Reward> {
    store
        .dump()
        .0
        .into_iter()
        .filter_map(|(_, v)| match v.record.as_ref() {
            Record::Reward(r) => Some((**r).clone()),
            _ => None,
        })
        .collect()
}

fn net(r: &Reward) -> Decimal {
    r.value.amount() - r.reversed
}

/// Rules 3 to 7 on the state a run left.
fn check_money(run: &Run<MemoryStore>, plan: &Plan) -> Result<(), TestCaseError> {
    let usd = asset(&plan.currency);
    for p in run.engine.read(&run.program).participants().all().unwrap() {
        let mut sums: BTreeMap<String, Decimal> = BTreeMap::new();
        for e in run.engine.read(&run.program).statement(&p.id).all().unwrap() {
            *sums.entry(format!("{:?}", e.bucket)).or_default() += e.value.amount();
        }
        let b = p.balance(&usd);
        for (bucket, held) in [("Pending", b.pending), ("Available", b.available), ("Paid", b.paid)] {
            prop_assert_eq!(sums.get(bucket).copied().unwrap_or_default(), held, "{} {} = its ledger", p.id, bucket);
        }
    }
    let all = rewards(run.engine.store());
    // 4: referees each referrer is paid for, as referrer, net.
    if let Some(max) = plan.max_rewarded {
        let mut paid_for: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        for r in all.iter().filter(|r| r.role == Role::Referrer && net(r) > Decimal::ZERO) {
            if let Some(referee) = &r.referee {
                paid_for.entry(r.beneficiary.to_string()).or_default().insert(referee.to_string());
            }
        }
        for (who, referees) in paid_for {
            prop_assert!(referees.len() as u64 <= max, "{who} paid for {} referees > {max}", referees.len());
        }
    }
    // 5: the budget.
    if let Some(budget) = plan.budget {
        let granted: Decimal = all.iter().map(net).sum();
        prop_assert!(granted <= budget, "granted {granted} > budget {budget}");
    }
    // 6: once per referee and role, net.
    let mut once: BTreeMap<(String, String, String), u32> = BTreeMap::new();
    let pays_once =
        |r: &Reward| plan.once.iter().any(|(rule, role)| rule == &r.rule && role.is_none_or(|x| x == r.role));
    for r in all.iter().filter(|r| pays_once(r) && net(r) > Decimal::ZERO) {
        let key =
            (r.referee.as_ref().map(|p| p.to_string()).unwrap_or_default(), r.rule.clone(), format!("{:?}", r.role));
        *once.entry(key).or_default() += 1;
    }
    for (key, n) in once {
        prop_assert!(n <= 1, "{key:?} paid {n} times");
    }
    // 7: the referrer cap.
    if let Some(cap) = plan.cap {
        let mut earned: BTreeMap<String, Decimal> = BTreeMap::new();
        for r in all.iter().filter(|r| r.role != Role::Referee) {
            *earned.entry(r.beneficiary.to_string()).or_default() += net(r);
        }
        for (who, e) in earned {
            prop_assert!(e <= cap, "{who} earned {e} > cap {cap}");
        }
    }
    Ok(())
}

/// Rules 9 and 10: counts and links follow every exit of a referral.
fn check_counts(run: &Run<MemoryStore>) -> Result<(), TestCaseError> {
    use referral_engine::domain::referral::{Referral, ReferralStatus, RejectReason};
    let mut slots: BTreeMap<String, Referral> = BTreeMap::new();
    let mut all: Vec<Referral> = Vec::new();
    for (key, v) in run.engine.store().dump().0 {
        if let Record::Referral(r) = v.record.as_ref() {
            if key.as_str().starts_with("r/") {
                slots.insert(r.referee.to_string(), (**r).clone());
            }
            all.push((**r).clone());
        }
    }
    for superseded in all.iter().filter(|r| r.status == ReferralStatus::Rejected(RejectReason::Superseded)) {
        let Some(by) = superseded.history.last().map(|t| &t.event) else { continue };
        let successor =
            all.iter().find(|r| r.referee == superseded.referee && r.history.first().map(|t| &t.event) == Some(by));
        let rejected_at_once = successor
            .is_some_and(|r| r.history.iter().any(|t| &t.event == by && matches!(t.to, ReferralStatus::Rejected(_))));
        prop_assert!(
            !rejected_at_once,
            "{:?} was superseded by a touch rejected in the same event: {successor:?}",
            superseded.id
        );
    }
    for p in run.engine.read(&run.program).participants().all().unwrap() {
        let qualified = slots.values().filter(|r| r.referrer == p.id && r.status.is_qualified()).count() as u64;
        prop_assert_eq!(p.stats.qualified, qualified, "{}'s qualified count", p.id);
        let counted = all.iter().filter(|r| r.referrer == p.id && r.counts_for_referrer).count() as u64;
        prop_assert_eq!(p.stats.rewarded_referrals, counted, "{}'s rewarded referrals", p.id);
        let slot = slots.get(p.id.as_str());
        if let Some(up) = &p.referred_by {
            let held = slot.filter(|r| {
                &r.referrer == up && !matches!(r.status, ReferralStatus::Rejected(_) | ReferralStatus::Reversed)
            });
            prop_assert!(
                held.is_some(),
                "{} is linked to {up}, who holds no standing referral of it: {:?}",
                p.id,
                slot
            );
        }
        if let Some(r) = slot.filter(|r| r.status.is_live()) {
            prop_assert_eq!(p.referred_by.as_ref(), Some(&r.referrer), "{}'s live referral is not its link", p.id);
        }
    }
    Ok(())
}

static EVENTS: AtomicU64 = AtomicU64::new(0);
static RUNS: AtomicU64 = AtomicU64::new(0);
static FIRST_FAILURE: AtomicU64 = AtomicU64::new(0);

fn one_case(plan: &Plan, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut run = Run::new(MemoryStore::new(), plan);
    for s in steps {
        run.send(s)?;
    }
    EVENTS.fetch_add(run.sent.len() as u64, Ordering::Relaxed);
    check_money(&run, plan)?;
    check_counts(&run)?;
    // 8: the same events on SQLite, which round-trips every record.
    #[cfg(feature = "sqlite")]
    {
        let store = referral_engine::store::sqlite::SqliteStore::open_in_memory().unwrap();
        store.migrate().unwrap();
        let sql = Run::new(store, plan);
        for ((event, _), at) in run.sent.iter().zip(&run.times) {
            sql.clock.set(*at);
            let _ = flat(sql.engine.handle(event));
        }
        for p in run.engine.read(&run.program).participants().all().unwrap() {
            let theirs = sql.engine.read(&run.program).participant(&p.id).unwrap();
            prop_assert_eq!(Some(&p.balances), theirs.as_ref().map(|t| &t.balances), "{} on SQLite", p.id);
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("SPEC_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(48)
}

#[test]
fn generated_programs_keep_the_money_rules() {
    let mut runner = TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() });
    let start = std::time::Instant::now();
    let strategy = (plan(), prop::collection::vec(step(), 1..160));
    let result = runner.run(&strategy, |(plan, steps)| {
        let n = RUNS.fetch_add(1, Ordering::Relaxed) + 1;
        let verdict = one_case(&plan, &steps);
        if verdict.is_err() {
            let _ = FIRST_FAILURE.compare_exchange(0, n, Ordering::Relaxed, Ordering::Relaxed);
        }
        verdict
    });
    println!(
        "spec_programs: {} cases, {} events in {:.1} s",
        cases(),
        EVENTS.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("first violation in case {} (then shrunk): {e}", FIRST_FAILURE.load(Ordering::Relaxed));
    }
}
