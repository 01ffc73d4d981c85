//! One test per finding of the reliability review (`../shared/reviews/reliability.md`,
//! at ccf688a), named by its id: each fails on the code before its fix.

mod common;

use referral_engine::Refusal;
use referral_engine::event::{Approve, Enroll, InviteSent, Payout, Purchase, Redeem, Reject, SignUp, Suspend};
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use common::*;
use referral_engine::domain::code::SeededRandom;
#[cfg(feature = "sqlite")]
use referral_engine::domain::participant::Attribute;
use referral_engine::event::StoredEvent;
use referral_engine::fraud::{Signal, SignalKey};
use referral_engine::store::{Commit, Key, KeyRange, Store, StoreError, Versioned};
use referral_engine::{
    Engine, Error, Event, EventKind, ManualClock, MemoryStore, Notice, ParticipantId, ProgramSpec, Value,
};

const USD: &str = "USD";

/// The plainest program: 5.00 USD to the referrer per sign-up.
const BOUNTY: &str = r#"{"id":"p","name":"P","currency":"USD",
    "policies":[{"type":"one_sided","name":"b","on":"sign_up","reward":{"fixed":"5.00 USD"}}]}"#;

fn sign_up_with(w: &World<impl Store>, referee: &str, code: &str) -> Result<referral_engine::Outcome, Error> {
    w.send(SignUp::new(pid(referee), code).into())
}

fn available(w: &World<impl Store>, who: &str) -> rust_decimal::Decimal {
    w.balance(who, USD).available
}

fn pending(w: &World<impl Store>, who: &str) -> rust_decimal::Decimal {
    w.balance(who, USD).pending
}

fn spec(json: &str) -> Result<referral_engine::Program, referral_engine::program::ProgramError> {
    serde_json::from_str::<ProgramSpec>(json).expect("program json").build()
}

#[test]
fn h1_switching_codes_under_last_touch_pays_each_sign_up_rule_once() {
    let w = World::new(program(
        r#"{"id":"lt","name":"LT","currency":"USD","attribution":{"model":"last_touch"},
        "qualification":{"first_purchase":{}},"limits":{"max_rewarded_referrals":1},
        "policies":[{"type":"two_sided","name":"w","referrer":{"on":"sign_up","reward":{"fixed":"5.00 USD"}},
        "referee":{"on":"sign_up","reward":{"fixed":"5.00 USD"}}}]}"#,
    ));
    let a = w.enroll("ann").to_string();
    let b = w.enroll("bob").to_string();
    for code in [&a, &b, &a, &b, &a, &b] {
        sign_up_with(&w, "cy", code).unwrap();
    }
    let total = available(&w, "ann") + available(&w, "bob") + available(&w, "cy");
    assert_eq!(total, dec("10.00"), "one referral's sign-up rewards, once");
    assert_eq!(available(&w, "cy"), dec("5.00"));
}

#[test]
fn h2_max_rewarded_referrals_counts_rewards_paid_at_sign_up() {
    let w = World::new(program(
        r#"{"id":"p","name":"P","currency":"USD","limits":{"max_rewarded_referrals":2},
        "policies":[{"type":"one_sided","name":"b","on":"sign_up","reward":{"fixed":"5.00 USD"}}]}"#,
    ));
    let code = w.enroll("ann").to_string();
    let mut withheld = 0;
    for i in 0..10 {
        let out = sign_up_with(&w, &format!("r{i}"), &code).unwrap();
        withheld += out.notices.iter().filter(|n| matches!(n, Notice::RewardWithheld { .. })).count();
    }
    assert_eq!(available(&w, "ann"), dec("10.00"));
    assert_eq!(withheld, 8);
}

