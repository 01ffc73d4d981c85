//! Stores written by earlier versions (`tests/fixtures/`): `migrate()`
//! converts them to this version's data format or refuses them with a
//! typed error, changing nothing; never half-read.

mod common;

use std::path::{Path, PathBuf};

use common::{World, dec, pid, program};
use referral_engine::EventKind;
use referral_engine::event::SignUp;
use referral_engine::store::StoreError;
use referral_engine::store::sqlite::SqliteStore;

/// The program the fixtures were written with.
const UPGRADE: &str = r#"{"id": "up", "name": "Upgrade", "currency": "USD", "hold_days": 7,
    "qualification": {"first_purchase": {}}, "qualification_window_days": 30,
    "policies": [{"type": "one_sided", "name": "bounty", "on": "sign_up", "reward": {"fixed": "5.00 USD"}}]}"#;

/// ann's code in both fixtures.
const ANNS_CODE: &str = "QE34KCHW1Z";

/// A copy of a fixture in a temporary directory (the fixture stays as it is).
fn copy_of(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name), &path).unwrap();
    (dir, path)
}

fn schema_version(path: &Path) -> i64 {
    let conn = referral_engine::store::sqlite::rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT MAX(version) FROM re_schema_version", [], |r| r.get(0)).unwrap()
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// Before the data format was recorded, this store passed `migrate()` and
/// then answered `unknown_code` for ann's code and `store_corrupt` on every
/// Tick past bob's expiry.
#[test]
fn a_format_1_store_is_refused_with_nothing_changed() {
    let (_dir, path) = copy_of("format1-ccf688a.sqlite");
    let before = file_bytes(&path);
    let store = SqliteStore::open(&path).unwrap();
    let refused = store.migrate().unwrap_err();
    let StoreError::DataFormat { found, supported, .. } = &refused else { panic!("{refused}") };
    assert_eq!((*found, *supported), (1, 5));
    assert!(refused.to_string().contains("format 1"), "{refused}");
    drop(store);
    assert_eq!(schema_version(&path), 2, "a refused migration changed the schema");
    assert_eq!(file_bytes(&path), before, "a refused migration changed the file");
}

#[test]
fn a_format_2_store_is_migrated_and_reads_whole() {
    let (_dir, path) = copy_of("format2-26cf2bf.sqlite");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.migrate().unwrap(), 8);
    assert_eq!(store.migrate().unwrap(), 8, "a second migrate is a no-op");
    let w = World::with_store(store, program(UPGRADE));
    // Format 3 keeps each referral's standing referrer rewards: bob's earned
    // ann her 5.00, which migrate() counted from the rewards.
    let bob = w.engine.read(&w.program).referrals().all().unwrap().into_iter().find(|r| r.referee == pid("bob"));
    assert_eq!(bob.map(|r| r.standing_referrer_rewards), Some(1));
    // The clock the fixture was written at: 2026-01-01 09:00.
    // (The fixture's events took the keys e1 and e2.)
    let event = |key: &str, kind: EventKind| referral_engine::Event::new(key, "up", kind).unwrap();
    let replay = common::flat(w.engine.handle(&event("e2", SignUp::new(pid("bob"), ANNS_CODE).into())));
    assert_eq!(replay.unwrap().referrals.len(), 1, "the stored outcome, replayed");
    let cy = common::flat(w.engine.handle(&event("u1", SignUp::new(pid("cy"), ANNS_CODE).into())));
    assert!(cy.is_ok(), "ann's code is unknown after the upgrade: {cy:?}");
    w.advance(10);
    common::flat(w.engine.handle(&event("u2", EventKind::Tick))).unwrap();
    // bob's 5.00 and cy's, both granted on day 0, released on day 7.
    assert_eq!(w.buckets("ann", "USD"), (dec("0"), dec("10.00"), dec("0")));
    w.advance(21);
    let expired = common::flat(w.engine.handle(&event("u3", EventKind::Tick))).unwrap();
    assert!(
        expired.notices.iter().any(|n| matches!(n, referral_engine::Notice::ReferralExpired { .. })),
        "bob's referral did not expire: {:?}",
        expired.notices
    );
}

