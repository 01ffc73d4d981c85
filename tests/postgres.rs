//! What only the PostgreSQL store has: its schema, the URL's options, the
//! commit function's own search path, and TLS (feature `postgres-tls`)
//! against the local server with `sslmode=require`.

mod common;

use common::{DropSchema, database_url};
use referral_engine::event::Enroll;
use referral_engine::store::Store;
use referral_engine::store::postgres::PostgresStore;

fn with_params(url: &str, params: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{params}")
}

/// A migrated store in a fresh schema named `name` plus a unique tail, and
/// the guard that drops the schema.
fn store_in(url: &str, name: &str) -> (PostgresStore, DropSchema) {
    let schema = format!("{name}_{}", std::process::id());
    let guard = DropSchema { url: url.to_owned(), schema: schema.clone() };
    let store = PostgresStore::builder(url).schema(&schema).pool_size(2).connect().unwrap();
    store.migrate().unwrap();
    (store, guard)
}

const BOUNTY: &str = r#"{"id":"p","name":"P","currency":"USD",
    "policies":[{"type":"one_sided","name":"b","on":"sign_up","reward":{"fixed":"5.00 USD"}}]}"#;

fn world(store: PostgresStore) -> common::World<PostgresStore> {
    common::World::with_store(store, common::program(BOUNTY))
}

fn enroll_ann() -> referral_engine::EventKind {
    Enroll::new(common::pid("ann")).into()
}

#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[test]
fn a_schema_is_a_quoted_identifier() {
    let Some(url) = database_url() else { return };
    for name in ["1x", "select", "Mixed Case"] {
        let (store, _drop) = store_in(&url, name);
        let w = world(store);
        let code = w.enroll("ann");
        w.sign_up("bob", &code).unwrap();
        let usd = common::asset("USD");
        assert_eq!(
            w.engine.read(&w.program).balance(&common::pid("ann"), &usd).unwrap().available,
            common::dec("5.00")
        );
    }
}

#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[test]
fn the_urls_own_options_are_kept_beside_the_schema() {
    let Some(url) = database_url() else { return };
    let (_store, drop) = store_in(&url, "re_options");
    let read_only = with_params(&url, "options=-c%20default_transaction_read_only%3Don");
    let store = PostgresStore::builder(read_only).schema(&drop.schema).pool_size(1).connect().unwrap();
    let refused = world(store).send(enroll_ann());
    assert!(refused.is_err(), "the URL's default_transaction_read_only was dropped");
}

#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[test]
fn the_commit_function_writes_to_its_own_schema_whatever_the_callers_search_path() {
    let Some(url) = database_url() else { return };
    let (_a, a) = store_in(&url, "re_home");
    let (_b, b) = store_in(&url, "re_elsewhere");
    let mut client = referral_engine::store::postgres::postgres::Client::connect(
        &url,
        referral_engine::store::postgres::postgres::NoTls,
    )
    .unwrap();
    client
        .batch_execute(&format!(
            "SET search_path TO \"{}\";
             SELECT \"{}\".re_commit(ARRAY['ev'], ARRAY['\\x00'::bytea], ARRAY[now()], ARRAY['{{}}'], ARRAY['k'], ARRAY[0::int8],
                 ARRAY['k'], ARRAY['{{}}'], '{{}}', '{{}}', '{{}}', '{{}}');",
            b.schema, a.schema
        ))
        .unwrap();
    let mut count = |schema: &str| -> i64 {
        client.query_one(&format!("SELECT count(*) FROM \"{schema}\".re_records"), &[]).unwrap().get(0)
    };
    assert_eq!((count(&a.schema), count(&b.schema)), (1, 0));
}

#[cfg(feature = "postgres-tls")]
mod tls {
    use super::*;
    use referral_engine::store::Key;
    use referral_engine::store::postgres::rustls;

    const SERVER_CERTIFICATE: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

    /// `DATABASE_URL` with its host as `localhost` (the name the certificate
    /// holds) and `params` appended, or `None` with a notice (a failure in CI).
    fn url_for_localhost(params: &str) -> Option<String> {
        let skip = |why: &str| {
            assert!(std::env::var_os("CI").is_none(), "CI is set but {why}");
            eprintln!("notice: {why}; skipping a TLS test");
            None
        };
        let Ok(url) = std::env::var("DATABASE_URL") else { return skip("DATABASE_URL is not set") };
        if !std::path::Path::new(SERVER_CERTIFICATE).exists() {
            return skip("the server's certificate is not at its Debian path");
        }
        let url = url.replacen("@127.0.0.1", "@localhost", 1);
        if !url.contains("@localhost") {
            return skip("DATABASE_URL is not a local server");
        }
        let separator = if url.contains('?') { '&' } else { '?' };
        Some(format!("{url}{separator}{params}"))
    }