#[test]
fn h3_program_durations_are_bounded_and_dates_past_the_calendar_are_refused() {
    let base = |extra: &str| {
        format!(
            r#"{{"id":"p","name":"P","currency":"USD",{extra}
            "policies":[{{"type":"one_sided","name":"b","on":"sign_up","reward":{{"fixed":"5.00 USD"}}}}]}}"#
        )
    };
    for extra in [
        r#""hold_days": 100000000,"#,
        r#""hold_days": 3000000,"#,
        r#""qualification_window_days": 100000000,"#,
        r#""limits": {"velocity": {"max": 5, "window_hours": 4000000000}},"#,
        r#""attribution": {"window_days": 4000000000},"#,
    ] {
        assert!(spec(&base(extra)).is_err(), "{extra} must be refused by build");
    }
    // A clock near the end of the calendar: the hold's end cannot be stored.
    let w = World::new(program(&base(r#""hold_days": 36500,"#)));
    let code = w.enroll("ann").to_string();
    w.clock.set(Utc.with_ymd_and_hms(9950, 1, 1, 0, 0, 0).unwrap());
    let before = w.engine.store().dump();
    assert!(sign_up_with(&w, "bob", &code).is_err());
    assert_eq!(w.engine.store().dump(), before, "a refused event writes nothing");
}

#[test]
fn h4_a_large_partial_refund_does_not_overflow_and_huge_amounts_are_refused() {
    let w = World::new(program(
        r#"{"id":"p","name":"P","currency":"USD","qualification":"sign_up",
        "policies":[{"type":"revenue_share","name":"rs","percent":"100"}]}"#,
    ));
    let code = w.enroll("ann").to_string();
    sign_up_with(&w, "bob", &code).unwrap();
    w.purchase("bob", "o1", "400000000000000.00 USD").unwrap();
    w.refund("o1", "300000000000000.00 USD").unwrap();
    assert_eq!(available(&w, "ann"), dec("100000000000000.00"));
    let before = w.engine.store().dump();
    let huge = w.purchase("bob", "o2", "50000000000000000000000000000 USD");
    assert!(matches!(huge, Err(Error::Refused(Refusal::Value(_)))), "{huge:?}");
    assert_eq!(w.engine.store().dump(), before);
    w.engine.read(&w.program).totals().unwrap();
    let day = w.clock.now_for_tests().date_naive();
    w.engine.read(&w.program).report(day, day).unwrap();
}

/// A last-touch program that pays on qualification (a first purchase within
/// 30 days), with two enrolled referrers: ann's code and bob's.
fn last_touch_with_two_referrers() -> (World, String, String) {
    let w = World::new(program(
        r#"{"id":"p","name":"P","currency":"USD","attribution":{"model":"last_touch"},
        "qualification":{"first_purchase":{}},"qualification_window_days":30,
        "policies":[{"type":"one_sided","name":"b","on":"qualified","reward":{"fixed":"7.00 USD"}}]}"#,
    ));
    let a = w.enroll("ann").to_string();
    let b = w.enroll("bob").to_string();
    (w, a, b)
}

#[test]
fn m1_a_superseded_referrals_expiry_does_not_expire_the_new_one() {
    let (w, a, b) = last_touch_with_two_referrers();
    sign_up_with(&w, "cy", &a).unwrap();
    w.advance(20);
    sign_up_with(&w, "cy", &b).unwrap();
    w.advance(11);
    w.tick();
    w.advance(4);
    w.purchase("cy", "o1", "20.00 USD").unwrap();
    assert_eq!(available(&w, "bob"), dec("7.00"));
}

fn flagged_world() -> World {
    let spec = r#"{"id":"p","name":"P","currency":"USD","attribution":{"model":"last_touch"},
        "qualification":{"first_purchase":{}},
        "policies":[{"type":"one_sided","name":"b","on":"sign_up","reward":{"fixed":"5.00 USD"}}]}"#;
    let clock = ManualClock::new(t0());
    let engine = Engine::new(MemoryStore::new())
        .with_clock(clock.clone())
        .with_random(SeededRandom::new(7))
        .with_signal_key(SignalKey::new(*b"findings-signal-key-0").unwrap())
        .with_program(program(spec));
    World::from_parts(engine, clock, "p".parse().unwrap())
}

fn enroll_with_ip(w: &World, who: &str, ip: &str) -> String {
    let out = w.ok(Enroll::new(pid(who)).with_signals(vec![Signal::ip(ip)]).into());
    out.codes[0].to_string()
}

fn sign_up_with_ip(w: &World, referee: &str, code: &str, ip: Option<&str>) {
    w.ok(SignUp::new(pid(referee), code).with_signals(ip.map(Signal::ip)).into());
}