/// A format-2 store whose records do not all read back as this version
/// reads them (here a currency outside ISO 4217, written by code alone, as
/// format 2 wrote it) is refused whole: nothing changes, and the error
/// names the row.
#[test]
fn a_format_2_store_that_does_not_read_back_is_refused_whole() {
    let (_dir, path) = copy_of("format2-26cf2bf.sqlite");
    {
        let conn = referral_engine::store::sqlite::rusqlite::Connection::open(&path).unwrap();
        let body: String =
            conn.query_row("SELECT body FROM re_records WHERE key = 'p/up/ann'", [], |r| r.get(0)).unwrap();
        let custom = body.replace("USD", "PTS");
        assert_ne!(custom, body);
        conn.execute("UPDATE re_records SET body = ?1 WHERE key = 'p/up/ann'", [custom]).unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let refused = store.migrate().unwrap_err();
    assert!(matches!(refused, StoreError::DataFormat { found: 2, .. }), "{refused}");
    assert!(refused.to_string().contains("p/up/ann"), "{refused}");
    drop(store);
    assert_eq!(schema_version(&path), 3, "a refused migration changed the schema");
}

/// Format 3 keeps each payout batch in a record of its own: a format-2
/// store's finished batch ids move there, so a finished batch is still a
/// duplicate and a new one pays.
#[test]
fn a_format_2_stores_payout_batches_move_to_records_of_their_own() {
    use referral_engine::event::Payout;
    let (_dir, path) = copy_of("format2-26cf2bf-payouts.sqlite");
    let store = SqliteStore::open(&path).unwrap();
    store.migrate().unwrap();
    let program = r#"{"id": "pay", "name": "Payouts", "currency": "USD",
        "policies": [{"type": "one_sided", "name": "bounty", "on": "sign_up", "reward": {"fixed": "5.00 USD"}}]}"#;
    let w = World::with_store(store, common::program(program));
    let event = |key: &str, kind: EventKind| referral_engine::Event::new(key, "pay", kind).unwrap();
    let usd = common::asset("USD");
    let again = common::flat(w.engine.handle(&event("u1", Payout::new("may".parse().unwrap(), usd.clone()).into())));
    assert_eq!(again.unwrap_err().code(), "duplicate_payout");
    assert_eq!(w.buckets("ann", "USD"), (dec("0"), dec("5.00"), dec("5.00")));
    common::flat(w.engine.handle(&event("u2", Payout::new("june".parse().unwrap(), usd).into()))).unwrap();
    assert_eq!(w.buckets("ann", "USD"), (dec("0"), dec("0"), dec("10.00")));
    drop(w);
    let conn = referral_engine::store::sqlite::rusqlite::Connection::open(&path).unwrap();
    let state: String = conn.query_row("SELECT body FROM re_records WHERE key = 's/pay'", [], |r| r.get(0)).unwrap();
    assert!(!state.contains("payouts"), "{state}");
    let batches: i64 =
        conn.query_row("SELECT count(*) FROM re_records WHERE key LIKE 'u/pay/%'", [], |r| r.get(0)).unwrap();
    assert_eq!(batches, 2, "may, moved; june, new");
}

fn event(key: &str, kind: EventKind) -> referral_engine::Event {
    referral_engine::Event::new(key, "up", kind).unwrap()
}

/// Format 4 keeps each event as its key, the digest of its payload, its
/// time and (for the retention window) its outcome: a format-3 store's
/// events move there, so that a replay still returns the first outcome,
/// another payload under the key is still refused, and past the window the
/// outcome is forgotten while the key stays.
#[test]
fn a_format_3_stores_events_move_to_keys_digests_and_outcomes() {
    let (_dir, path) = copy_of("format3-3214d83.sqlite");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.migrate().unwrap(), 8);
    assert_eq!(store.migrate().unwrap(), 8, "a second migrate is a no-op");
    let w = World::with_store(store, program(UPGRADE));
    let bob = || event("e2", SignUp::new(pid("bob"), ANNS_CODE).into());
    let replay = common::flat(w.engine.handle(&bob())).unwrap();
    assert_eq!(replay.referrals.len(), 1, "the stored outcome, replayed");
    let other = common::flat(w.engine.handle(&event("e2", SignUp::new(pid("cy"), ANNS_CODE).into())));
    assert_eq!(other.unwrap_err().code(), "key_reused");
    w.advance(8);
    let past = common::flat(w.engine.handle(&bob()));
    assert_eq!(past.unwrap_err().code(), "already_handled");
    common::flat(w.engine.handle(&event("u1", EventKind::Tick))).unwrap();
    assert_eq!(w.buckets("ann", "USD"), (dec("0"), dec("5.00"), dec("0")), "bob's 5.00, released");
    drop(w);
    let conn = referral_engine::store::sqlite::rusqlite::Connection::open(&path).unwrap();
    let outcomes: Vec<(String, bool)> = conn
        .prepare("SELECT key, outcome IS NOT NULL FROM re_events ORDER BY key")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let want = [("e1", false), ("e2", false), ("u1", true)].map(|(k, o)| (k.to_owned(), o));
    assert_eq!(outcomes, want, "the tick forgot the outcomes past the window, not the keys");
    let old: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE name = 're_events_format3'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(old, 0, "the format-3 table is dropped once moved");
}

