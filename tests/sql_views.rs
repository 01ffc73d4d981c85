//! The README's SQL over the engine's views, run on SQLite and PostgreSQL:
//! a host's own `shop_orders` joined to the rewards they earned, and the
//! balances, read with the host's own SQL.

mod common;

use common::{DropSchema, World, pid, program};
use referral_engine::event::{Enroll, Purchase};
use referral_engine::store::Store;
use referral_engine::store::postgres::PostgresStore;
use referral_engine::store::sqlite::SqliteStore;

const SHOP: &str = r#"{"id": "shop", "name": "Shop", "currency": "USD", "hold_days": 14,
    "qualification": {"first_purchase": {}},
    "policies": [{"type": "two_sided", "name": "welcome",
        "referrer": {"on": "qualified", "reward": {"fixed": "10.00 USD"}},
        "referee": {"on": "qualified", "reward": {"fixed": "5.00 USD"}}}]}"#;

/// The query of README.md's section "Your SQL over the engine's records".
fn readme_query() -> String {
    let readme = include_str!("../README.md");
    let section = readme.split("### Your SQL over the engine's records").nth(1).expect("the README section");
    let start = section.find("```sql\n").expect("a SQL block") + "```sql\n".len();
    let len = section[start..].find("```").expect("its end");
    section[start..start + len].to_owned()
}

/// ann refers bob, who buys order A-1001 (his first purchase qualifies
/// him: 10.00 for ann, 5.00 for bob, each held 14 days); cy buys A-1002
/// unreferred.
fn scenario<S: Store>(store: S) {
    let w = World::with_store(store, program(SHOP));
    w.ok(Enroll::new(pid("ann")).with_vanity_code("ANN-2026").into());
    w.sign_up("bob", &"ANN-2026".parse().unwrap()).unwrap();
    let order = |customer: &str, id: &str, amount: &str| {
        w.ok(Purchase::new(pid(customer), id.parse().unwrap(), common::value(amount)).into());
    };
    order("bob", "A-1001", "40.00 USD");
    order("cy", "A-1002", "15.00 USD");
}

const ORDERS: &[(&str, &str)] = &[("A-1001", "40.00"), ("A-1002", "15.00")];

fn expected_rewards() -> Vec<Vec<String>> {
    [
        ["A-1001", "40.00", "bob", "referee", "5.00", "USD", "pending"],
        ["A-1001", "40.00", "ann", "referrer", "10.00", "USD", "pending"],
    ]
    .iter()
    .map(|row| row.iter().map(|s| (*s).to_owned()).collect())
    .collect()
}

const BALANCES: &str =
    "SELECT participant, currency, pending, available FROM re_balance WHERE program = 'shop' ORDER BY participant";

fn expected_balances() -> Vec<Vec<String>> {
    [["ann", "USD", "10.00", "0"], ["bob", "USD", "5.00", "0"]]
        .iter()
        .map(|row| row.iter().map(|s| (*s).to_owned()).collect())
        .collect()
}

