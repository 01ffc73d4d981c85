//! The sqlx store on the host's own pool and in the host's own transaction:
//! migrations in a schema of its own (concurrent, inside a host
//! transaction), a checkout whose order row and rewards land together or
//! not at all (rollback, commit, retry, a process killed before the
//! commit), the isolation levels, and no panic on any tokio runtime.

mod common;

use chrono::{TimeZone, Utc};
use sqlx::PgPool;

use referral_engine::domain::code::SeededRandom;
use referral_engine::domain::id::OrderId;
use referral_engine::engine::AsyncEngine;
use referral_engine::event::{Enroll, Purchase, SignUp};
use referral_engine::store::StoreError;
use referral_engine::store::pg::PgStore;
use referral_engine::{Error, Event, ManualClock, ParticipantId};

const PROGRAM: &str = r#"{"id":"p","name":"P","currency":"USD",
    "qualification":{"first_purchase":{"minimum":"20.00"}},"qualification_window_days":30,
    "policies":[{"type":"two_sided","name":"both",
       "referrer":{"on":"qualified","reward":{"fixed":"10.00 USD"}},
       "referee":{"on":"qualified","reward":{"fixed":"5.00 USD"}}}]}"#;

fn pid(s: &str) -> ParticipantId {
    ParticipantId::new(s).unwrap()
}

/// A pool, and a fresh schema for the engine's tables and the host's
/// `orders` table, named after the test.
async fn setup(name: &str) -> Option<(PgPool, String)> {
    let url = common::database_url()?;
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(4).connect(&url).await.unwrap();
    let schema = format!("re_host_{name}_{}", std::process::id());
    drop_schema(&pool, &schema).await;
    Some((pool, schema))
}

async fn drop_schema(pool: &PgPool, schema: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))).execute(pool).await.unwrap();
}

/// A migrated engine in `schema`, with the host's `orders` table beside it,
/// ann enrolled and bob signed up with her code.
async fn engine(pool: &PgPool, schema: &str) -> AsyncEngine<PgStore> {
    let store = PgStore::new(pool.clone()).with_schema(schema).unwrap();
    store.migrate().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {schema}.orders (id TEXT PRIMARY KEY, total NUMERIC NOT NULL)"
    )))
    .execute(pool)
    .await
    .unwrap();
    let engine = AsyncEngine::new(store)
        .with_clock(ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()))
        .with_random(SeededRandom::new(3))
        .with_program(common::program(PROGRAM));
    let enrolled = engine.handle(&Event::new("e-ann", "p", Enroll::new(pid("ann"))).unwrap()).await.unwrap().unwrap();
    let code = enrolled.codes[0].to_string();
    engine.handle(&Event::new("s-bob", "p", SignUp::new(pid("bob"), code)).unwrap()).await.unwrap().unwrap();
    engine
}

fn purchase(order: &str) -> Event {
    let kind = Purchase::new(pid("bob"), OrderId::new(order).unwrap(), "50.00 USD".parse().unwrap());
    Event::new(&format!("buy-{order}"), "p", kind).unwrap()
}

/// The host's checkout: its order row and the purchase event in one
/// transaction it opened; committed or not as `commit` says.
async fn checkout(pool: &PgPool, schema: &str, engine: &AsyncEngine<PgStore>, order: &str, commit: bool) -> usize {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO {schema}.orders (id, total) VALUES ($1, 50)")))
        .bind(order)
        .execute(&mut *tx)
        .await
        .unwrap();
    let outcome = engine.handle_in(&mut tx, &purchase(order)).await.unwrap().unwrap();
    if commit {
        tx.commit().await.unwrap();
    } else {
        tx.rollback().await.unwrap();
    }
    outcome.rewards.len()
}

async fn orders(pool: &PgPool, schema: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {schema}.orders")))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Rewards in the engine's own view, as a host's SQL reads them.
async fn rewards(pool: &PgPool, schema: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {schema}.re_reward")))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_and_its_rewards_land_together_or_not_at_all() {
    let Some((pool, schema)) = setup("together").await else { return };
    let engine = engine(&pool, &schema).await;

    // The payment is declined: the host rolls back, and neither is there.
    assert_eq!(checkout(&pool, &schema, &engine, "o1", false).await, 2, "the decision rewarded both sides");
    assert_eq!((orders(&pool, &schema).await, rewards(&pool, &schema).await), (0, 0));

    // The same customer's real purchase later still qualifies the referral.
    assert_eq!(checkout(&pool, &schema, &engine, "o2", true).await, 2);
    assert_eq!((orders(&pool, &schema).await, rewards(&pool, &schema).await), (1, 2));
    drop_schema(&pool, &schema).await;
}

#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_retries_its_whole_transaction_rewards_once() {
    let Some((pool, schema)) = setup("retry").await else { return };
    let engine = engine(&pool, &schema).await;
    checkout(&pool, &schema, &engine, "o1", true).await;
    // The host did not learn that its commit landed (a lost connection) and
    // runs the purchase again, in a new transaction, with the same key.
    let mut tx = pool.begin().await.unwrap();
    let again = engine.handle_in(&mut tx, &purchase("o1")).await.unwrap().unwrap();
    assert_eq!(again.rewards.len(), 2, "the first outcome, returned again");
    // And inside the same transaction, twice: each time the engine's commit
    // meets the stored key behind its savepoint, rolls back to it, and
    // answers with the first outcome; the host's transaction goes on.
    let twice = engine.handle_in(&mut tx, &purchase("o1")).await.unwrap().unwrap();
    assert_eq!(twice, again);
    tx.commit().await.unwrap();
    assert_eq!(rewards(&pool, &schema).await, 2, "the commission exists exactly once");
    drop_schema(&pool, &schema).await;
}

