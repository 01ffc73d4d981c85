//! A decision against a snapshot calls no store and ends where `handle` does;
//! under `handle`, an event reads each record from the store at most once and
//! writes it at most once.
use referral_engine::event::{Enroll, Payout, Purchase, Refund, SignUp};
use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{TimeZone, Utc};

use referral_engine::Engine;
use referral_engine::Error;
use referral_engine::ManualClock;
use referral_engine::ParticipantId;
use referral_engine::ProgramSpec;
use referral_engine::domain::code::SeededRandom;
use referral_engine::domain::id::{EventKey, OrderId};
use referral_engine::engine::{Snapshot, Step};
use referral_engine::event::StoredEvent;
use referral_engine::store::{Commit, Key, KeyRange, MemoryStore, Store, StoreError, Versioned};
use referral_engine::{Event, EventKind, Outcome};

/// A store that counts, per key, the records it hands out and takes in.
#[derive(Default)]
struct Counting {
    inner: MemoryStore,
    reads: Mutex<BTreeMap<Key, usize>>,
    writes: Mutex<BTreeMap<Key, usize>>,
    calls: Mutex<usize>,
}

impl Counting {
    fn read(&self, key: &Key) {
        *self.reads.lock().unwrap().entry(key.clone()).or_default() += 1;
    }
    fn call(&self) {
        *self.calls.lock().unwrap() += 1;
    }
    fn calls(&self) -> usize {
        *self.calls.lock().unwrap()
    }
    /// The keys read and written more than once since the last reset.
    fn again_and_reset(&self) -> (Vec<Key>, Vec<Key>) {
        let again = |m: &Mutex<BTreeMap<Key, usize>>| {
            let mut m = m.lock().unwrap();
            let again = m.iter().filter(|(_, n)| **n > 1).map(|(k, _)| k.clone()).collect();
            m.clear();
            again
        };
        (again(&self.reads), again(&self.writes))
    }
}

impl Store for Counting {
    fn get(&self, key: &Key) -> Result<Option<Versioned>, StoreError> {
        self.call();
        self.read(key);
        self.inner.get(key)
    }
    fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Versioned>>, StoreError> {
        self.call();
        keys.iter().for_each(|k| self.read(k));
        self.inner.get_many(keys)
    }
    fn scan(&self, range: &KeyRange, limit: usize) -> Result<Vec<(Key, Versioned)>, StoreError> {
        self.call();
        let found = self.inner.scan(range, limit)?;
        found.iter().for_each(|(k, _)| self.read(k));
        Ok(found)
    }
    fn stored_event(&self, key: &EventKey) -> Result<Option<StoredEvent>, StoreError> {
        self.call();
        self.inner.stored_event(key)
    }
    fn forget_outcomes(&self, before: chrono::DateTime<chrono::Utc>, limit: usize) -> Result<usize, StoreError> {
        self.inner.forget_outcomes(before, limit)
    }
    fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        self.call();
        for w in &commit.writes {
            *self.writes.lock().unwrap().entry(w.key().clone()).or_default() += 1;
        }
        self.inner.commit(commit)
    }
}

fn engine<S: Store>(store: S) -> Engine<S> {
    let spec: ProgramSpec = serde_json::from_str(
        r#"{"id":"p","name":"P","currency":"USD","attribution":{"model":"last_touch"},
        "qualification":{"first_purchase":{"minimum":"20.00"}},"qualification_window_days":30,
        "hold_days":7,"limits":{"budgets":["1000.00 USD"],"max_rewarded_referrals":5},
        "policies":[
          {"type":"two_sided","name":"both",
           "referrer":{"on":"qualified","reward":{"fixed":"10.00 USD"}},
           "referee":{"on":"qualified","reward":{"fixed":"5.00 USD"}}},
          {"type":"one_sided","name":"hello","on":"sign_up","reward":{"fixed":"1.00 USD"}},
          {"type":"revenue_share","name":"share","percent":"10","months":12}]}"#,
    )
    .unwrap();
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    Engine::new(store)
        .with_clock(ManualClock::new(start))
        .with_random(SeededRandom::new(7))
        .with_program(spec.build().unwrap())
}

fn pid(s: &str) -> ParticipantId {
    ParticipantId::new(s).unwrap()
}

/// Enrollments, sign-ups (one re-attributed), purchases below and above
/// the minimum, a refund, a refused event, a replay, a tick and a payout.
fn events(codes: &dyn Fn(&str) -> String) -> Vec<EventKind> {
    let usd = |s: &str| s.parse().unwrap();
    vec![
        SignUp::new(pid("bob"), codes("ann")).into(),
        SignUp::new(pid("cy"), codes("ann")).into(),
        SignUp::new(pid("cy"), codes("dan")).into(),
        SignUp::new(pid("eve"), "NOSUCHCODE").into(),
        Purchase::new(pid("bob"), OrderId::new("o1").unwrap(), usd("10.00 USD")).into(),
        Purchase::new(pid("bob"), OrderId::new("o2").unwrap(), usd("50.00 USD")).into(),
        Purchase::new(pid("cy"), OrderId::new("o3").unwrap(), usd("80.00 USD")).into(),
        Refund::new(OrderId::new("o2").unwrap(), usd("20.00 USD")).into(),
        EventKind::Tick,
        Payout::new("p1".parse().unwrap(), "USD".parse().unwrap()).into(),
    ]
}

