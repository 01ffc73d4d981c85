//! Per-event cost of the engine, each beside a baseline doing the least work
//! the same job takes, in the same run. See BENCHMARKS.md.

use referral_engine::event::{Enroll, Purchase, SignUp};
use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use referral_engine::domain::code::SeededRandom;
use referral_engine::store::Store;
use referral_engine::{Engine, Event, EventKind, ManualClock, MemoryStore, ParticipantId, ProgramSpec};
use rust_decimal::Decimal;

const TWO_SIDED: &str = r#"{
    "id": "bench", "name": "Bench", "currency": "USD",
    "qualification": {"first_purchase": {}},
    "policies": [{"type": "two_sided", "name": "bounty",
        "referrer": {"on": "qualified", "reward": {"fixed": "10.00 USD"}},
        "referee":  {"on": "qualified", "reward": {"fixed": "5.00 USD"}}}]
}"#;

fn engine_with<S: Store>(store: S, json: &str) -> Engine<S> {
    let program = serde_json::from_str::<ProgramSpec>(json).unwrap().build().unwrap();
    Engine::new(store)
        .with_clock(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()))
        .with_random(SeededRandom::new(1))
        .with_program(program)
}

fn ev(key: String, program: &str, kind: EventKind) -> Event {
    Event::new(&key, program, kind).unwrap()
}

fn p(s: String) -> ParticipantId {
    ParticipantId::new(s).unwrap()
}

/// Sends a sign-up and a qualifying purchase for referee `n` of `referrer`.
pub fn signup_and_purchase<S: Store>(engine: &Engine<S>, program: &str, code: &str, n: u64) {
    let referee = p(format!("friend-{n}"));
    engine.handle(&ev(format!("s{n}"), program, SignUp::new(referee.clone(), code).into())).unwrap().unwrap();
    let order = format!("o{n}").parse().unwrap();
    engine
        .handle(&ev(format!("b{n}"), program, Purchase::new(referee, order, "25.00 USD".parse().unwrap()).into()))
        .unwrap()
        .unwrap();
}

fn enroll<S: Store>(engine: &Engine<S>, program: &str, who: &str, code: &str) {
    let kind: EventKind = Enroll::new(p(who.into())).with_vanity_code(code).into();
    engine.handle(&ev(format!("enroll-{who}"), program, kind)).unwrap().unwrap();
}

/// The least the same job needs in memory: look the code up, check and insert
/// the referral, record the idempotency keys and the order, append four
/// ledger rows, and add to two balances.
#[derive(Default)]
pub struct Baseline {
    codes: HashMap<String, String>,
    referrals: HashMap<String, (String, bool)>,
    seen: HashMap<String, ()>,
    orders: HashMap<String, Decimal>,
    ledger: Vec<(String, Decimal)>,
    balances: HashMap<String, Decimal>,
}

impl Baseline {
    pub fn signup_and_purchase(&mut self, code: &str, n: u64) {
        let referee = format!("friend-{n}");
        self.seen.insert(format!("s{n}"), ());
        let referrer = self.codes.get(code).cloned().unwrap();
        assert!(self.referrals.insert(referee.clone(), (referrer, false)).is_none());
        self.seen.insert(format!("b{n}"), ());
        self.orders.insert(format!("o{n}"), Decimal::new(2500, 2));
        let (referrer, qualified) = self.referrals.get_mut(&referee).unwrap();
        if !*qualified {
            *qualified = true;
            let referrer = referrer.clone();
            for (who, amount) in [(referrer, Decimal::new(1000, 2)), (referee, Decimal::new(500, 2))] {
                self.ledger.push((who.clone(), amount));
                *self.balances.entry(who).or_default() += amount;
            }
        }
    }
}

/// A digest of an event's payload, as the same-facts baseline keeps it.
fn digest(parts: &[&str]) -> [u8; 16] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in parts {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let mut out = [0; 16];
    out.copy_from_slice(&h.finalize()[..16]);
    out
}

/// The same facts the engine promises for a sign-up and its qualifying
/// purchase, and no more, in hash maps: each event key with a digest of its
/// payload (a key reused with another payload is refused); the code's owner
/// looked up; the referral, refused for a referee referred before; the
/// order; one ledger entry per reward and the balances they move; the
/// program's counters; one outbox row per event.
#[derive(Default)]
pub struct SameFacts {
    codes: HashMap<String, String>,
    events: HashMap<String, [u8; 16]>,
    referrals: HashMap<String, (String, bool)>,
    orders: HashMap<String, (String, Decimal)>,
    ledger: Vec<(String, String, Decimal)>,
    balances: HashMap<String, Decimal>,
    counters: [u64; 4],
    outbox: Vec<(String, &'static str)>,
}

impl SameFacts {
    fn event(&mut self, key: String, digest: [u8; 16]) -> bool {
        match self.events.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => {
                assert_eq!(*e.get(), digest, "key reused");
                false
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(digest);
                true
            }
        }
    }