#[test]
fn m2_a_review_acts_on_the_referral_it_was_opened_for() {
    let w = flagged_world();
    let a = enroll_with_ip(&w, "ann", "10.0.0.1");
    let b = w.enroll("bob").to_string();
    sign_up_with_ip(&w, "cy", &a, Some("10.0.0.1"));
    assert_eq!(pending(&w, "ann"), dec("5.00"), "held in review");
    sign_up_with_ip(&w, "cy", &b, None);
    // The held reward of the superseded referral is not stuck in review.
    assert_eq!(pending(&w, "ann"), dec("0"));
    // A rejection no longer reaches bob's clean referral.
    assert!(w.send(Reject::new(pid("cy"), "x").into()).is_err());
    let r = w.engine.read(&w.program).referral(&pid("cy")).unwrap().unwrap();
    assert_eq!(r.referrer, pid("bob"));
    assert!(!matches!(r.status, referral_engine::domain::referral::ReferralStatus::Rejected(_)), "{:?}", r.status);
}

#[test]
fn m2_a_second_flagged_attribution_does_not_strand_the_first_ones_held_rewards() {
    let w = flagged_world();
    let a = enroll_with_ip(&w, "ann", "10.0.0.1");
    let b = w.enroll("bob").to_string();
    sign_up_with_ip(&w, "cy", &a, Some("10.0.0.1"));
    sign_up_with_ip(&w, "cy", &b, Some("10.0.0.1"));
    assert_eq!(pending(&w, "ann"), dec("0"), "ann's held 5.00 must not stay pending for ever");
    w.ok(Approve::new(pid("cy")).into());
    assert_eq!(available(&w, "bob"), dec("5.00"));
}

#[cfg(feature = "sqlite")]
#[test]
fn m3_text_that_looks_like_a_number_stays_text_and_a_retry_replays() {
    use referral_engine::store::sqlite::SqliteStore;
    let store = SqliteStore::open_in_memory().unwrap();
    store.migrate().unwrap();
    let w = World::with_store(store, program(BOUNTY));
    let mut attributes = referral_engine::domain::participant::Attributes::new();
    attributes.insert("zip".into(), Attribute::Text("02139".into()));
    let enroll = Event::new("e1", "p", Enroll::new(pid("ann")).with_attributes(attributes)).unwrap();
    let first = flat(w.engine.handle(&enroll)).unwrap();
    assert_eq!(flat(w.engine.handle(&enroll)).unwrap(), first, "a retry replays the first outcome");
    let ann = w.engine.read(&w.program).participant(&pid("ann")).unwrap().unwrap();
    assert_eq!(ann.attributes.get("zip"), Some(&Attribute::Text("02139".into())));
}

/// A store that fails the first commit with a transient error.
struct FlakyOnce {
    inner: MemoryStore,
    failed: AtomicBool,
}

impl Store for FlakyOnce {
    fn get(&self, key: &Key) -> Result<Option<Versioned>, StoreError> {
        self.inner.get(key)
    }
    fn scan(&self, range: &KeyRange, limit: usize) -> Result<Vec<(Key, Versioned)>, StoreError> {
        self.inner.scan(range, limit)
    }
    fn stored_event(&self, key: &referral_engine::domain::id::EventKey) -> Result<Option<StoredEvent>, StoreError> {
        self.inner.stored_event(key)
    }
    fn forget_outcomes(&self, before: chrono::DateTime<chrono::Utc>, limit: usize) -> Result<usize, StoreError> {
        self.inner.forget_outcomes(before, limit)
    }
    fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        if !self.failed.swap(true, Ordering::SeqCst) {
            return Err(StoreError::Transient("deadlock detected".into()));
        }
        self.inner.commit(commit)
    }
}

#[test]
fn m4_a_transient_store_error_is_retried() {
    let store = FlakyOnce { inner: MemoryStore::new(), failed: AtomicBool::new(false) };
    let w = World::with_store(store, program(BOUNTY));
    w.enroll("ann");
}

#[test]
fn m6_a_suspended_participant_is_neither_paid_nor_redeems() {
    let w = World::new(program(
        r#"{"id":"p","name":"P","currency":"USD",
        "policies":[{"type":"one_sided","name":"b","on":"sign_up","reward":{"fixed":"5.00 USD"}},
                    {"type":"one_sided","name":"pts","on":"sign_up","reward":{"fixed":"10 points"}}],
        "catalog":[{"id":"mug","price":"10 points"}]}"#,
    ));
    let code = w.enroll("ann").to_string();
    sign_up_with(&w, "bob", &code).unwrap();
    w.ok(Suspend::new(pid("ann")).into());
    let out = w.ok(Payout::new("p1".parse().unwrap(), asset(USD)).into());
    assert!(!out.notices.iter().any(|n| matches!(n, Notice::PaidOut { .. })), "{:?}", out.notices);
    assert_eq!(available(&w, "ann"), dec("5.00"));
    assert!(w.send(Redeem::new(pid("ann"), "mug").into()).is_err());
}

