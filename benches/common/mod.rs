//! What the benchmarks share: the programs, the drivers of the engine and
//! the baselines that do the same job by hand (memory here; SQLite in
//! `sqlite`). Included by each bench with `mod common;`; a bench uses what
//! it needs.
#![allow(dead_code)]

use referral_engine::event::{Enroll, Purchase, SignUp};
use std::collections::HashMap;

use referral_engine::domain::code::SeededRandom;
use referral_engine::store::Store;
use referral_engine::{Engine, Event, EventKind, ManualClock, ParticipantId, ProgramSpec};
use rust_decimal::Decimal;

pub mod sqlite;

pub const TWO_SIDED: &str = r#"{
    "id": "bench", "name": "Bench", "currency": "USD",
    "qualification": {"first_purchase": {}},
    "policies": [{"type": "two_sided", "name": "bounty",
        "referrer": {"on": "qualified", "reward": {"fixed": "10.00 USD"}},
        "referee":  {"on": "qualified", "reward": {"fixed": "5.00 USD"}}}]
}"#;

pub fn engine_with<S: Store>(store: S, json: &str) -> Engine<S> {
    let program = serde_json::from_str::<ProgramSpec>(json).unwrap().build().unwrap();
    Engine::new(store)
        .with_clock(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()))
        .with_random(SeededRandom::new(1))
        .with_program(program)
}

pub fn ev(key: String, program: &str, kind: EventKind) -> Event {
    Event::new(&key, program, kind).unwrap()
}

pub fn p(s: String) -> ParticipantId {
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

pub fn enroll<S: Store>(engine: &Engine<S>, program: &str, who: &str, code: &str) {
    let kind: EventKind = Enroll::new(p(who.into())).with_vanity_code(code).into();
    engine.handle(&ev(format!("enroll-{who}"), program, kind)).unwrap().unwrap();
}

/// The least the same job needs in memory: look the code up, check and insert
/// the referral, record the idempotency keys and the order, append four
/// ledger rows, and add to two balances.
#[derive(Default)]
pub struct Baseline {
    pub codes: HashMap<String, String>,
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
pub fn digest(parts: &[&str]) -> [u8; 16] {
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
    pub codes: HashMap<String, String>,
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