    pub fn signup_and_purchase(&mut self, code: &str, n: u64) {
        let referee = format!("friend-{n}");
        let key = format!("s{n}");
        if self.event(key.clone(), digest(&["sign_up", &referee, code])) {
            let referrer = self.codes.get(code).cloned().unwrap();
            assert!(!self.referrals.contains_key(&referee), "referred before");
            self.referrals.insert(referee.clone(), (referrer, false));
            self.counters[0] += 1;
            self.outbox.push((key, "referral_created"));
        }
        let (key, order, amount) = (format!("b{n}"), format!("o{n}"), Decimal::new(2500, 2));
        if self.event(key.clone(), digest(&["purchase", &referee, &order, "25.00 USD"])) {
            self.orders.insert(order.clone(), (referee.clone(), amount));
            let (referrer, qualified) = self.referrals.get_mut(&referee).unwrap();
            if !*qualified {
                *qualified = true;
                let referrer = referrer.clone();
                for (who, reward) in [(referrer, Decimal::new(1000, 2)), (referee, Decimal::new(500, 2))] {
                    self.ledger.push((who.clone(), order.clone(), reward));
                    *self.balances.entry(who).or_default() += reward;
                }
                self.counters[1] += 1;
                self.counters[2] += 2;
            }
            self.outbox.push((key, "rewards_granted"));
        }
    }
}

fn memory(c: &mut Criterion) {
    let mut group = c.benchmark_group("memory: sign-up + qualifying purchase, two-sided");
    let engine = engine_with(MemoryStore::new(), TWO_SIDED);
    enroll(&engine, "bench", "alice", "ALICE");
    let mut n = 0;
    group.bench_function("engine", |b| {
        b.iter(|| {
            n += 1;
            signup_and_purchase(&engine, "bench", "ALICE", black_box(n));
        })
    });
    let mut base = Baseline::default();
    base.codes.insert("ALICE".into(), "alice".into());
    let mut m = 0;
    group.bench_function("baseline (hash maps)", |b| {
        b.iter(|| {
            m += 1;
            base.signup_and_purchase("ALICE", black_box(m));
        })
    });
    let mut same = SameFacts::default();
    same.codes.insert("ALICE".into(), "alice".into());
    let mut k = 0;
    group.bench_function("baseline (same facts, hash maps)", |b| {
        b.iter(|| {
            k += 1;
            same.signup_and_purchase("ALICE", black_box(k));
        })
    });
    group.finish();
}

fn multi_level(c: &mut Criterion) {
    let mut group = c.benchmark_group("multi-level: one qualifying sign-up at the bottom of a chain");
    for depth in [1u8, 3, 10] {
        let levels: Vec<String> =
            (1..=depth).map(|l| format!(r#"{{"level": {l}, "reward": {{"fixed": "1.00 USD"}}}}"#)).collect();
        let json = format!(
            r#"{{"id": "ml", "name": "ML", "currency": "USD",
                "policies": [{{"type": "multi_level", "name": "chain", "on": "qualified", "levels": [{}]}}]}}"#,
            levels.join(",")
        );
        let engine = engine_with(MemoryStore::new(), &json);
        // A chain of `depth` referrers: r0 <- r1 <- ... <- r{depth-1}.
        enroll(&engine, "ml", "r0", "CODE0");
        for i in 1..usize::from(depth) {
            engine
                .handle(&ev(
                    format!("chain-{i}"),
                    "ml",
                    SignUp::new(p(format!("r{i}")), format!("CODE{}", i - 1)).into(),
                ))
                .unwrap()
                .unwrap();
            enroll(&engine, "ml", &format!("r{i}"), &format!("CODE{i}"));
        }
        let code = format!("CODE{}", depth - 1);
        let mut n = 0;
        group.bench_with_input(BenchmarkId::new("depth", depth), &depth, |b, _| {
            b.iter(|| {
                n += 1;
                engine
                    .handle(&ev(format!("x{n}"), "ml", SignUp::new(p(format!("leaf-{n}")), code.as_str()).into()))
                    .unwrap()
                    .unwrap();
            })
        });
    }
    group.finish();
}

fn dashboard(c: &mut Criterion) {
    let mut group = c.benchmark_group("dashboard read (referrer record)");
    for events in [1_000u64, 100_000] {
        let engine = engine_with(MemoryStore::new(), TWO_SIDED);
        enroll(&engine, "bench", "alice", "ALICE");
        for n in 0..events / 2 {
            signup_and_purchase(&engine, "bench", "ALICE", n);
        }
        let (program, alice) = ("bench".parse().unwrap(), p("alice".into()));
        group.bench_with_input(BenchmarkId::new("after events", events), &events, |b, _| {
            b.iter(|| black_box(engine.read(&program).participant(&alice).unwrap()))
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = memory, multi_level, dashboard }
criterion_main!(benches);