    fn config(roots: rustls::RootCertStore) -> rustls::ClientConfig {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth()
    }

    fn server_roots() -> rustls::RootCertStore {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(SERVER_CERTIFICATE).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        roots
    }

    fn fresh_schema(name: &str) -> String {
        format!("re_tls_{name}_{}", std::process::id())
    }

    #[test]
    fn a_store_with_tls_talks_to_the_server_encrypted() {
        let app = format!("re-tls-{}", std::process::id());
        let Some(url) = url_for_localhost(&format!("sslmode=require&application_name={app}")) else { return };
        let schema = fresh_schema("on");
        let _drop = DropSchema { url: std::env::var("DATABASE_URL").unwrap(), schema: schema.clone() };
        let store =
            PostgresStore::builder(&url).schema(&schema).pool_size(2).tls(config(server_roots())).connect().unwrap();
        store.migrate().unwrap();
        assert!(store.get(&Key::from_stored("nothing".into())).unwrap().is_none());

        let mut admin = referral_engine::store::postgres::postgres::Client::connect(
            &std::env::var("DATABASE_URL").unwrap(),
            referral_engine::store::postgres::postgres::NoTls,
        )
        .unwrap();
        let rows = admin
            .query(
                "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
                &[&app],
            )
            .unwrap();
        assert!(!rows.is_empty(), "the store's connections are not to be seen");
        assert!(rows.iter().all(|r| r.get::<_, bool>(0)), "a connection of the store is not encrypted");
    }

    #[test]
    fn a_server_the_roots_do_not_vouch_for_is_refused() {
        let Some(url) = url_for_localhost("sslmode=require") else { return };
        let refused = PostgresStore::builder(&url)
            .schema(fresh_schema("untrusted"))
            .tls(config(rustls::RootCertStore::empty()))
            .connect();
        assert!(refused.is_err(), "a certificate no root vouches for was accepted");
    }

    #[test]
    fn without_tls_sslmode_require_fails_rather_than_fall_back_to_plain_text() {
        let Some(url) = url_for_localhost("sslmode=require") else { return };
        let refused = PostgresStore::builder(&url).schema(fresh_schema("plain")).connect();
        assert!(refused.is_err(), "sslmode=require connected without TLS");
    }
}

/// A program whose sign-up rewards are held for a day: each one a due item.
const HELD: &str = r#"{"id":"p","name":"P","currency":"USD","hold_days":1,
    "policies":[{"type":"one_sided","name":"b","on":"sign_up","reward":{"fixed":"1.00 USD"}}]}"#;

/// With the server's default lock table (`max_locks_per_transaction` 64), an
/// import of 10,000 events through `handle_batch` (in batches at its limit)
/// and a Tick over 10,000 due items (over as many ticks as its pages need)
/// both complete. Before row locks, one commit took an advisory lock per key
/// and failed past about 6,000 keys with "out of shared memory", for ever.
#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[test]
fn ten_thousand_events_and_ten_thousand_due_items_fit_the_default_lock_table() {
    use referral_engine::engine::{MAX_BATCH, TICK_BATCH};
    use referral_engine::event::SignUp;
    use referral_engine::{EventKind, Notice};
    let Some(url) = database_url() else { return };
    let (store, _drop) = store_in(&url, "re_bounded");
    let w = common::World::with_store(store, common::program(HELD));
    let code = w.enroll("ann");
    let events: Vec<_> =
        (0..10_000).map(|i| w.event(SignUp::new(common::pid(&format!("f{i}")), code.to_string()).into())).collect();

    let too_many: Vec<_> = events.iter().take(MAX_BATCH + 1).cloned().collect();
    let refused = w.engine.handle_batch(&too_many).unwrap_err();
    assert_eq!(refused.code(), "batch_too_large");
    assert_eq!(w.buckets("ann", "USD").0, common::dec("0"), "a refused batch wrote something");

    for batch in events.chunks(MAX_BATCH) {
        let results = w.engine.handle_batch(batch).unwrap();
        assert!(results.iter().all(Result::is_ok));
    }
    assert_eq!(w.buckets("ann", "USD").0, common::dec("10000.00"));

    w.advance(2);
    let mut ticks = 0;
    loop {
        ticks += 1;
        let out = w.ok(EventKind::Tick);
        if !out.notices.iter().any(|n| matches!(n, Notice::TickContinues)) {
            break;
        }
        assert!(ticks <= 10_000 / TICK_BATCH, "a tick that says it continues with nothing left");
    }
    assert_eq!(ticks, 10_000 / TICK_BATCH);
    assert_eq!(w.buckets("ann", "USD"), (common::dec("0"), common::dec("10000.00"), common::dec("0")));
}

