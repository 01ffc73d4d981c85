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
//! 8. the same events give the same balances on MemoryStore and on SQLite.
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
    /// Rules that pay once per referee (on sign-up or qualification), and
    /// the role they pay so (`None`: whichever).
    once: Vec<(String, Option<Role>)>,
    max_rewarded: Option<u64>,
    cap: Option<Decimal>,
    budget: Option<Decimal>,
}

fn amount() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (1u32..5000).prop_map(|c| format!("{}.{:02}", c / 100, c % 100)),
        1 => Just("100000000000000.00".to_owned()),
        1 => Just("0.01".to_owned()),
    ]
}

fn trigger() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("sign_up"), Just("qualified"), Just("first_purchase"), Just("every_purchase")]
}

/// One policy as JSON, and the names of its rules that pay once per referee.
fn policy(i: usize) -> impl Strategy<Value = (String, Vec<(String, Option<Role>)>)> {
    let name = format!("r{i}");
    let once =
        |on: &str, n: &str| if matches!(on, "sign_up" | "qualified") { vec![(n.to_owned(), None)] } else { vec![] };
    let once_as = |on: &str, n: &str, role: Role| {
        if matches!(on, "sign_up" | "qualified") { vec![(n.to_owned(), Some(role))] } else { vec![] }
    };
    prop_oneof![
        (trigger(), amount()).prop_map({
            let name = name.clone();
            move |(on, a)| {
                (
                    format!(r#"{{"type":"one_sided","name":"{name}","on":"{on}","reward":{{"fixed":"{a} USD"}}}}"#),
                    once(on, &name),
                )
            }
        }),
        (trigger(), trigger(), amount(), amount()).prop_map({
            let name = name.clone();
            move |(a_on, b_on, a, b)| {
                let mut o = once_as(a_on, &name, Role::Referrer);
                o.extend(once_as(b_on, &name, Role::Referee));
                (
                    format!(
                        r#"{{"type":"two_sided","name":"{name}","referrer":{{"on":"{a_on}","reward":{{"fixed":"{a} USD"}}}},"referee":{{"on":"{b_on}","reward":{{"fixed":"{b} USD"}}}}}}"#
                    ),
                    o,
                )
            }
        }),
        (amount(), amount()).prop_map({
            let name = name.clone();
            move |(a, b)| {
                (
                    format!(
                        r#"{{"type":"tiered","name":"{name}","on":"qualified","basis":"qualified_count","tiers":[{{"threshold":"0","reward":{{"fixed":"{a} USD"}}}},{{"threshold":"2","reward":{{"fixed":"{b} USD"}}}}]}}"#
                    ),
                    vec![(name.clone(), None)],
                )
            }
        }),
        (amount(), amount()).prop_map({
            let name = name.clone();
            move |(a, b)| {
                (
                    format!(
                        r#"{{"type":"multi_level","name":"{name}","on":"qualified","levels":[{{"level":1,"reward":{{"fixed":"{a} USD"}}}},{{"level":2,"reward":{{"fixed":"{b} USD"}}}}]}}"#
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

fn plan() -> impl Strategy<Value = Plan> {
    (
        prop::collection::vec(0usize..1, 1..3).prop_flat_map(|v| {
            let n = v.len();
            (0..n).map(policy).collect::<Vec<_>>()
        }),
        any::<bool>(),
        prop_oneof![Just(None), Just(Some(None)), Just(Some(Some("20.00")))],
        0u32..3,
        prop::option::of(1u64..4),
        prop::option::of(amount()),
        prop::option::of(amount()),
        any::<bool>(),
        prop::option::of(2u32..5),
    )
        .prop_map(|(policies, last_touch, qualification, hold, max, cap, budget, refuse, velocity)| {
            let mut once = Vec::new();
            let mut list = Vec::new();
            for (json, o) in policies {
                list.push(json);
                once.extend(o);
            }
            let attribution = if last_touch { r#"{"model":"last_touch"}"# } else { r#"{"model":"first_touch"}"# };
            let qualification = match qualification {
                None => r#""sign_up""#.to_owned(),
                Some(None) => r#"{"first_purchase":{}}"#.to_owned(),
                Some(Some(m)) => format!(r#"{{"first_purchase":{{"minimum":"{m}"}}}}"#),
            };
            let mut limits = Vec::new();
            if let Some(m) = max {
                limits.push(format!(r#""max_rewarded_referrals":{m}"#));
            }
            if let Some(c) = &cap {
                limits.push(format!(r#""referrer_caps":["{c} USD"]"#));
            }
            if let Some(b) = &budget {
                limits.push(format!(r#""budgets":["{b} USD"]"#));
                limits.push(format!(r#""budget_mode":"{}""#, if refuse { "refuse" } else { "cut" }));
            }
            if let Some(v) = velocity {
                limits.push(format!(r#""velocity":{{"max":{v},"window_hours":24}}"#));
            }
            let json = format!(
                r#"{{"id":"g","name":"G","currency":"USD","attribution":{attribution},"qualification":{qualification},
                "hold_days":{hold},"qualification_window_days":20,"limits":{{{}}},"policies":[{}]}}"#,
                limits.join(","),
                list.join(",")
            );
            Plan {
                json,
                once,
                max_rewarded: max,
                cap: cap.map(|c| c.parse().unwrap()),
                budget: budget.map(|b| b.parse().unwrap()),
            }
        })
}

#[derive(Debug, Clone)]
enum Step {
    Enroll(usize),
    SignUp { referee: usize, referrer: usize, ip: Option<u8> },
    Purchase { customer: usize, amount: String },
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
        }
    }

    fn kind(&mut self, step: &Step) -> Option<EventKind> {
        Some(match step {
            Step::Enroll(i) => {
                Enroll::new(pid(&person(*i))).with_signals(vec![Signal::ip(format!("10.0.0.{i}"))]).into()
            }
            Step::SignUp { referee, referrer, ip } => SignUp::new(
                pid(&person(*referee)),
                self.codes.get(referrer).cloned().unwrap_or_else(|| "UNKNOWN-CODE".into()),
            )
            .with_signals(ip.map(|n| Signal::ip(format!("10.0.0.{n}"))))
            .into(),
            Step::Purchase { customer, amount } => {
                let order = format!("o{}", self.orders.len());
                self.orders.push((order.clone(), amount.parse().unwrap(), Decimal::ZERO));
                Purchase::new(pid(&person(*customer)), order.parse().unwrap(), value(&format!("{amount} USD"))).into()
            }
            Step::Refund { order, percent, chargeback } => {
                let (id, total, refunded) = self.orders.get(*order)?.clone();
                let left = total - refunded;
                let part = (total * Decimal::from(*percent) / Decimal::ONE_HUNDRED).round_dp(2).min(left);
                if part <= Decimal::ZERO {
                    return None;
                }
                let amount = value(&format!("{part} USD"));
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
                Payout::new(format!("pay{}", self.payouts).parse().unwrap(), asset("USD")).into()
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
                prop_assert_eq!(again.as_ref().ok(), Some(&first), "a replay returns the first outcome");
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
    let usd = asset("USD");
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
