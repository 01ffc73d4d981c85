//! SQLite and PostgreSQL: the engine against a hand-written baseline that
//! writes, with prepared statements in one transaction, only the rows the same
//! event minimally needs. See BENCHMARKS.md.

use referral_engine::event::{Enroll, SignUp};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use referral_engine::domain::code::SeededRandom;
use referral_engine::store::Store;
use referral_engine::store::sqlite::{SqliteStore, Synchronous};
use referral_engine::{Engine, Event, EventKind, ManualClock, ParticipantId, ProgramSpec};

const PROGRAM: &str = r#"{
    "id": "bench", "name": "Bench", "currency": "USD",
    "policies": [{"type": "two_sided", "name": "bounty",
        "referrer": {"on": "qualified", "reward": {"fixed": "10.00 USD"}},
        "referee":  {"on": "qualified", "reward": {"fixed": "5.00 USD"}}}]
}"#;

/// How many referrers the sign-ups spread over (as in a live program, where
/// many referrers bring friends at once).
const REFERRERS: u64 = 100;

/// The referrer of sign-up `n` when sign-ups spread over `referrers`.
fn referrer_of(n: u64, referrers: u64) -> String {
    format!("referrer-{}", n % referrers)
}

/// An engine over `store` with [`REFERRERS`] referrers enrolled, each with the
/// vanity code of their name (upper case, as codes are typed).
fn engine_over<S: Store>(store: S) -> Engine<S> {
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
const BATCH: u64 = 100;

fn signup_event(run: &str, n: u64, referrers: u64) -> Event {
    let referee = ParticipantId::new(format!("{run}-{n}")).unwrap();
    let code = referrer_of(n, referrers).to_uppercase();
    Event::new(&format!("{run}-{n}"), "bench", SignUp::new(referee, code)).unwrap()
}

/// One qualifying sign-up (qualification on sign-up): referral, two rewards.
fn signup<S: Store>(engine: &Engine<S>, run: &str, n: u64, referrers: u64) {
    engine.handle(&signup_event(run, n, referrers)).unwrap().unwrap();
}

/// [`BATCH`] sign-ups, `n * BATCH` onwards, in one `handle_batch`.
fn signups<S: Store>(engine: &Engine<S>, run: &str, n: u64) {
    let events: Vec<Event> = (n * BATCH..(n + 1) * BATCH).map(|i| signup_event(run, i, REFERRERS)).collect();
    assert!(engine.handle_batch(&events).unwrap().iter().all(Result::is_ok));
}

const SQLITE_BASELINE_SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS b_events (key TEXT PRIMARY KEY) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS b_referrals (referee TEXT PRIMARY KEY, referrer TEXT NOT NULL, status TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS b_ledger (id INTEGER PRIMARY KEY, participant TEXT NOT NULL, amount TEXT NOT NULL);";

/// The sign-ups `ns` in one transaction.
fn sqlite_baseline(conn: &mut rusqlite::Connection, run: &str, ns: std::ops::Range<u64>) {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
    for n in ns {
        let (key, referrer) = (format!("{run}-{n}"), referrer_of(n, REFERRERS));
        tx.prepare_cached("INSERT INTO b_events (key) VALUES (?1)").unwrap().execute([&key]).unwrap();
        tx.prepare_cached("INSERT INTO b_referrals (referee, referrer, status) VALUES (?1, ?2, 'rewarded')")
            .unwrap()
            .execute([&key, &referrer])
            .unwrap();
        let mut ledger = tx.prepare_cached("INSERT INTO b_ledger (participant, amount) VALUES (?1, ?2)").unwrap();
        ledger.execute([referrer.as_str(), "10.00"]).unwrap();
        ledger.execute([key.as_str(), "5.00"]).unwrap();
    }
    tx.commit().unwrap();
}

/// A digest of an event's payload, as the same-facts baselines keep it.
fn digest(parts: &[&str]) -> Vec<u8> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in parts {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize()[..16].to_vec()
}

/// The same facts the engine promises for a qualifying sign-up, and no
/// more: the event key with a digest of its payload (its primary key refuses
/// a second use), the code's owner looked up, the referral (its primary key
/// refuses a referee referred before), one ledger entry per reward and the
/// two balances they move, one counter update and one outbox row. Amounts
/// in minor units (SQLite has no exact decimal type).
const SQLITE_SAME_FACTS_SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS f_events (key TEXT PRIMARY KEY, digest BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS f_codes (code TEXT PRIMARY KEY, owner TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS f_referrals (referee TEXT PRIMARY KEY, referrer TEXT NOT NULL, status TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS f_ledger (id INTEGER PRIMARY KEY, participant TEXT NOT NULL, amount_minor INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS f_balances (participant TEXT PRIMARY KEY, available_minor INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS f_counters (program TEXT PRIMARY KEY, sign_ups INTEGER NOT NULL, rewards INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS f_outbox (id INTEGER PRIMARY KEY, event TEXT NOT NULL, notice TEXT NOT NULL);
    INSERT OR IGNORE INTO f_counters VALUES ('bench', 0, 0);";

/// The same-facts codes: each referrer's vanity code.
fn same_facts_codes() -> Vec<(String, String)> {
    (0..REFERRERS).map(|i| (referrer_of(i, REFERRERS).to_uppercase(), referrer_of(i, REFERRERS))).collect()
}

/// The sign-ups `ns` in one transaction, recording the same facts as the engine.
fn sqlite_same_facts(conn: &mut rusqlite::Connection, run: &str, ns: std::ops::Range<u64>) {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
    for n in ns {
        let (key, code) = (format!("{run}-{n}"), referrer_of(n, REFERRERS).to_uppercase());
        tx.prepare_cached("INSERT INTO f_events (key, digest) VALUES (?1, ?2)")
            .unwrap()
            .execute(rusqlite::params![key, digest(&["sign_up", &key, &code])])
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

fn sqlite_same_facts_db(path: &std::path::Path, sync: &str) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", sync).unwrap();
    conn.execute_batch(SQLITE_SAME_FACTS_SCHEMA).unwrap();
    for (code, owner) in same_facts_codes() {
        conn.execute("INSERT OR IGNORE INTO f_codes VALUES (?1, ?2)", [code, owner]).unwrap();
    }
    conn
}

fn sqlite(c: &mut Criterion) {
    for sync in [Synchronous::Normal, Synchronous::Full] {
        let label = format!("{sync:?}").to_uppercase();
        let mut group = c.benchmark_group(format!("sqlite WAL synchronous={label}: one qualifying sign-up"));
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_with(dir.path().join("engine.db"), sync, 4).unwrap();
        store.migrate().unwrap();
        let engine = engine_over(store);
        let mut n = 0;
        group.bench_function("engine", |b| {
            b.iter(|| {
                n += 1;
                signup(&engine, "e", black_box(n), REFERRERS);
            })
        });
        let mut conn = rusqlite::Connection::open(dir.path().join("baseline.db")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", label.as_str()).unwrap();
        conn.execute_batch(SQLITE_BASELINE_SCHEMA).unwrap();
        let mut m = 0;
        group.bench_function("baseline (rusqlite, prepared, one tx)", |b| {
            b.iter(|| {
                m += 1;
                sqlite_baseline(&mut conn, "b", black_box(m)..m + 1);
            })
        });
        let mut facts = sqlite_same_facts_db(&dir.path().join("same-facts.db"), &label);
        let mut k = 0;
        group.bench_function("baseline (same facts, rusqlite, prepared, one tx)", |b| {
            b.iter(|| {
                k += 1;
                sqlite_same_facts(&mut facts, "f", black_box(k)..k + 1);
            })
        });
        group.finish();

        let mut group = c.benchmark_group(format!("sqlite WAL synchronous={label}: {BATCH} sign-ups per transaction"));
        group.throughput(criterion::Throughput::Elements(BATCH));
        let store = SqliteStore::open_with(dir.path().join("batch.db"), sync, 4).unwrap();
        store.migrate().unwrap();
        let engine = engine_over(store);
        let mut n = 0;
        group.bench_function("engine (handle_batch)", |b| {
            b.iter(|| {
                n += 1;
                signups(&engine, "e", black_box(n));
            })
        });
        let mut m = 0;
        group.bench_function("baseline (rusqlite, prepared, one tx)", |b| {
            b.iter(|| {
                m += 1;
                sqlite_baseline(&mut conn, "bb", black_box(m * BATCH)..(m + 1) * BATCH);
            })
        });
        let mut k = 0;
        group.bench_function("baseline (same facts, rusqlite, prepared, one tx)", |b| {
            b.iter(|| {
                k += 1;
                sqlite_same_facts(&mut facts, "fb", black_box(k * BATCH)..(k + 1) * BATCH);
            })
        });
        group.finish();
    }
}

fn postgres_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            eprintln!("notice: DATABASE_URL is not set; skipping the PostgreSQL benchmarks");
            None
        }
    }
}

const PG_BASELINE_SCHEMA: &str = "
    DROP TABLE IF EXISTS b_events, b_referrals, b_ledger;
    CREATE TABLE b_events (key TEXT PRIMARY KEY);
    CREATE TABLE b_referrals (referee TEXT PRIMARY KEY, referrer TEXT NOT NULL, status TEXT NOT NULL);
    CREATE TABLE b_ledger (id BIGSERIAL PRIMARY KEY, participant TEXT NOT NULL, amount NUMERIC NOT NULL);";

/// The sign-ups `ns`, spread over `referrers`, in one transaction.
fn pg_baseline(client: &mut postgres::Client, ns: std::ops::Range<u64>, referrers: u64) {
    let mut tx = client.transaction().unwrap();
    let ledger = tx.prepare("INSERT INTO b_ledger (participant, amount) VALUES ($1, $2::TEXT::NUMERIC)").unwrap();
    for n in ns {
        let (key, referrer) = (format!("k{n}"), referrer_of(n, referrers));
        tx.execute("INSERT INTO b_events (key) VALUES ($1)", &[&key]).unwrap();
        tx.execute(
            "INSERT INTO b_referrals (referee, referrer, status) VALUES ($1, $2, 'rewarded')",
            &[&key, &referrer],
        )
        .unwrap();
        tx.execute(&ledger, &[&referrer, &"10.00"]).unwrap();
        tx.execute(&ledger, &[&key, &"5.00"]).unwrap();
    }
    tx.commit().unwrap();
}

/// The same facts as [`SQLITE_SAME_FACTS_SCHEMA`], amounts as NUMERIC.
const PG_SAME_FACTS_SCHEMA: &str = "
    DROP TABLE IF EXISTS f_events, f_codes, f_referrals, f_ledger, f_balances, f_counters, f_outbox;
    CREATE TABLE f_events (key TEXT PRIMARY KEY, digest BYTEA NOT NULL);
    CREATE TABLE f_codes (code TEXT PRIMARY KEY, owner TEXT NOT NULL);
    CREATE TABLE f_referrals (referee TEXT PRIMARY KEY, referrer TEXT NOT NULL, status TEXT NOT NULL);
    CREATE TABLE f_ledger (id BIGSERIAL PRIMARY KEY, participant TEXT NOT NULL, amount NUMERIC NOT NULL);
    CREATE TABLE f_balances (participant TEXT PRIMARY KEY, available NUMERIC NOT NULL);
    CREATE TABLE f_counters (program TEXT PRIMARY KEY, sign_ups BIGINT NOT NULL, rewards BIGINT NOT NULL);
    CREATE TABLE f_outbox (id BIGSERIAL PRIMARY KEY, event TEXT NOT NULL, notice TEXT NOT NULL);
    INSERT INTO f_counters VALUES ('bench', 0, 0);";

fn pg_same_facts_db(url: &str) {
    let mut setup = postgres::Client::connect(url, postgres::NoTls).unwrap();
    setup.batch_execute(PG_SAME_FACTS_SCHEMA).unwrap();
    for (code, owner) in same_facts_codes() {
        setup.execute("INSERT INTO f_codes VALUES ($1, $2)", &[&code, &owner]).unwrap();
    }
}

/// The statements of [`pg_same_facts`], prepared once per connection.
struct PgSameFacts {
    client: postgres::Client,
    statements: Vec<postgres::Statement>,
}

impl PgSameFacts {
    fn connect(url: &str) -> Self {
        let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
        let statements = [
            "INSERT INTO f_events (key, digest) VALUES ($1, $2)",
            "SELECT owner FROM f_codes WHERE code = $1",
            "INSERT INTO f_referrals (referee, referrer, status) VALUES ($1, $2, 'rewarded')",
            "INSERT INTO f_ledger (participant, amount) VALUES ($1, $2::TEXT::NUMERIC)",
            "INSERT INTO f_balances VALUES ($1, $2::TEXT::NUMERIC)
             ON CONFLICT (participant) DO UPDATE SET available = f_balances.available + excluded.available",
            "UPDATE f_counters SET sign_ups = sign_ups + 1, rewards = rewards + 2 WHERE program = 'bench'",
            "INSERT INTO f_outbox (event, notice) VALUES ($1, 'rewards_granted')",
        ]
        .iter()
        .map(|sql| client.prepare(sql).unwrap())
        .collect();
        Self { client, statements }
    }

    /// The sign-ups `ns`, spread over `referrers`, in one transaction.
    fn signups(&mut self, run: &str, ns: std::ops::Range<u64>, referrers: u64) {
        let s = &self.statements;
        let mut tx = self.client.transaction().unwrap();
        for n in ns {
            let (key, code) = (format!("{run}-{n}"), referrer_of(n, referrers).to_uppercase());
            tx.execute(&s[0], &[&key, &digest(&["sign_up", &key, &code])]).unwrap();
            let referrer: String = tx.query_one(&s[1], &[&code]).unwrap().get(0);
            tx.execute(&s[2], &[&key, &referrer]).unwrap();
            for (who, amount) in [(referrer.as_str(), "10.00"), (key.as_str(), "5.00")] {
                tx.execute(&s[3], &[&who, &amount]).unwrap();
                tx.execute(&s[4], &[&who, &amount]).unwrap();
            }
            tx.execute(&s[5], &[]).unwrap();
            tx.execute(&s[6], &[&key]).unwrap();
        }
        tx.commit().unwrap();
    }
}

/// Events per second from `threads` threads for `for_how_long`.
fn throughput(threads: usize, for_how_long: Duration, work: impl Fn(u64) + Send + Sync + 'static) -> f64 {
    let work = Arc::new(work);
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (work, counter) = (Arc::clone(&work), Arc::clone(&counter));
            thread::spawn(move || {
                while start.elapsed() < for_how_long {
                    work(counter.fetch_add(1, Ordering::Relaxed));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    counter.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn postgres(_: &mut Criterion) {
    use referral_engine::store::postgres::PostgresStore;
    let Some(url) = postgres_url() else { return };
    // Sign-ups spread over REFERRERS referrers; and, the worst case, all
    // through one referrer, whose balance every sign-up changes.
    for (connections, referrers) in [(1usize, REFERRERS), (4, REFERRERS), (4, 1)] {
        let schema = format!("re_bench_{connections}_{referrers}");
        let store = PostgresStore::builder(&url).schema(&schema).pool_size(connections as u32).connect().unwrap();
        store.migrate().unwrap();
        store.clear().unwrap();
        let engine = Arc::new(engine_over(store));
        let e = Arc::clone(&engine);
        let engine_rate = throughput(connections, Duration::from_secs(5), move |n| signup(&e, "pg", n, referrers));

        let mut setup = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        setup.batch_execute(PG_BASELINE_SCHEMA).unwrap();
        let clients: Vec<_> = (0..connections)
            .map(|_| std::sync::Mutex::new(postgres::Client::connect(&url, postgres::NoTls).unwrap()))
            .collect();
        let clients = Arc::new(clients);
        let baseline_rate = throughput(connections, Duration::from_secs(5), move |n| {
            let i = (n as usize) % clients.len();
            let mut client = clients[i].lock().unwrap();
            pg_baseline(&mut client, n..n + 1, referrers);
        });
        pg_same_facts_db(&url);
        let facts: Vec<_> = (0..connections).map(|_| std::sync::Mutex::new(PgSameFacts::connect(&url))).collect();
        let facts = Arc::new(facts);
        let facts_rate = throughput(connections, Duration::from_secs(5), move |n| {
            let i = (n as usize) % facts.len();
            facts[i].lock().unwrap().signups("pg", n..n + 1, referrers);
        });
        println!(
            "postgres, {connections} connection(s), {referrers} referrer(s): engine {engine_rate:.0} events/s, baseline {baseline_rate:.0} events/s, ratio {:.2}; same-facts baseline {facts_rate:.0} events/s, ratio {:.2}",
            engine_rate / baseline_rate,
            engine_rate / facts_rate
        );
    }
    // Batched: BATCH sign-ups per transaction, one connection.
    let store = PostgresStore::builder(&url).schema("re_bench_batch").pool_size(1).connect().unwrap();
    store.migrate().unwrap();
    store.clear().unwrap();
    let engine = Arc::new(engine_over(store));
    let e = Arc::clone(&engine);
    let engine_rate = BATCH as f64 * throughput(1, Duration::from_secs(5), move |n| signups(&e, "pgb", n));
    let mut setup = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    setup.batch_execute(PG_BASELINE_SCHEMA).unwrap();
    let client = std::sync::Mutex::new(postgres::Client::connect(&url, postgres::NoTls).unwrap());
    let baseline_rate = BATCH as f64
        * throughput(1, Duration::from_secs(5), move |n| {
            pg_baseline(&mut client.lock().unwrap(), n * BATCH..(n + 1) * BATCH, REFERRERS);
        });
    pg_same_facts_db(&url);
    let facts = std::sync::Mutex::new(PgSameFacts::connect(&url));
    let facts_rate = BATCH as f64
        * throughput(1, Duration::from_secs(5), move |n| {
            facts.lock().unwrap().signups("pgb", n * BATCH..(n + 1) * BATCH, REFERRERS);
        });
    println!(
        "postgres, 1 connection, {BATCH} events per transaction: engine {engine_rate:.0} events/s, baseline {baseline_rate:.0} events/s, ratio {:.2}; same-facts baseline {facts_rate:.0} events/s, ratio {:.2}",
        engine_rate / baseline_rate,
        engine_rate / facts_rate
    );
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = sqlite, postgres }
criterion_main!(benches);
