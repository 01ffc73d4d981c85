//! The async engine: the same decisions as the sync one, in at most three
//! read round trips and one commit for a sign-up and for a qualifying
//! purchase, counted by a store that counts its calls.
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, TimeZone, Utc};

use referral_engine::domain::code::SeededRandom;
use referral_engine::domain::id::OrderId;
use referral_engine::engine::{AsyncEngine, Needs, Snapshot};
use referral_engine::event::{Enroll, Purchase, Refund, SignUp};
use referral_engine::store::{AsyncStore, Commit, MemoryStore, Store, StoreError};
use referral_engine::{Engine, Event, EventKind, ManualClock, ParticipantId, ProgramSpec, Refusal};

/// An async store over a memory store that counts its calls.
#[derive(Default)]
struct Counting {
    inner: MemoryStore,
    fetches: AtomicUsize,
    commits: AtomicUsize,
    needs: Mutex<Vec<Needs>>,
}

impl Counting {
    /// (fetches, commits) since the last call.
    fn take(&self) -> (usize, usize) {
        (self.fetches.swap(0, Ordering::SeqCst), self.commits.swap(0, Ordering::SeqCst))
    }
}

impl AsyncStore for Counting {
    async fn fetch(&self, needs: Needs, snapshot: &mut Snapshot) -> Result<(), StoreError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        self.needs.lock().unwrap().push(needs.clone());
        snapshot.fetch(&self.inner, needs)
    }
    async fn commit(&self, commit: Commit) -> Result<(), StoreError> {
        self.commits.fetch_add(1, Ordering::SeqCst);
        Store::commit(&self.inner, &commit)
    }
    async fn forget_outcomes(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        Store::forget_outcomes(&self.inner, before, limit)
    }
}

const PROGRAM: &str = r#"{"id":"p","name":"P","currency":"USD","attribution":{"model":"last_touch"},
    "qualification":{"first_purchase":{"minimum":"20.00"}},"qualification_window_days":30,
    "hold_days":7,"limits":{"budgets":["1000.00 USD"],"max_rewarded_referrals":5},
    "policies":[
      {"type":"two_sided","name":"both",
       "referrer":{"on":"qualified","reward":{"fixed":"10.00 USD"}},
       "referee":{"on":"qualified","reward":{"fixed":"5.00 USD"}}},
      {"type":"revenue_share","name":"share","percent":"10","months":12}]}"#;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn program() -> referral_engine::Program {
    serde_json::from_str::<ProgramSpec>(PROGRAM).unwrap().build().unwrap()
}

fn async_engine() -> AsyncEngine<Counting> {
    AsyncEngine::new(Counting::default())
        .with_clock(ManualClock::new(start()))
        .with_random(SeededRandom::new(7))
        .with_program(program())
}

fn pid(s: &str) -> ParticipantId {
    ParticipantId::new(s).unwrap()
}

fn purchase(who: &str, order: &str, amount: &str) -> EventKind {
    Purchase::new(pid(who), OrderId::new(order).unwrap(), amount.parse().unwrap()).into()
}

#[tokio::test]
async fn a_sign_up_and_a_qualifying_purchase_take_at_most_three_reads_and_one_commit() {
    let engine = async_engine();
    let enrolled = engine.handle(&Event::new("e0", "p", Enroll::new(pid("ann"))).unwrap()).await.unwrap().unwrap();
    let code = enrolled.codes[0].to_string();
    engine.store().take();

    let sign_up = Event::new("e1", "p", SignUp::new(pid("bob"), code)).unwrap();
    engine.handle(&sign_up).await.unwrap().unwrap();
    let (reads, commits) = engine.store().take();
    assert!(reads <= 3, "a sign-up took {reads} read round trips: {:?}", engine.store().needs.lock().unwrap());
    assert_eq!(commits, 1);

    engine.store().needs.lock().unwrap().clear();
    let bought = engine.handle(&Event::new("e2", "p", purchase("bob", "o1", "50.00 USD")).unwrap()).await.unwrap();
    let bought = bought.unwrap();
    assert!(!bought.rewards.is_empty(), "the purchase qualified the referral and rewarded it");
    let (reads, commits) = engine.store().take();
    assert!(
        reads <= 3,
        "a qualifying purchase took {reads} read round trips: {:?}",
        engine.store().needs.lock().unwrap()
    );
    assert_eq!(commits, 1);

    // A replay: the first outcome again, and nothing committed.
    let before = engine.store().inner.dump();
    let again = engine.handle(&sign_up).await.unwrap().unwrap();
    assert_eq!(engine.store().inner.dump(), before, "a replay writes nothing");
    assert_eq!(again.event, sign_up.key);
}