/// A reward's body as data format 4 wrote it (`"role":{"role":"referrer"}`):
/// the views read it as they read format 5.
fn as_format_4(body: &str) -> String {
    let legacy = body
        .replace(r#""role":"referrer""#, r#""role":{"role":"referrer"}"#)
        .replace(r#""status":{"pending":"#, r#""status":{"status":"pending","until":"#);
    assert_ne!(legacy, body);
    legacy
}

/// The referrer's reward's key, as the views' test scenario leaves it.
const REFERRER_REWARD: &str =
    r#"SELECT key, body FROM re_records WHERE key LIKE 'w/%' AND body LIKE '%"role":"referrer"%'"#;

fn sqlite_rows(conn: &referral_engine::store::sqlite::rusqlite::Connection, sql: &str) -> Vec<Vec<String>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        (0..n)
            .map(|i| {
                Ok(match r.get::<_, referral_engine::store::sqlite::rusqlite::types::Value>(i)? {
                    referral_engine::store::sqlite::rusqlite::types::Value::Text(t) => t,
                    referral_engine::store::sqlite::rusqlite::types::Value::Integer(i) => i.to_string(),
                    other => format!("{other:?}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[test]
fn the_readme_query_runs_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.db");
    let store = SqliteStore::open(&path).unwrap();
    store.migrate().unwrap();
    scenario(store);
    let conn = referral_engine::store::sqlite::rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE shop_orders (id TEXT PRIMARY KEY, total TEXT NOT NULL)").unwrap();
    for (id, total) in ORDERS {
        conn.execute("INSERT INTO shop_orders VALUES (?1, ?2)", [id, total]).unwrap();
    }
    assert_eq!(sqlite_rows(&conn, &readme_query()), expected_rewards());
    let (key, body): (String, String) = conn.query_row(REFERRER_REWARD, [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    conn.execute("UPDATE re_records SET body = ?2 WHERE key = ?1", [key, as_format_4(&body)]).unwrap();
    assert_eq!(sqlite_rows(&conn, &readme_query()), expected_rewards(), "a format-4 reward");
    assert_eq!(sqlite_rows(&conn, BALANCES), expected_balances());
    let orders = sqlite_rows(&conn, "SELECT id, customer, amount, qualifying FROM re_order ORDER BY id");
    assert_eq!(orders, [["A-1001", "bob", "40.00", "1"], ["A-1002", "cy", "15.00", "0"]]);
}

fn pg_rows(client: &mut referral_engine::store::postgres::postgres::Client, sql: &str) -> Vec<Vec<String>> {
    client
        .simple_query(sql)
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            referral_engine::store::postgres::postgres::SimpleQueryMessage::Row(row) => {
                Some((0..row.len()).map(|i| row.get(i).unwrap_or("NULL").to_owned()).collect())
            }
            _ => None,
        })
        .collect()
}

#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[test]
fn the_readme_query_runs_on_postgres() {
    let Some(url) = common::database_url() else { return };
    let schema = format!("re_views_{}", std::process::id());
    let _drop = DropSchema { url: url.clone(), schema: schema.clone() };
    let store = PostgresStore::builder(&url).schema(&schema).pool_size(2).connect().unwrap();
    store.migrate().unwrap();
    scenario(store);
    let mut client = referral_engine::store::postgres::postgres::Client::connect(
        &url,
        referral_engine::store::postgres::postgres::NoTls,
    )
    .unwrap();
    client
        .batch_execute(&format!(
            "SET search_path TO \"{schema}\";
             CREATE TABLE shop_orders (id TEXT PRIMARY KEY, total NUMERIC NOT NULL);
             INSERT INTO shop_orders VALUES ('A-1001', 40.00), ('A-1002', 15.00);"
        ))
        .unwrap();
    assert_eq!(pg_rows(&mut client, &readme_query()), expected_rewards());
    let row = client.query_one(REFERRER_REWARD, &[]).unwrap();
    let (key, body): (String, String) = (row.get(0), row.get(1));
    client.execute("UPDATE re_records SET body = $2 WHERE key = $1", &[&key, &as_format_4(&body)]).unwrap();
    assert_eq!(pg_rows(&mut client, &readme_query()), expected_rewards(), "a format-4 reward");
    assert_eq!(pg_rows(&mut client, BALANCES), expected_balances());
    let orders = pg_rows(&mut client, "SELECT id, customer, amount, qualifying FROM re_order ORDER BY id");
    assert_eq!(orders, [["A-1001", "bob", "40.00", "t"], ["A-1002", "cy", "15.00", "f"]]);
    // The typed columns are typed: a host sums amounts and compares times.
    let sum = pg_rows(&mut client, "SELECT sum(amount)::text, min(granted_at) <= now() FROM re_reward");
    assert_eq!(sum, [["15.00", "t"]]);
}
