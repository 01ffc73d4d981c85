//! Every record decodes to exactly what was encoded, on every store.
//!
//! A scenario that writes a record of every kind (participants, codes,
//! referrals kept and superseded, rewards, ledger entries, orders, program
//! state, payout batches, due items, counters, referrer days, the outbox, the signal index,
//! review items, the audit trail) runs on a `MemoryStore`, with generated
//! ids that look like numbers or keywords, generated currencies (ISO 4217
//! with 0 to 4 minor units, and currencies of one's own) and amounts up to
//! the largest taken. Every record and event it stored is then committed
//! as is to each SQL store and read back: it must equal what went in.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{flat, pid, t0};
use proptest::prelude::*;
use referral_engine::domain::code::SeededRandom;
use referral_engine::event::{Approve, Enroll, InviteSent, Payout, Purchase, Redeem, Refund, SignUp, StoredEvent};
use referral_engine::fraud::{Signal, SignalKey};
use referral_engine::store::{Key, KeyRange, Record, Store};
use referral_engine::{Engine, Event, EventKind, ManualClock, MemoryStore, ProgramSpec};

/// Ids that a careless encoding would turn into something else.
const TRICKY: &[&str] = &["1e3", "007", "-0", "1.50", "NaN", "true", "null", "0x1F", "zoë", "1_000", "+1"];

fn currencies() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("USD".to_owned()),
        Just("JPY".to_owned()),
        Just("KWD".to_owned()),
        Just("CLF".to_owned()),
        (0u8..=4).prop_map(|m| format!("PTS/{m}")),
        (0u8..=4).prop_map(|m| format!("XAU/{m}")),
    ]
}

fn minor_units(currency: &str) -> u32 {
    match currency {
        "JPY" => 0,
        "KWD" => 3,
        "CLF" => 4,
        "USD" => 2,
        own => own.rsplit('/').next().and_then(|m| m.parse().ok()).unwrap_or(2),
    }
}

#[derive(Debug, Clone)]
struct Case {
    currency: String,
    names: Vec<String>,
    /// An amount in minor units, and a refund's share of it (per cent).
    units: i64,
    refund: i64,
}

fn cases() -> impl Strategy<Value = Case> {
    (currencies(), proptest::sample::subsequence(TRICKY, 5), 1i64..=10_000_000_000_000, 1i64..100).prop_map(
        |(currency, names, units, refund)| Case {
            currency,
            names: names.into_iter().map(str::to_owned).collect(),
            units,
            refund,
        },
    )
}

/// Runs the scenario on a `MemoryStore`: every record it keeps, and every
/// event with its outcome.
fn scenario(case: &Case) -> (Vec<(Key, Arc<Record>)>, Vec<StoredEvent>) {
    let c = &case.currency;
    let scale = minor_units(c);
    let amount = |units: i64| format!("{} {c}", rust_decimal::Decimal::new(units, scale));
    let json = format!(
        r#"{{"id":"rt","name":"Round trip","currency":"{c}","hold_days":3,"attribution":{{"model":"last_touch"}},
        "qualification":{{"first_purchase":{{}}}},"qualification_window_days":30,
        "policies":[{{"type":"two_sided","name":"w","referrer":{{"on":"first_purchase","reward":{{"percent":"10"}}}},
            "referee":{{"on":"sign_up","reward":{{"fixed":"{}"}}}}}}],"catalog":[{{"id":"mug","price":"{}"}}]}}"#,
        amount(1),
        amount(1)
    );
    let spec: ProgramSpec = serde_json::from_str(&json).unwrap();
    let clock = ManualClock::new(t0());
    let engine = Engine::new(MemoryStore::new())
        .with_clock(clock.clone())
        .with_random(SeededRandom::new(3))
        .with_signal_key(SignalKey::new(*b"roundtrip-signal-key").unwrap())
        .with_program(spec.build().unwrap());
    let n = |i: usize| pid(&case.names[i]);
    let mut keys = Vec::new();
    let mut send = |kind: EventKind| {
        let key = format!("{}-{}", case.names[keys.len() % case.names.len()], keys.len());
        keys.push(key.clone());
        flat(engine.handle(&Event::new(&key, "rt", kind).unwrap())).unwrap()
    };
    let ip = |s: &str| vec![Signal::ip(s)];
    let code = send(Enroll::new(n(0)).with_signals(ip("10.0.0.1")).into()).codes[0].to_string();
    let other = send(Enroll::new(n(1)).into()).codes[0].to_string();
    send(InviteSent::new(n(0)).into());
    // Flagged (same IP as the referrer), then approved.
    send(SignUp::new(n(2), code.clone()).with_signals(ip("10.0.0.1")).into());
    send(Approve::new(n(2)).into());
    // Superseded by a later touch.
    send(SignUp::new(n(3), code.clone()).into());
    send(SignUp::new(n(3), other).into());
    // A flagged referral left in review.
    send(SignUp::new(n(4), code).with_signals(ip("10.0.0.1")).into());
    let money = |units| amount(units).parse().unwrap();
    let order = format!("{}-order", case.names[1]).parse::<referral_engine::domain::id::OrderId>().unwrap();
    send(Purchase::new(n(2), order.clone(), money(case.units)).into());
    send(Refund::new(order, money((case.units * case.refund / 100).max(1))).into());
    clock.advance(chrono::Duration::days(4));
    send(EventKind::Tick);
    send(Redeem::new(n(2), "mug").into());
    send(Payout::new(case.names[0].parse().unwrap(), c.parse().unwrap()).into());
    let all = KeyRange { start: Key::from_stored(String::new()), end: Key::from_stored("\u{10FFFF}".into()) };
    let records = engine.store().scan(&all, usize::MAX).unwrap();
    let events = keys
        .iter()
        .map(|k| engine.store().stored_event(&k.parse().unwrap()).unwrap().expect("a stored event"))
        .collect();
    (records.into_iter().map(|(k, v)| (k, v.record)).collect(), events)
}

