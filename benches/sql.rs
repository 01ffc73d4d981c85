//! SQLite and PostgreSQL: the engine against a hand-written baseline that
//! writes, with prepared statements in one transaction, only the rows the same
//! event minimally needs. See BENCHMARKS.md.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use common::sqlite::*;
use referral_engine::store::sqlite::{SqliteStore, Synchronous};

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
            tx.execute(&s[0], &[&key, &&common::digest(&["sign_up", &key, &code])[..]]).unwrap();
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

/// `connections` baseline connections, each behind its own lock.
fn pg_clients(url: &str, connections: usize) -> Arc<Vec<std::sync::Mutex<postgres::Client>>> {
    Arc::new(
        (0..connections)
            .map(|_| std::sync::Mutex::new(postgres::Client::connect(url, postgres::NoTls).unwrap()))
            .collect(),
    )
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
        let clients = pg_clients(&url, connections);
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
    // Batched: BATCH sign-ups per transaction, on 1 and on 4 connections.
    for connections in [1usize, 4] {
        let store = PostgresStore::builder(&url)
            .schema(format!("re_bench_batch_{connections}"))
            .pool_size(connections as u32)
            .connect()
            .unwrap();
        store.migrate().unwrap();
        store.clear().unwrap();
        let engine = Arc::new(engine_over(store));
        let e = Arc::clone(&engine);
        let run = format!("pgb{connections}");
        let engine_rate = BATCH as f64 * throughput(connections, Duration::from_secs(5), move |n| signups(&e, &run, n));
        let mut setup = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        setup.batch_execute(PG_BASELINE_SCHEMA).unwrap();
        let clients = pg_clients(&url, connections);
        let baseline_rate = BATCH as f64
            * throughput(connections, Duration::from_secs(5), move |n| {
                let i = (n as usize) % clients.len();
                pg_baseline(&mut clients[i].lock().unwrap(), n * BATCH..(n + 1) * BATCH, REFERRERS);
            });
        pg_same_facts_db(&url);
        let facts: Vec<_> = (0..connections).map(|_| std::sync::Mutex::new(PgSameFacts::connect(&url))).collect();
        let facts = Arc::new(facts);
        let run = format!("pgb{connections}");
        let facts_rate = BATCH as f64
            * throughput(connections, Duration::from_secs(5), move |n| {
                let i = (n as usize) % facts.len();
                facts[i].lock().unwrap().signups(&run, n * BATCH..(n + 1) * BATCH, REFERRERS);
            });
        println!(
            "postgres, {connections} connection(s), {BATCH} events per transaction: engine {engine_rate:.0} events/s, baseline {baseline_rate:.0} events/s, ratio {:.2}; same-facts baseline {facts_rate:.0} events/s, ratio {:.2}",
            engine_rate / baseline_rate,
            engine_rate / facts_rate
        );
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = sqlite, postgres }
criterion_main!(benches);