#[test]
fn m7_first_purchase_rules_pay_on_the_qualifying_purchase_after_a_small_one() {
    let w = World::new(program(
        r#"{"id":"p","name":"P","currency":"USD","qualification":{"first_purchase":{"minimum":"50"}},
        "policies":[{"type":"one_sided","name":"b","on":"first_purchase","reward":{"fixed":"10.00 USD"}}]}"#,
    ));
    let code = w.enroll("ann").to_string();
    sign_up_with(&w, "bob", &code).unwrap();
    w.purchase("bob", "o1", "20.00 USD").unwrap();
    w.purchase("bob", "o2", "60.00 USD").unwrap();
    assert_eq!(available(&w, "ann"), dec("10.00"));
    w.purchase("bob", "o3", "60.00 USD").unwrap();
    assert_eq!(available(&w, "ann"), dec("10.00"), "only the first");
}

#[test]
fn m8_read_arguments_out_of_range_are_errors_not_panics() {
    let w = World::new(program(BOUNTY));
    w.enroll("ann");
    let (from, to) = (NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(), NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
    assert!(w.engine.read(&w.program).report(from, to).is_err());
    assert!(w.engine.read(&w.program).stale_referrals(Duration::MAX).and_then(|l| l.all()).is_ok());
    assert!(w.engine.read(&w.program).stale_referrals(Duration::days(1_000_000_000)).and_then(|l| l.all()).is_ok());
}

#[test]
fn m10_channel_names_are_checked_and_counters_stay_small() {
    let w = World::new(program(BOUNTY));
    let code = w.enroll("ann").to_string();
    let send = |who: &str, channel: &str| {
        w.send(
            SignUp::new(pid(who), code.clone())
                .via(referral_engine::domain::code::Channel::Other(channel.into()))
                .into(),
        )
    };
    assert!(send("x1", &"a".repeat(10_000)).is_err());
    assert!(send("x2", "link").is_err(), "would count apart from Link");
    for i in 0..1000 {
        send(&format!("u{i}"), &format!("c{i}")).unwrap();
    }
    // Each of the 16 counter shards names at most 32 channels (the rest
    // count under "other"), whatever names hosts send.
    let named = w.engine.read(&w.program).totals().unwrap().channels.len();
    assert!(named <= 16 * 32 + 1, "{named}");
}

#[test]
fn m11_a_signals_sign_up_history_stays_bounded() {
    let spec = r#"{"id":"p","name":"P","currency":"USD",
        "fraud":{"signal_velocity":[{"kind":"ip","max":3,"window_hours":720}]},
        "policies":[{"type":"one_sided","name":"b","on":"sign_up","reward":{"fixed":"5.00 USD"}}]}"#;
    let clock = ManualClock::new(t0());
    let engine = Engine::new(MemoryStore::new())
        .with_clock(clock.clone())
        .with_random(SeededRandom::new(7))
        .with_signal_key(SignalKey::new(*b"findings-signal-key-0").unwrap())
        .with_program(program(spec));
    let w = World::from_parts(engine, clock, "p".parse().unwrap());
    let code = w.enroll("ann").to_string();
    let size = || {
        let (records, _) = w.engine.store().dump();
        records
            .iter()
            .filter(|(k, _)| k.as_str().starts_with("g/"))
            .map(|(_, v)| format!("{:?}", v.record).len())
            .sum::<usize>()
    };
    // Its first 32 holders are listed; then only the sign-up times could grow.
    for i in 0..40 {
        sign_up_with_ip(&w, &format!("u{i}"), &code, Some("10.9.9.9"));
    }
    let full = size();
    for i in 40..200 {
        sign_up_with_ip(&w, &format!("u{i}"), &code, Some("10.9.9.9"));
    }
    assert_eq!(size(), full, "the record stopped growing");
}