/// The child's half of the killed-process test: the order and the engine's
/// work in one transaction, then the process dies before the commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child half of a_process_killed_before_the_hosts_commit_leaves_nothing_of_either, which runs it"]
async fn killed_child() {
    let Ok(schema) = std::env::var("RE_KILLED_CHILD_SCHEMA") else { return };
    let url = common::database_url().unwrap();
    let pool = PgPool::connect(&url).await.unwrap();
    let store = PgStore::new(pool.clone()).with_schema(&schema).unwrap();
    let engine = AsyncEngine::new(store)
        .with_clock(ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()))
        .with_program(common::program(PROGRAM));
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO {schema}.orders (id, total) VALUES ('o1', 50)")))
        .execute(&mut *tx)
        .await
        .unwrap();
    let outcome = engine.handle_in(&mut tx, &purchase("o1")).await.unwrap().unwrap();
    assert_eq!(outcome.rewards.len(), 2);
    println!("decided, not committed");
    std::process::abort();
}

#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_before_the_hosts_commit_leaves_nothing_of_either() {
    let Some((pool, schema)) = setup("killed").await else { return };
    let engine = engine(&pool, &schema).await;
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "killed_child", "--ignored", "--nocapture"])
        .env("RE_KILLED_CHILD_SCHEMA", &schema)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&child.stdout);
    assert!(said.contains("decided, not committed"), "the child did the work: {said}");
    assert!(!child.status.success(), "the child died before its commit");
    assert_eq!((orders(&pool, &schema).await, rewards(&pool, &schema).await), (0, 0));
    // And the purchase, sent again, rewards as the first time would have.
    assert_eq!(checkout(&pool, &schema, &engine, "o1", true).await, 2);
    drop_schema(&pool, &schema).await;
}

#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeatable_read_is_refused_and_serializable_commits() {
    let Some((pool, schema)) = setup("isolation").await else { return };
    let engine = engine(&pool, &schema).await;
    let mut tx = pool.begin().await.unwrap();
    sqlx::raw_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await.unwrap();
    let refused = engine.handle_in(&mut tx, &purchase("o1")).await.unwrap_err();
    assert!(matches!(refused, Error::Store(StoreError::Isolation { .. })), "{refused:?}");
    tx.rollback().await.unwrap();

    let mut tx = pool.begin().await.unwrap();
    sqlx::raw_sql("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE").execute(&mut *tx).await.unwrap();
    let outcome = engine.handle_in(&mut tx, &purchase("o1")).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    assert_eq!(outcome.rewards.len(), 2);
    assert_eq!(rewards(&pool, &schema).await, 2);
    drop_schema(&pool, &schema).await;
}

/// The portable commit inside a SERIALIZABLE host transaction: the order
/// and its rewards land together; the same purchase again, in a second
/// transaction, meets its key behind the savepoint and replays.
#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portable_commit_in_a_serializable_host_transaction() {
    let Some((pool, schema)) = setup("portable").await else { return };
    let plain = engine(&pool, &schema).await;
    let store = PgStore::new(pool.clone()).with_schema(&schema).unwrap().portable();
    let engine = AsyncEngine::new(store)
        .with_clock(ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()))
        .with_program(common::program(PROGRAM));
    drop(plain);
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let mut tx = pool.begin_with("BEGIN ISOLATION LEVEL SERIALIZABLE").await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {schema}.orders (id, total) VALUES ('o1', 50) ON CONFLICT DO NOTHING"
        )))
        .execute(&mut *tx)
        .await
        .unwrap();
        outcomes.push(engine.handle_in(&mut tx, &purchase("o1")).await.unwrap().unwrap());
        tx.commit().await.unwrap();
    }
    assert_eq!(outcomes[0].rewards.len(), 2);
    assert_eq!(outcomes[1], outcomes[0], "the second is the first outcome, replayed");
    assert_eq!((orders(&pool, &schema).await, rewards(&pool, &schema).await), (1, 2));
    drop_schema(&pool, &schema).await;
}