/// The kind of a record, by its variant.
fn kind(record: &Record) -> &'static str {
    match record {
        Record::Participant(_) => "participant",
        Record::Code(_) => "code",
        Record::Referral(_) => "referral",
        Record::Reward(_) => "reward",
        Record::Entry(_) => "entry",
        Record::Program(_) => "program",
        Record::Order(_) => "order",
        Record::Due(_) => "due",
        Record::Counters(_) => "counters",
        Record::ReferrerDay(_) => "referrer_day",
        Record::Outbox(_) => "outbox",
        Record::Signal(_) => "signal",
        Record::Review(_) => "review",
        Record::Audit(_) => "audit",
        Record::Payout(_) => "payout",
        _ => "other",
    }
}

fn round_trip(store: &dyn Store, records: &[(Key, Arc<Record>)], events: &[StoredEvent]) {
    referral_engine::testkit::records_read_back_as_written(store, records, events);
}

/// PostgreSQL in a schema of this process's, emptied.
#[cfg(feature = "postgres")]
fn postgres(url: String) -> referral_engine::store::postgres::PostgresStore {
    let schema = format!("re_roundtrip_{}", std::process::id());
    let s = referral_engine::store::postgres::PostgresStore::builder(url).schema(&schema).pool_size(1);
    let s = s.connect().unwrap();
    s.migrate().unwrap();
    s.clear().unwrap();
    s
}

#[test]
fn the_scenario_writes_a_record_of_every_kind() {
    let case = Case {
        currency: "PTS/3".into(),
        names: TRICKY[..5].iter().map(|s| s.to_string()).collect(),
        units: 1000,
        refund: 50,
    };
    let (records, events) = scenario(&case);
    let kinds: BTreeSet<&str> = records.iter().map(|(_, r)| kind(r)).collect();
    let every = [
        "participant",
        "code",
        "referral",
        "reward",
        "entry",
        "program",
        "order",
        "due",
        "counters",
        "referrer_day",
        "outbox",
        "signal",
        "review",
        "audit",
        "payout",
    ];
    assert_eq!(kinds, every.into_iter().collect(), "a kind the scenario does not write");
    assert!(records.iter().any(|(k, _)| k.as_str().starts_with("x/")), "no superseded referral");
    assert_eq!(events.len(), 13);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_record_reads_back_as_written_in_memory_and_on_sqlite(case in cases()) {
        let (records, events) = scenario(&case);
        round_trip(&MemoryStore::new(), &records, &events);
        #[cfg(feature = "sqlite")]
        {
            let s = referral_engine::store::sqlite::SqliteStore::open_in_memory().unwrap();
            s.migrate().unwrap();
            round_trip(&s, &records, &events);
        }
    }

    #[cfg(feature = "postgres")]
    #[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
    #[test]
    fn every_record_reads_back_as_written_on_postgres(case in cases()) {
        let Some(url) = common::database_url() else { return Ok(()) };
        let (records, events) = scenario(&case);
        round_trip(&postgres(url.clone()), &records, &events);
        let mut c = referral_engine::store::postgres::postgres::Client::connect(&url, referral_engine::store::postgres::postgres::NoTls).unwrap();
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS re_roundtrip_{} CASCADE", std::process::id())).unwrap();
    }
}