#[cfg(feature = "sqlite")]
#[test]
fn m12_a_payout_pays_a_page_per_event_and_goes_on_where_it_stopped() {
    use referral_engine::engine::PAYOUT_PAGE;
    let w = World::new(program(BOUNTY));
    let referrers = PAYOUT_PAGE + 5;
    for i in 0..referrers {
        let code = w.enroll(&format!("a{i:05}"));
        sign_up_with(&w, &format!("z{i:05}"), &code.to_string()).unwrap();
    }
    let payout = || Payout::new("p1".parse().unwrap(), asset(USD)).into();
    let paid =
        |out: &referral_engine::Outcome| out.notices.iter().filter(|n| matches!(n, Notice::PaidOut { .. })).count();
    let goes_on =
        |out: &referral_engine::Outcome| out.notices.iter().any(|n| matches!(n, Notice::PayoutContinues { .. }));
    // 2,010 participants: the referrers ("a...") first, then their friends
    // ("z...", nothing to pay): three events, each reading at most a page.
    let mut pages = Vec::new();
    loop {
        let out = w.ok(payout());
        pages.push(paid(&out));
        if !goes_on(&out) {
            break;
        }
    }
    assert_eq!(pages, [PAYOUT_PAGE, 5, 0]);
    assert!(matches!(w.send(payout()), Err(Error::Refused(Refusal::DuplicatePayout(_)))));
    let read = w.engine.read(&w.program);
    let everyone = read.participants().all().unwrap();
    let usd = asset(USD);
    assert!(everyone.iter().all(|p| p.balance(&usd).available.is_zero()), "somebody was left unpaid");
    let total: rust_decimal::Decimal = everyone.iter().map(|p| p.balance(&usd).paid).sum();
    assert_eq!(total, dec("5.00") * rust_decimal::Decimal::from(referrers as u64));
}

#[cfg(feature = "sqlite")]
#[test]
fn m13_sqlite_is_durable_on_power_loss_by_default() {
    assert_eq!(
        referral_engine::store::sqlite::Synchronous::default(),
        referral_engine::store::sqlite::Synchronous::Full
    );
}

#[test]
fn l1_generated_codes_use_every_character_in_every_place() {
    let random = referral_engine::domain::code::OsRandom;
    let mut third = std::collections::BTreeSet::new();
    for _ in 0..400 {
        let code = referral_engine::domain::code::ReferralCode::generate(&random);
        third.insert(code.as_str().chars().nth(2).unwrap());
    }
    assert!(third.len() > 16, "third character took only {third:?}");
}

#[test]
fn l2_event_keys_are_per_store_as_documented_and_codes_are_per_program() {
    let p = |id: &str| {
        program(&format!(
            r#"{{"id":"{id}","name":"P","currency":"USD",
            "policies":[{{"type":"one_sided","name":"b","on":"sign_up","reward":{{"fixed":"5.00 USD"}}}}]}}"#
        ))
    };
    let engine =
        Engine::new(MemoryStore::new()).with_clock(ManualClock::new(t0())).with_program(p("a")).with_program(p("b"));
    let vanity = |program: &str, key: &str| {
        let kind: EventKind = Enroll::new(pid("ann")).with_vanity_code("SUMMER2026").into();
        flat(engine.handle(&Event::new(key, program, kind).unwrap()))
    };
    vanity("a", "a-1").unwrap();
    vanity("b", "b-1").expect("the same vanity code is free in another program");
    // Event keys are unique per store: a host prefixes them (see README).
    assert!(matches!(vanity("b", "a-1"), Err(Error::Refused(Refusal::KeyReused(_)))));
}

#[test]
fn l3_pre_hashed_signals_are_refused() {
    let w = flagged_world();
    let code = w.enroll("ann").to_string();
    let hashed: Signal =
        serde_json::from_str(r#"{"kind":"ip","value":{"hashed":"00112233445566778899aabbccddeeff"}}"#).unwrap();
    let out = w.send(SignUp::new(pid("bob"), code).with_signals(vec![hashed.clone()]).into());
    assert!(out.is_err());
    assert!(!format!("{hashed:?}").contains("0011"), "a hash is not printed");
}

#[test]
fn l4_money_finer_than_the_currency_is_refused() {
    let w = World::new(program(
        r#"{"id":"p","name":"P","currency":"USD","qualification":"sign_up",
        "policies":[{"type":"revenue_share","name":"rs","percent":"10"}]}"#,
    ));
    let code = w.enroll("ann").to_string();
    sign_up_with(&w, "bob", &code).unwrap();
    assert!(w.purchase("bob", "o1", "10.001 USD").is_err());
    let cap = r#"{"id":"p","name":"P","currency":"USD","limits":{"referrer_caps":["10.005 USD"]},
        "policies":[{"type":"one_sided","name":"b","on":"sign_up","reward":{"fixed":"5.00 USD"}}]}"#;
    assert!(spec(cap).is_err());
}

