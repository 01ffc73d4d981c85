//! The SQL benches' program and drivers, and the SQLite same-facts baseline.

use referral_engine::domain::code::SeededRandom;
use referral_engine::event::{Enroll, SignUp};
use referral_engine::store::Store;
use referral_engine::{Engine, Event, EventKind, ManualClock, ParticipantId, ProgramSpec};

pub const PROGRAM: &str = r#"{
    "id": "bench", "name": "Bench", "currency": "USD",
    "policies": [{"type": "two_sided", "name": "bounty",
        "referrer": {"on": "qualified", "reward": {"fixed": "10.00 USD"}},
        "referee":  {"on": "qualified", "reward": {"fixed": "5.00 USD"}}}]
}"#;

/// How many referrers the sign-ups spread over (as in a live program, where
/// many referrers bring friends at once).
pub const REFERRERS: u64 = 100;

/// The referrer of sign-up `n` when sign-ups spread over `referrers`.
pub fn referrer_of(n: u64, referrers: u64) -> String {
    format!("referrer-{}", n % referrers)
}

/// An engine over `store` with [`REFERRERS`] referrers enrolled, each with the
/// vanity code of their name (upper case, as codes are typed).
pub fn engine_over<S: Store>(store: S) -> Engine<S> {
    let program = serde_json::from_str::<ProgramSpec>(PROGRAM).unwrap().build().unwrap();
    let engine = Engine::new(store)
        .with_clock(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()))
        .with_random(SeededRandom::new(1))
        .with_program(program);
    let enrolments: Vec<Event> = (0..REFERRERS)
        .map(|i| {
            let who = referrer_of(i, REFERRERS);
            let kind: EventKind = Enroll::new(who.parse().unwrap()).with_vanity_code(who.to_uppercase()).into();
            Event::new(&format!("enroll-{who}"), "bench", kind).unwrap()
        })
        .collect();
    assert!(engine.handle_batch(&enrolments).unwrap().iter().all(Result::is_ok));
    engine
}

/// Events per batch in the batched runs.
pub const BATCH: u64 = 100;

pub fn signup_event(run: &str, n: u64, referrers: u64) -> Event {
    let referee = ParticipantId::new(format!("{run}-{n}")).unwrap();
    let code = referrer_of(n, referrers).to_uppercase();
    Event::new(&format!("{run}-{n}"), "bench", SignUp::new(referee, code)).unwrap()
}

/// One qualifying sign-up (qualification on sign-up): referral, two rewards.
pub fn signup<S: Store>(engine: &Engine<S>, run: &str, n: u64, referrers: u64) {
    engine.handle(&signup_event(run, n, referrers)).unwrap().unwrap();
}

/// [`BATCH`] sign-ups, `n * BATCH` onwards, in one `handle_batch`.
pub fn signups<S: Store>(engine: &Engine<S>, run: &str, n: u64) {
    let events: Vec<Event> = (n * BATCH..(n + 1) * BATCH).map(|i| signup_event(run, i, REFERRERS)).collect();
    assert!(engine.handle_batch(&events).unwrap().iter().all(Result::is_ok));
}

/// The same facts the engine promises for a qualifying sign-up, and no
/// more: the event key with a digest of its payload (its primary key refuses
/// a second use), the code's owner looked up, the referral (its primary key
/// refuses a referee referred before), one ledger entry per reward and the
/// two balances they move, one counter update and one outbox row. Amounts
/// in minor units (SQLite has no exact decimal type).
pub const SQLITE_SAME_FACTS_SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS f_events (key TEXT PRIMARY KEY, digest BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS f_codes (code TEXT PRIMARY KEY, owner TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS f_referrals (referee TEXT PRIMARY KEY, referrer TEXT NOT NULL, status TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS f_ledger (id INTEGER PRIMARY KEY, participant TEXT NOT NULL, amount_minor INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS f_balances (participant TEXT PRIMARY KEY, available_minor INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS f_counters (program TEXT PRIMARY KEY, sign_ups INTEGER NOT NULL, rewards INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS f_outbox (id INTEGER PRIMARY KEY, event TEXT NOT NULL, notice TEXT NOT NULL);
    INSERT OR IGNORE INTO f_counters VALUES ('bench', 0, 0);";

/// The same-facts codes: each referrer's vanity code.
pub fn same_facts_codes() -> Vec<(String, String)> {
    (0..REFERRERS).map(|i| (referrer_of(i, REFERRERS).to_uppercase(), referrer_of(i, REFERRERS))).collect()
}

/// The sign-ups `ns` in one transaction, recording the same facts as the engine.
pub fn sqlite_same_facts(conn: &mut rusqlite::Connection, run: &str, ns: std::ops::Range<u64>) {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
    for n in ns {
        let (key, code) = (format!("{run}-{n}"), referrer_of(n, REFERRERS).to_uppercase());
        tx.prepare_cached("INSERT INTO f_events (key, digest) VALUES (?1, ?2)")
            .unwrap()
            .execute(rusqlite::params![key, &super::digest(&["sign_up", &key, &code])[..]])
            .unwrap();
        let referrer: String = tx
            .prepare_cached("SELECT owner FROM f_codes WHERE code = ?1")
            .unwrap()
            .query_row([&code], |r| r.get(0))
            .unwrap();
        tx.prepare_cached("INSERT INTO f_referrals (referee, referrer, status) VALUES (?1, ?2, 'rewarded')")
            .unwrap()
            .execute([&key, &referrer])
            .unwrap();
        let mut ledger = tx.prepare_cached("INSERT INTO f_ledger (participant, amount_minor) VALUES (?1, ?2)").unwrap();
        let mut balance = tx
            .prepare_cached(
                "INSERT INTO f_balances VALUES (?1, ?2)
                 ON CONFLICT (participant) DO UPDATE SET available_minor = available_minor + excluded.available_minor",
            )
            .unwrap();
        for (who, minor) in [(referrer.as_str(), 1000), (key.as_str(), 500)] {
            ledger.execute(rusqlite::params![who, minor]).unwrap();
            balance.execute(rusqlite::params![who, minor]).unwrap();
        }
        tx.prepare_cached(
            "UPDATE f_counters SET sign_ups = sign_ups + 1, rewards = rewards + 2 WHERE program = 'bench'",
        )
        .unwrap()
        .execute([])
        .unwrap();
        tx.prepare_cached("INSERT INTO f_outbox (event, notice) VALUES (?1, 'rewards_granted')")
            .unwrap()
            .execute([&key])
            .unwrap();
    }
    tx.commit().unwrap();
}

pub fn sqlite_same_facts_db(path: &std::path::Path, sync: &str) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", sync).unwrap();
    conn.execute_batch(SQLITE_SAME_FACTS_SCHEMA).unwrap();
    for (code, owner) in same_facts_codes() {
        conn.execute("INSERT OR IGNORE INTO f_codes VALUES (?1, ?2)", [code, owner]).unwrap();
    }
    conn
}