/// A format-3 event that does not read back refuses the whole migration,
/// naming the row; nothing changes.
#[test]
fn a_format_3_store_with_an_unreadable_event_is_refused_whole() {
    let (_dir, path) = copy_of("format3-3214d83.sqlite");
    {
        let conn = referral_engine::store::sqlite::rusqlite::Connection::open(&path).unwrap();
        conn.execute("UPDATE re_events SET event = '{\"key\":' WHERE key = 'e2'", []).unwrap();
    }
    let before = file_bytes(&path);
    let store = SqliteStore::open(&path).unwrap();
    let refused = store.migrate().unwrap_err();
    assert!(matches!(refused, StoreError::DataFormat { found: 3, .. }), "{refused}");
    assert!(refused.to_string().contains("\"e2\""), "{refused}");
    drop(store);
    assert_eq!(schema_version(&path), 4, "a refused migration changed the schema");
    assert_eq!(file_bytes(&path), before, "a refused migration changed the file");
}

/// Rows of one column of a query, as text.
fn column(path: &Path, sql: &str) -> Vec<String> {
    let conn = referral_engine::store::sqlite::rusqlite::Connection::open(path).unwrap();
    let mut statement = conn.prepare(sql).unwrap();
    statement.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

/// Format 5 writes roles, reward and referral statuses and entry kinds flat
/// (`"referrer"`, `{"pending": ..}`): a format-4 store reads whole, its
/// views included, and each record is written flat when an event next
/// changes it.
#[test]
fn a_format_4_store_reads_whole_and_is_written_flat_as_it_changes() {
    use referral_engine::domain::ledger::{EntryKind, RewardStatus, Role};
    use referral_engine::domain::referral::ReferralStatus;
    let (_dir, path) = copy_of("format4-fafa7f3.sqlite");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.migrate().unwrap(), 8);
    assert_eq!(column(&path, "SELECT role || ' ' || status FROM re_reward"), ["referrer pending"]);
    assert_eq!(column(&path, "SELECT status FROM re_referral"), ["attributed"]);
    assert_eq!(column(&path, "SELECT kind FROM re_ledger_entry"), ["grant"]);
    let w = World::with_store(store, program(UPGRADE));
    // A replay returns the outcome format 4 stored, read as this version reads it.
    let replay = common::flat(w.engine.handle(&event("e2", SignUp::new(pid("bob"), ANNS_CODE).into()))).unwrap();
    assert_eq!(replay.referrals[0].status, ReferralStatus::Attributed);
    assert_eq!(
        (replay.rewards[0].role, &replay.rewards[0].status),
        (Role::Referrer, &RewardStatus::Pending("2026-01-08T09:00:00Z".parse().unwrap()))
    );
    assert_eq!(replay.entries[0].kind, EntryKind::Grant);
    let statement = w.engine.read(&w.program).statement(&pid("ann")).all().unwrap();
    assert_eq!(statement.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(), [EntryKind::Grant]);
    // The hold ends: the reward is written again, flat; the views read both forms.
    w.advance(8);
    common::flat(w.engine.handle(&event("u1", EventKind::Tick))).unwrap();
    assert_eq!(w.buckets("ann", "USD"), (dec("0"), dec("5.00"), dec("0")));
    drop(w);
    let reward = column(&path, "SELECT body FROM re_records WHERE key LIKE 'w/%'");
    assert!(reward[0].contains(r#""role":"referrer""#) && reward[0].contains(r#""status":"available""#), "{reward:?}");
    assert_eq!(column(&path, "SELECT role || ' ' || status FROM re_reward"), ["referrer available"]);
    assert_eq!(
        column(&path, "SELECT kind FROM re_ledger_entry ORDER BY at, kind"),
        ["grant", "release", "release"],
        "a release moves the amount out of pending and into available"
    );
    let referral = column(&path, "SELECT body FROM re_records WHERE key = 'r/up/bob'");
    assert!(referral[0].contains(r#""status":{"status":"attributed"}"#), "unchanged, so not rewritten: {referral:?}");
}