#[test]
fn l5_a_batch_equals_the_same_events_one_by_one_for_payouts() {
    let json = r#"{"id":"p","name":"P","currency":"USD",
        "policies":[{"type":"one_sided","name":"b","on":"invite_sent","reward":{"fixed":"1.00 USD"}}]}"#;
    let engine = Engine::new(MemoryStore::new()).with_clock(ManualClock::new(t0())).with_program(program(json));
    let events = vec![
        Event::new("e1", "p", Enroll::new(pid("ann"))).unwrap(),
        Event::new("e2", "p", InviteSent::new(pid("ann"))).unwrap(),
        Event::new("e3", "p", Payout::new("p1".parse().unwrap(), asset(USD))).unwrap(),
    ];
    let results = engine.handle_batch(&events).unwrap();
    assert!(results.iter().all(Result::is_ok));
    let b = engine.read(&"p".parse().unwrap()).balance(&pid("ann"), &asset(USD)).unwrap();
    assert_eq!((b.available, b.paid), (dec("0"), dec("1.00")));
}

#[test]
fn l6_a_reversed_referral_no_longer_counts_towards_tiers() {
    let w = World::new(program(
        r#"{"id":"p","name":"P","currency":"USD","qualification":{"first_purchase":{}},
        "policies":[{"type":"tiered","name":"t","on":"qualified","basis":"qualified_count",
        "tiers":[{"threshold":"0","reward":{"fixed":"1.00 USD"}},{"threshold":"2","reward":{"fixed":"9.00 USD"}}]}]}"#,
    ));
    let code = w.enroll("ann").to_string();
    sign_up_with(&w, "b1", &code).unwrap();
    w.purchase("b1", "o1", "10.00 USD").unwrap();
    w.refund("o1", "10.00 USD").unwrap();
    let ann = w.engine.read(&w.program).participant(&pid("ann")).unwrap().unwrap();
    assert_eq!(ann.stats.qualified, 0);
    sign_up_with(&w, "b2", &code).unwrap();
    w.purchase("b2", "o2", "10.00 USD").unwrap();
    assert_eq!(available(&w, "ann"), dec("1.00"), "the base tier, not the second");
}

#[test]
fn l7_a_bad_coupon_does_not_refuse_the_purchase() {
    let w = World::new(program(BOUNTY));
    let out =
        w.send(Purchase::new(pid("bob"), "o1".parse().unwrap(), value("10.00 USD")).with_coupon("NO-SUCH-CODE").into());
    assert!(out.is_ok(), "{out:?}");
    assert!(w.refund("o1", "10.00 USD").is_ok(), "the order was recorded");
}

#[test]
fn l8_split_never_panics_and_adds_up_for_unscaled_assets() {
    let v: Value = "10.5 points".parse().unwrap();
    let parts = v.split(&[dec("1"), dec("1")]).unwrap();
    let sum: rust_decimal::Decimal = parts.iter().map(Value::amount).sum();
    assert_eq!(sum, dec("10.5"));
    assert!(v.split(&[rust_decimal::Decimal::MAX, rust_decimal::Decimal::MAX]).is_err());
}

#[test]
fn l9_errors_do_not_echo_input_or_name_other_people() {
    let w = World::new(program(BOUNTY));
    let code = w.enroll("alice").to_string();
    sign_up_with(&w, "bob", &code).unwrap();
    let again = sign_up_with(&w, "bob", &code).unwrap_err().to_string();
    assert!(!again.contains("alice"), "{again}");
    let typed = sign_up_with(&w, "cy", "someone@example.com").unwrap_err().to_string();
    assert!(!typed.contains("example"), "{typed}");
    let id = ParticipantId::new("secret\u{7}value").unwrap_err().to_string();
    assert!(!id.contains("secret"), "{id}");
}