fn enroll(who: &str) -> EventKind {
    Enroll::new(pid(who)).into()
}

/// Runs every event through `send` and returns the outcomes.
fn run(send: &mut dyn FnMut(&Event) -> Result<Outcome, Error>) -> Vec<Result<Outcome, String>> {
    let mut answers = Vec::new();
    let mut codes = BTreeMap::new();
    for (n, who) in ["ann", "dan"].into_iter().enumerate() {
        let out = send(&Event::new(&format!("enroll-{n}"), "p", enroll(who)).unwrap()).unwrap();
        codes.insert(who.to_owned(), out.codes[0].to_string());
        answers.push(Ok(out));
    }
    let events = events(&|who| codes[who].clone());
    for (n, kind) in events.into_iter().enumerate() {
        let event = Event::new(&format!("e{n}"), "p", kind).unwrap();
        answers.push(send(&event).map_err(|e| e.to_string()));
        if n == 1 {
            answers.push(send(&event).map_err(|e| e.to_string())); // a replay
        }
    }
    answers
}

/// The driver an async host would write, here with blocking calls:
/// decide against the snapshot, fetch what it lacks, decide again.
fn by_snapshots(engine: &Engine<Counting>, event: &Event, rounds: &mut usize) -> Result<Outcome, Error> {
    let mut snapshot = Snapshot::new(engine.clock().now());
    loop {
        let calls = engine.store().calls();
        let step = engine.decide_against(&snapshot, event)?;
        assert_eq!(engine.store().calls(), calls, "a decision called the store");
        match step {
            Step::Needs(needs) => {
                assert!(!needs.is_empty());
                *rounds += 1;
                assert!(*rounds < 1000, "{}: still needs {needs:?}", event.key);
                snapshot.fetch(engine.store(), needs)?;
            }
            Step::Done(answer, commit) => {
                if let Some(commit) = commit {
                    engine.store().commit(&commit)?;
                }
                return answer.map_err(Error::from);
            }
            other => panic!("a step this driver does not know: {other:?}"),
        }
    }
}

#[test]
fn a_decision_against_a_snapshot_calls_no_store_and_ends_where_handle_does() {
    let direct = engine(MemoryStore::new());
    let expected = run(&mut |e| flat(direct.handle(e)));
    let offline = engine(Counting::default());
    let mut rounds = 0;
    let answers = run(&mut |e| by_snapshots(&offline, e, &mut rounds));
    assert_eq!(answers, expected);
    assert!(expected.iter().any(Result::is_err), "a refusal is among them");
    assert!(rounds > answers.len(), "the snapshots started empty and grew");
    assert_eq!(offline.store().inner.dump(), direct.store().dump());
}

#[test]
fn an_event_reads_each_record_at_most_once_and_writes_it_at_most_once() {
    let engine = engine(Counting::default());
    let answers = run(&mut |e| {
        let answer = flat(engine.handle(e));
        let (reads, writes) = engine.store().again_and_reset();
        assert!(reads.is_empty() && writes.is_empty(), "{}: read again {reads:?}, written again {writes:?}", e.key);
        answer
    });
    assert!(answers.iter().filter(|a| a.is_ok()).count() > 8);
}

fn flat(
    handled: Result<Result<referral_engine::Outcome, referral_engine::Refusal>, referral_engine::Error>,
) -> Result<referral_engine::Outcome, referral_engine::Error> {
    handled.and_then(|answer| answer.map_err(referral_engine::Error::from))
}

/// A twin of the event commits between two rounds of a snapshot decision
/// that looked the event key up first (as a retry does): the records then
/// show the twin's effects (bob already referred), and the key read as
/// absent in the first round must not stand beside them. The answer is the
/// twin's outcome, a replay, not a refusal.
#[test]
fn a_twin_committed_between_rounds_replays_rather_than_refuses() {
    let engine = engine(Counting::default());
    let enrolled = flat(engine.handle(&Event::new("enroll", "p", enroll("ann")).unwrap())).unwrap();
    let sign_up = Event::new("s1", "p", SignUp::new(pid("bob"), enrolled.codes[0].to_string())).unwrap();
    let mut snapshot = Snapshot::new(engine.clock().now());
    let Step::Needs(first) = engine.decide_against(&snapshot, &sign_up).unwrap() else { panic!("decided on nothing") };
    assert_eq!(first.events, vec![sign_up.key.clone()], "a snapshot decision looks the key up first");
    snapshot.fetch(engine.store(), first).unwrap();
    let twin = flat(engine.handle(&sign_up)).unwrap(); // the twin commits now
    let answer = loop {
        match engine.decide_against(&snapshot, &sign_up).unwrap() {
            Step::Needs(needs) => snapshot.fetch(engine.store(), needs).unwrap(),
            Step::Done(answer, commit) => {
                assert!(commit.is_none(), "nothing to commit for a replay");
                break answer;
            }
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(answer.map_err(|r| r.to_string()), Ok(twin));
}