/// Terminates the server side of every connection named `name` now, and
/// waits until those are gone (the pool may open new ones meanwhile).
fn terminate(admin: &mut referral_engine::store::postgres::postgres::Client, name: &str) {
    let pids: Vec<i32> = admin
        .query("SELECT pid FROM pg_stat_activity WHERE application_name = $1", &[&name])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!pids.is_empty(), "no connection named {name}");
    for pid in &pids {
        admin.execute("SELECT pg_terminate_backend($1)", &[pid]).unwrap();
    }
    let alive = "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)";
    for _ in 0..500 {
        if admin.query_one(alive, &[&pids]).unwrap().get::<_, i64>(0) == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the server kept the connections of {name}");
}

/// A pooled connection the server closed (an idle timeout, a proxy, a
/// failover) is a transient failure: nothing was applied, and the same call
/// succeeds on another connection. The engine retries it itself, so an
/// event meets it only when it persists, and then as retryable. Before,
/// the store answered `Backend` (`store_failed`, not retryable) and the
/// event failed though a retry would have succeeded.
#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[test]
fn a_dropped_connection_is_transient_and_the_engine_retries_it() {
    let Some(url) = database_url() else { return };
    let (_store, drop) = store_in(&url, "re_dropped");
    let name = format!("re_dropped_{}", std::process::id());
    let store = PostgresStore::builder(with_params(&url, &format!("application_name={name}")))
        .schema(&drop.schema)
        .pool_size(1)
        .connect()
        .unwrap();
    let w = world(store.clone());
    w.enroll("ann");
    let mut admin = referral_engine::store::postgres::postgres::Client::connect(
        &url,
        referral_engine::store::postgres::postgres::NoTls,
    )
    .unwrap();

    terminate(&mut admin, &name);
    let read = store.get(&referral_engine::store::Key::from_stored("p/p/ann".into()));
    assert!(matches!(read, Err(referral_engine::store::StoreError::Transient(_))), "{read:?}");
    let error = referral_engine::Error::from(read.unwrap_err());
    assert!(error.is_retryable(), "{error} ({}) is not retryable", error.code());

    // A live pooled connection again (the pool replaced the broken one),
    // then the server drops it under the engine.
    w.enroll("cy");
    terminate(&mut admin, &name);
    let bob = w.event(Enroll::new(common::pid("bob")).into());
    assert!(common::flat(w.engine.handle(&bob)).is_ok(), "the engine did not absorb one dropped connection");
}