#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_that_start_at_once_migrate_once() {
    let Some((pool, schema)) = setup("migrate").await else { return };
    let store = PgStore::new(pool.clone()).with_schema(&schema).unwrap();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.migrate().await })
        })
        .collect();
    let mut versions = Vec::new();
    for run in runs {
        versions.push(run.await.unwrap().unwrap());
    }
    assert!(versions.windows(2).all(|w| w[0] == w[1]), "{versions:?}");
    assert_eq!(store.migrate().await.unwrap(), versions[0], "again: nothing to do");
    // Its own history table, in its own schema; the host's `_sqlx_migrations` untouched.
    let own: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {schema}.re_schema_version")))
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(own >= 5);
    let sqlx_table: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text").fetch_one(&pool).await.unwrap();
    assert_eq!(sqlx_table, None);
    drop_schema(&pool, &schema).await;
}

/// A host that runs every migration with its own migrator: the store's
/// scripts, each in a transaction of the host's, then the engine works and
/// `migrate()` finds nothing left to do.
#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosts_own_migrator_runs_the_stores_scripts() {
    let Some((pool, schema)) = setup("scripts").await else { return };
    let store = PgStore::new(pool.clone()).with_schema(&schema).unwrap();
    let scripts = store.migration_scripts();
    assert!(scripts.windows(2).all(|w| w[0].version < w[1].version));
    for script in &scripts {
        let mut tx = pool.begin().await.unwrap();
        let before: String = sqlx::query_scalar("SHOW search_path").fetch_one(&mut *tx).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(script.sql.clone())).execute(&mut *tx).await.unwrap();
        let after: String = sqlx::query_scalar("SHOW search_path").fetch_one(&mut *tx).await.unwrap();
        assert_eq!(after, before, "script {} left the host's search_path changed", script.version);
        tx.commit().await.unwrap();
    }
    let latest = scripts.last().unwrap().version;
    assert_eq!(store.migrate().await.unwrap(), latest, "nothing left for migrate()");
    let engine = AsyncEngine::new(store).with_program(common::program(PROGRAM));
    engine.handle(&Event::new("e", "p", Enroll::new(pid("ann"))).unwrap()).await.unwrap().unwrap();
    let participants: i64 =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {schema}.re_participant")))
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(participants, 1, "the views came with the scripts");
    drop_schema(&pool, &schema).await;
}

#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_inside_the_hosts_transaction_lands_with_it() {
    let Some((pool, schema)) = setup("migrate_in").await else { return };
    let store = PgStore::new(pool.clone()).with_schema(&schema).unwrap();
    let exists = |pool: PgPool, schema: String| async move {
        sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(schema)
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let mut tx = pool.begin().await.unwrap();
    let path_before: String = sqlx::query_scalar("SHOW search_path").fetch_one(&mut *tx).await.unwrap();
    store.migrate_in(&mut tx).await.unwrap();
    let path_after: String = sqlx::query_scalar("SHOW search_path").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(path_after, path_before, "the host's search_path is as it was");
    tx.rollback().await.unwrap();
    assert!(!exists(pool.clone(), schema.clone()).await, "rolled back with the host's transaction");
    let mut tx = pool.begin().await.unwrap();
    store.migrate_in(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    assert!(exists(pool.clone(), schema.clone()).await);
    drop_schema(&pool, &schema).await;
}

#[tokio::test]
async fn a_bad_schema_name_is_a_typed_error() {
    let pool = sqlx::postgres::PgPoolOptions::new().connect_lazy("postgres://nobody@127.0.0.1:1/none").unwrap();
    let err = PgStore::new(pool).with_schema("Robert'); DROP TABLE students;--").unwrap_err();
    assert!(err.to_string().contains("schema name"), "{err}");
}

/// Built, used and dropped on a runtime thread, on both kinds of runtime:
/// no panic, no abort.
#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[test]
fn the_store_lives_and_dies_on_any_runtime_without_a_panic() {
    let Some(url) = common::database_url() else { return };
    for multi in [false, true] {
        let runtime = if multi {
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
        } else {
            tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
        };
        runtime.block_on(async {
            let schema = format!("re_host_runtime_{multi}_{}", std::process::id());
            let pool = PgPool::connect(&url).await.unwrap();
            drop_schema(&pool, &schema).await;
            let store = PgStore::new(pool.clone()).with_schema(&schema).unwrap();
            store.migrate().await.unwrap();
            let engine = AsyncEngine::new(store).with_program(common::program(PROGRAM));
            engine.handle(&Event::new("e", "p", Enroll::new(pid("ann"))).unwrap()).await.unwrap().unwrap();
            drop(engine);
            drop_schema(&pool, &schema).await;
            pool.close().await;
        });
        drop(runtime);
    }
}