/// Everything the sync engine answers, the async one answers alike, and
/// both leave the same records.
#[tokio::test]
async fn the_async_engine_decides_as_the_sync_engine_does() {
    let sync = Engine::new(MemoryStore::new())
        .with_clock(ManualClock::new(start()))
        .with_random(SeededRandom::new(7))
        .with_program(program());
    let engine = async_engine();
    let mut codes = Vec::new();
    for who in ["ann", "dan"] {
        let event = Event::new(&format!("enroll-{who}"), "p", Enroll::new(pid(who))).unwrap();
        let a = sync.handle(&event).unwrap().unwrap();
        let b = engine.handle(&event).await.unwrap().unwrap();
        assert_eq!(a, b);
        codes.push(a.codes[0].to_string());
    }
    let kinds: Vec<EventKind> = vec![
        SignUp::new(pid("bob"), codes[0].clone()).into(),
        SignUp::new(pid("cy"), codes[0].clone()).into(),
        SignUp::new(pid("cy"), codes[1].clone()).into(),
        SignUp::new(pid("eve"), "NOSUCHCODE").into(),
        purchase("bob", "o1", "10.00 USD"),
        purchase("bob", "o2", "50.00 USD"),
        purchase("cy", "o3", "80.00 USD"),
        Refund::new(OrderId::new("o2").unwrap(), "20.00 USD".parse().unwrap()).into(),
        EventKind::Tick,
    ];
    let events: Vec<Event> =
        kinds.into_iter().enumerate().map(|(n, k)| Event::new(&format!("e{n}"), "p", k).unwrap()).collect();
    let mut refused = 0;
    for event in &events {
        let a = sync.handle(event).unwrap();
        let b = engine.handle(event).await.unwrap();
        refused += usize::from(a.is_err());
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{}", event.key);
    }
    assert!(refused > 0, "a refusal is among them");
    // A batch, with a replay inside it.
    let batch = vec![events[0].clone(), Event::new("b1", "p", purchase("cy", "o4", "30.00 USD")).unwrap()];
    let (a, b) = (sync.handle_batch(&batch).unwrap(), engine.handle_batch(&batch).await.unwrap());
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert_eq!(engine.store().inner.dump(), sync.store().dump());

    // The read side, over snapshots.
    let program = "p".parse().unwrap();
    let usd = "USD".parse().unwrap();
    let ann = pid("ann");
    let read = engine.read(&program, |r| r.balance(&ann, &usd)).await.unwrap();
    assert_eq!(read, sync.read(&program).balance(&ann, &usd).unwrap());
    let dashboard = engine.read(&program, |r| r.dashboard(&ann, None, &[])).await.unwrap();
    assert!(dashboard.is_some());
    assert_eq!(dashboard, sync.read(&program).dashboard(&ann, None, &[]).unwrap());
    let referrals = engine.read(&program, |r| r.referrals().all()).await.unwrap();
    assert_eq!(referrals, sync.read(&program).referrals().all().unwrap());
    assert!(referrals.len() >= 2);
}

#[tokio::test]
async fn a_refusal_writes_nothing_and_a_used_key_with_another_payload_is_refused() {
    let engine = async_engine();
    let refused = engine.handle(&Event::new("s", "p", SignUp::new(pid("bob"), "NOSUCHCODE")).unwrap()).await.unwrap();
    assert_eq!(refused.unwrap_err().code(), "unknown_code");
    assert_eq!(engine.store().take().1, 0, "a refusal commits nothing");
    engine.handle(&Event::new("e", "p", Enroll::new(pid("ann"))).unwrap()).await.unwrap().unwrap();
    let reused = engine.handle(&Event::new("e", "p", Enroll::new(pid("zed"))).unwrap()).await.unwrap();
    assert!(matches!(reused, Err(Refusal::KeyReused(_))), "{reused:?}");
}

/// A clone of an engine over a shared store is the same engine: its
/// programs, its clock and the records it writes.
#[tokio::test]
async fn an_engine_clone_shares_programs_and_records() {
    let engine = AsyncEngine::new(std::sync::Arc::new(MemoryStore::new()))
        .with_clock(ManualClock::new(start()))
        .with_program(program());
    let clone = engine.clone();
    clone.handle(&Event::new("e", "p", Enroll::new(pid("ann"))).unwrap()).await.unwrap().unwrap();
    let program = "p".parse().unwrap();
    let ann = engine.read(&program, |r| r.participant(&pid("ann"))).await.unwrap();
    assert!(ann.is_some(), "written through the clone, read through the original");
    assert!(clone.program(&program).is_some());
}