#[test]
fn l11_a_re_attribution_at_the_same_instant_commits() {
    let (w, a, b) = last_touch_with_two_referrers();
    sign_up_with(&w, "cy", &a).unwrap();
    sign_up_with(&w, "cy", &b).unwrap();
    sign_up_with(&w, "cy", &a).unwrap();
}

#[test]
fn l12_a_deleted_key_is_never_created_again() {
    let w = flagged_world();
    let a = enroll_with_ip(&w, "ann", "10.0.0.1");
    let b = enroll_with_ip(&w, "bob", "10.0.0.2");
    let queue = || -> Vec<String> {
        w.engine.read(&w.program).review_queue().all().unwrap().iter().map(|i| i.referral.to_string()).collect()
    };
    sign_up_with_ip(&w, "cy", &a, Some("10.0.0.1"));
    let first = queue();
    sign_up_with_ip(&w, "cy", &b, Some("10.0.0.2"));
    let second = queue();
    assert_eq!((first.len(), second.len()), (1, 1));
    assert_ne!(first, second, "the new attribution is reviewed, not the old one");
    let (records, _) = w.engine.store().dump();
    let review_keys: Vec<&Key> = records.iter().map(|(k, _)| k).filter(|k| k.as_str().starts_with("q/")).collect();
    assert_eq!(review_keys.len(), 1);
    // Keyed by the referral: the first item's key went with it and no later
    // item can ever take it (or its version numbers) again.
    assert!(review_keys[0].as_str().ends_with(&second[0]), "{} is not the new referral's key", review_keys[0]);
}

#[test]
fn l13_extreme_assumptions_and_a_repeating_random_source_are_errors() {
    use referral_engine::simulation::{Assumptions, simulate};
    let p = || program(BOUNTY);
    let mut a = Assumptions::default();
    (a.periods, a.starting_referrers) = (1, 1);
    a.invites_per_referrer = 1e300;
    assert!(simulate(p(), &a, t0()).is_err());
    let mut a = Assumptions::default();
    (a.periods, a.starting_referrers) = (1, 1);
    a.purchase_amount = rust_decimal::Decimal::MAX;
    assert!(simulate(p(), &a, t0()).is_err());

    #[derive(Debug)]
    struct Same;
    impl referral_engine::domain::code::RandomSource for Same {
        fn next_u64(&self) -> u64 {
            7
        }
    }
    let engine = Engine::new(MemoryStore::new()).with_clock(ManualClock::new(t0())).with_random(Same).with_program(p());
    flat(engine.handle(&Event::new("e1", "p", Enroll::new(pid("ann"))).unwrap())).unwrap();
    assert!(flat(engine.handle(&Event::new("e2", "p", Enroll::new(pid("bob"))).unwrap())).is_err());
}

#[cfg(feature = "sqlite")]
#[test]
fn l12_a_record_from_a_newer_version_is_refused_not_rewritten_without_its_fields() {
    use referral_engine::store::sqlite::SqliteStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("re.db");
    let store = SqliteStore::open(&path).unwrap();
    store.migrate().unwrap();
    let w = World::with_store(store, program(BOUNTY));
    let code = w.enroll("ann");
    // A newer binary wrote ann with a field this version does not know.
    let db = referral_engine::store::sqlite::rusqlite::Connection::open(&path).unwrap();
    let changed = db
        .execute(
            "UPDATE re_records SET body = json_set(body, '$.participant.added_later', 1)
             WHERE body LIKE '{\"participant\"%'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let before: String = db.query_row("SELECT group_concat(body, '|') FROM re_records", [], |r| r.get(0)).unwrap();
    assert!(matches!(
        w.engine.read(&w.program).participant(&pid("ann")),
        Err(Error::Store(StoreError::Corrupt { .. }))
    ));
    assert!(w.sign_up("bob", &code).is_err(), "ann would be rewritten without the field");
    let after: String = db.query_row("SELECT group_concat(body, '|') FROM re_records", [], |r| r.get(0)).unwrap();
    assert_eq!(before, after, "nothing was written");
}

#[test]
fn l12_a_misspelt_program_field_is_refused() {
    let typo = r#"{"id":"p","name":"P","currency":"USD","max_rewarded_referals":1,
        "policies":[{"type":"one_sided","name":"b","on":"sign_up","reward":{"fixed":"5.00 USD"}}]}"#;
    assert!(serde_json::from_str::<ProgramSpec>(typo).is_err());
}
