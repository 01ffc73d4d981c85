//! The same events fired from 8 threads at one shared MemoryStore take effect
//! exactly once, and leave exactly the state a serial run leaves.

mod common;
use std::sync::Arc;
use std::thread;

use common::*;
use referral_engine::{Engine, Event, EventKind, ManualClock, MemoryStore, SeededRandom};

const PROGRAM: &str = r#"{
    "id": "p", "name": "P", "currency": "USD",
    "limits": {"max_rewarded_referrals": 30, "budgets": ["1000.00 USD"]},
    "policies": [{"type": "two_sided", "name": "bounty",
        "referrer": {"on": "qualified", "reward": {"fixed": "20.00 USD"}},
        "referee":  {"on": "qualified", "reward": {"fixed": "15.00 USD"}}}]
}"#;

fn events() -> Vec<Event> {
    let mut kinds = vec![EventKind::Enroll {
        participant: pid("alice"),
        segment: None,
        attributes: Default::default(),
        vanity_code: Some("ALICE-2026".into()),
        signals: vec![],
    }];
    for i in 0..40 {
        kinds.push(EventKind::sign_up(pid(&format!("friend-{i}")), "alice-2026"));
        kinds.push(EventKind::purchase(
            pid(&format!("friend-{i}")),
            format!("o-{i}").parse().unwrap(),
            value("30.00 USD"),
        ));
    }
    kinds.into_iter().enumerate().map(|(i, k)| Event::new(&format!("e{i}"), "p", k).unwrap()).collect()
}

fn engine() -> Engine<Arc<MemoryStore>> {
    Engine::new(Arc::new(MemoryStore::new()))
        .with_clock(ManualClock::new(t0()))
        .with_random(SeededRandom::new(3))
        .with_program(program(PROGRAM))
}

#[test]
fn eight_threads_sending_the_same_events_take_effect_exactly_once() {
    let serial = engine();
    let events = events();
    let outcomes: Vec<_> = events.iter().map(|e| serial.handle(e).unwrap()).collect();

    let shared = Arc::new(engine());
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let engine = Arc::clone(&shared);
            let events = events.clone();
            thread::spawn(move || events.iter().map(|e| engine.handle(e).unwrap()).collect::<Vec<_>>())
        })
        .collect();
    for h in handles {
        // Every thread sees the same outcome for each event: the first one.
        assert_eq!(h.join().unwrap(), outcomes);
    }

    let program = "p".parse().unwrap();
    let usd = asset("USD");
    let alice = shared.balance(&program, &pid("alice"), &usd).unwrap();
    // The budget of 1000 USD runs out part-way, and is used exactly, never crossed.
    let state = shared.program_state(&program).unwrap();
    assert_eq!(state.granted_in(&usd), dec("1000.00"));
    assert_eq!(
        alice.available
            + (0..40)
                .map(|i| shared.balance(&program, &pid(&format!("friend-{i}")), &usd).unwrap().available)
                .sum::<rust_decimal::Decimal>(),
        dec("1000.00")
    );
    assert_eq!(state.totals.signups, 40);
    assert_eq!(state.totals.qualified, 40);
    assert_eq!(shared.store().dump(), serial.store().dump());
}