/// A format-3 PostgreSQL store (schema 4: its tables as migration 4 left
/// them, its rows those of the SQLite fixture `format3-3214d83.sqlite`)
/// migrates to format 4: the events move to key, digest, time and outcome,
/// so a replay returns the first outcome, another payload is refused, and
/// past the window the outcome is forgotten while the key stays.
#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[test]
fn a_format_3_store_migrates_its_events_on_postgres() {
    use referral_engine::EventKind;
    use referral_engine::event::SignUp;
    let Some(url) = database_url() else { return };
    let schema = format!("re_format3_{}", std::process::id());
    let _drop = DropSchema { url: url.clone(), schema: schema.clone() };
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format3-3214d83.sqlite");
    let sqlite = referral_engine::store::sqlite::rusqlite::Connection::open_with_flags(
        fixture,
        referral_engine::store::sqlite::rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let rows = |sql: &str, n: usize| -> Vec<Vec<String>> {
        let mut stmt = sqlite.prepare(sql).unwrap();
        stmt.query_map([], |r| {
            (0..n)
                .map(|i| r.get::<_, referral_engine::store::sqlite::rusqlite::types::Value>(i))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap()
        .map(|row| {
            row.unwrap()
                .into_iter()
                .map(|v| match v {
                    referral_engine::store::sqlite::rusqlite::types::Value::Integer(i) => i.to_string(),
                    referral_engine::store::sqlite::rusqlite::types::Value::Text(t) => t,
                    other => panic!("{other:?}"),
                })
                .collect()
        })
        .collect()
    };
    let mut client = referral_engine::store::postgres::postgres::Client::connect(
        &url,
        referral_engine::store::postgres::postgres::NoTls,
    )
    .unwrap();
    client
        .batch_execute(&format!(
            "CREATE SCHEMA \"{schema}\"; SET search_path TO \"{schema}\";
             CREATE TABLE re_schema_version (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
             INSERT INTO re_schema_version (version) VALUES (1), (2), (3), (4);
             CREATE TABLE re_records (key TEXT COLLATE \"C\" PRIMARY KEY, version BIGINT NOT NULL, body TEXT NOT NULL);
             CREATE TABLE re_events (key TEXT PRIMARY KEY, event TEXT NOT NULL, outcome TEXT NOT NULL);
             CREATE TABLE re_data_format (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
             INSERT INTO re_data_format (version) VALUES (3);"
        ))
        .unwrap();
    for r in rows("SELECT key, version, body FROM re_records", 3) {
        let version: i64 = r[1].parse().unwrap();
        client.execute("INSERT INTO re_records VALUES ($1, $2, $3)", &[&r[0], &version, &r[2]]).unwrap();
    }
    let events = rows("SELECT key, event, outcome FROM re_events", 3);
    assert_eq!(events.len(), 2);
    for r in events {
        client.execute("INSERT INTO re_events VALUES ($1, $2, $3)", &[&r[0], &r[1], &r[2]]).unwrap();
    }
    let store = PostgresStore::builder(&url).schema(&schema).pool_size(2).connect().unwrap();
    assert_eq!(store.migrate().unwrap(), 8);
    assert_eq!(store.migrate().unwrap(), 8, "a second migrate is a no-op");
    let upgrade = r#"{"id": "up", "name": "Upgrade", "currency": "USD", "hold_days": 7,
        "qualification": {"first_purchase": {}}, "qualification_window_days": 30,
        "policies": [{"type": "one_sided", "name": "bounty", "on": "sign_up", "reward": {"fixed": "5.00 USD"}}]}"#;
    let w = common::World::with_store(store, common::program(upgrade));
    let event = |key: &str, kind: EventKind| referral_engine::Event::new(key, "up", kind).unwrap();
    let bob = || event("e2", SignUp::new(common::pid("bob"), "QE34KCHW1Z").into());
    assert_eq!(common::flat(w.engine.handle(&bob())).unwrap().referrals.len(), 1, "the stored outcome");
    let other = common::flat(w.engine.handle(&event("e2", SignUp::new(common::pid("cy"), "QE34KCHW1Z").into())));
    assert_eq!(other.unwrap_err().code(), "key_reused");
    w.advance(8);
    assert_eq!(common::flat(w.engine.handle(&bob())).unwrap_err().code(), "already_handled");
    common::flat(w.engine.handle(&event("u1", EventKind::Tick))).unwrap();
    let kept: Vec<(String, bool)> = client
        .query(&format!("SELECT key, outcome IS NOT NULL FROM \"{schema}\".re_events ORDER BY key"), &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let want = [("e1", false), ("e2", false), ("u1", true)].map(|(k, o)| (k.to_owned(), o));
    assert_eq!(kept, want, "the tick forgot the outcomes past the window, not the keys");
    let old: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 're_events_format3'",
            &[&schema],
        )
        .unwrap()
        .get(0);
    assert_eq!(old, 0, "the format-3 table is dropped once moved");
}

/// The sync store built, used and dropped on a tokio runtime's own thread,
/// on both kinds of runtime: no panic, and no abort when its pool goes.
#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[test]
fn the_sync_store_lives_and_dies_on_any_runtime_without_a_panic() {
    let Some(url) = database_url() else { return };
    for multi in [false, true] {
        let runtime = if multi {
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
        } else {
            tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
        };
        let schema = format!("re_runtime_{multi}_{}", std::process::id());
        let _drop = DropSchema { url: url.clone(), schema: schema.clone() };
        runtime.block_on(async {
            let store = PostgresStore::builder(&url).schema(&schema).pool_size(2).connect().unwrap();
            store.migrate().unwrap();
            let w = world(store);
            w.enroll("ann");
            drop(w); // the last handle: the pool and its connections go here, on the runtime
        });
    }
}
