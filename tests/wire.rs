//! The JSON a host sees: what `handle` answers and what reads return,
//! serialized as a host returns them (flat: `"role":"referrer"`).
#![allow(clippy::unwrap_used)]

use referral_engine::event::{Enroll, Purchase, SignUp};
use referral_engine::{Engine, Event, ManualClock, MemoryStore, ProgramSpec};
use serde_json::json;

#[test]
fn an_outcome_serializes_flat() {
    let program = ProgramSpec::from_json(
        r#"{"id": "shop", "name": "Shop", "currency": "USD", "hold_days": 7,
            "qualification": {"first_purchase": {}},
            "policies": [{"type": "one_sided", "name": "bounty", "on": "qualified", "reward": {"fixed": "5.00 USD"}}]}"#,
    )
    .unwrap()
    .build()
    .unwrap();
    let clock = ManualClock::new("2026-01-01T09:00:00Z".parse().unwrap());
    let engine = Engine::new(MemoryStore::new()).with_clock(clock).with_program(program);
    let handle = |key: &str, kind: referral_engine::EventKind| {
        engine.handle(&Event::new(key, "shop", kind).unwrap()).unwrap().unwrap()
    };
    let code = handle("e1", Enroll::new("ann".parse().unwrap()).into()).codes[0].to_string();
    handle("e2", SignUp::new("bob".parse().unwrap(), code).into());
    let bought =
        handle("e3", Purchase::new("bob".parse().unwrap(), "o1".parse().unwrap(), "20.00 USD".parse().unwrap()).into());
    let wire = serde_json::to_value(&bought).unwrap();
    let reward = &wire["rewards"][0];
    assert_eq!(reward["role"], json!("referrer"));
    assert_eq!(reward["status"], json!({"pending": "2026-01-08T09:00:00Z"}));
    assert_eq!(wire["entries"][0]["kind"], json!("grant"));
    assert_eq!(wire["referrals"][0]["status"], json!("rewarded"));
    assert_eq!(wire["referrals"][0]["history"][0]["to"], json!("attributed"));
    // And back: what a host stored or queued reads as it was.
    assert_eq!(serde_json::from_value::<referral_engine::Outcome>(wire).unwrap(), bought);
}
