//! Each bad input returns its own specific error and writes nothing.

mod common;
use chrono::Duration;
use common::*;
use referral_engine::Refusal;
use referral_engine::domain::code::{ReferralCode, SeededRandom};
use referral_engine::domain::id::IdError;
use referral_engine::event::{Enroll, Purchase, Refund, SignUp};
use referral_engine::program::ProgramStatus;
use referral_engine::{Engine, Error, Event, EventKind, ManualClock, MemoryStore, ParticipantId};

const PROGRAM: &str = r#"{
    "id": "p", "name": "P", "currency": "USD",
    "attribution": {"model": "first_touch", "window_days": 30},
    "qualification": {"first_purchase": {}},
    "policies": [{"type": "one_sided", "name": "share", "on": "every_purchase", "reward": {"percent": "10"}}]
}"#;

/// A world with alice enrolled, bob referred by her, and order o-1 of 100 USD.
fn world() -> (World, ReferralCode) {
    let w = World::new(program(PROGRAM));
    let code = w.enroll("alice");
    w.sign_up("bob", &code).unwrap();
    w.purchase("bob", "o-1", "100.00 USD").unwrap();
    (w, code)
}

/// Sends `kind`, asserts the error matches, and that the store is unchanged.
fn refused(w: &World, kind: EventKind, check: impl FnOnce(&Error) -> bool) {
    let before = w.engine.store().dump();
    let err = w.send(kind).expect_err("the event should be refused");
    assert!(check(&err), "unexpected error: {err:?}");
    assert_eq!(w.engine.store().dump(), before, "a refused event wrote something");
}

fn sign_up(referee: &str, code: &str) -> EventKind {
    SignUp::new(pid(referee), code).into()
}

#[test]
fn unknown_code() {
    let (w, _) = world();
    refused(
        &w,
        sign_up("carl", "ZZZZ-ZZZZ-ZZ"),
        |e| matches!(e, Error::Refused(Refusal::UnknownCode(c)) if c.as_str() == "ZZZZZZZZZZ"),
    );
}

#[test]
fn malformed_code() {
    let (w, _) = world();
    refused(&w, sign_up("carl", "no_such!"), |e| matches!(e, Error::Refused(Refusal::MalformedCode(_))));
    refused(&w, sign_up("carl", "ab"), |e| matches!(e, Error::Refused(Refusal::MalformedCode(_))));
}

#[test]
fn code_of_another_program() {
    let clock = ManualClock::new(t0());
    let other = program(&PROGRAM.replace(r#""id": "p""#, r#""id": "other""#));
    let engine = Engine::new(MemoryStore::new())
        .with_clock(clock)
        .with_random(SeededRandom::new(1))
        .with_program(program(PROGRAM))
        .with_program(other);
    let enrolled = flat(engine.handle(&Event::new("e1", "other", Enroll::new(pid("olga"))).unwrap())).unwrap();
    let code = enrolled.codes[0].to_string();
    let before = engine.store().dump();
    let err = flat(engine.handle(&Event::new("e2", "p", sign_up("carl", &code)).unwrap())).unwrap_err();
    assert!(
        // Codes are per program: another program's code is unknown here, and
        // the answer names no other program.
        matches!(&err, Error::Refused(Refusal::UnknownCode(_))),
        "{err:?}"
    );
    assert_eq!(engine.store().dump(), before);
}

#[test]
fn program_not_active() {
    let spec =
        serde_json::from_str::<referral_engine::ProgramSpec>(PROGRAM).unwrap().with_status(ProgramStatus::Paused);
    let w = World::new(spec.build().unwrap());
    refused(&w, Enroll::new(pid("alice")).into(), |e| {
        matches!(e, Error::Refused(Refusal::ProgramNotActive { status: ProgramStatus::Paused, .. }))
    });
}

#[test]
fn program_outside_its_dates() {
    let json = PROGRAM.replace(r#""currency": "USD","#, r#""currency": "USD", "starts_at": "2026-02-01T00:00:00Z","#);
    let w = World::new(program(&json));
    refused(&w, Enroll::new(pid("alice")).into(), |e| matches!(e, Error::Refused(Refusal::OutsideProgramDates { .. })));
}

#[test]
fn self_referral() {
    let (w, code) = world();
    refused(
        &w,
        sign_up("alice", code.as_str()),
        |e| matches!(e, Error::Refused(Refusal::SelfReferral(p)) if p.as_str() == "alice"),
    );
}

#[test]
fn referee_already_referred_first_touch() {
    let (w, _) = world();
    let other = w.enroll("zoe");
    refused(
        &w,
        sign_up("bob", other.as_str()),
        |e| matches!(e, Error::Refused(Refusal::AlreadyReferred { referee }) if referee.as_str() == "bob"),
    );
}

#[test]
fn sign_up_after_the_attribution_window() {
    let (w, code) = world();
    let clicked = w.clock.now_for_tests() - Duration::days(31);
    let kind: EventKind = SignUp::new(pid("carl"), code.to_string()).clicked_at(clicked).into();
    refused(&w, kind, |e| matches!(e, Error::Refused(Refusal::AttributionWindowPassed { window_days: 30, .. })));
}

#[test]
fn zero_or_negative_amount() {
    let (w, _) = world();
    refused(&w, Purchase::new(pid("bob"), "o-2".parse().unwrap(), value("0 USD")).into(), |e| {
        matches!(e, Error::Refused(Refusal::InvalidAmount(_)))
    });
    refused(&w, Purchase::new(pid("bob"), "o-2".parse().unwrap(), value("-5 USD")).into(), |e| {
        matches!(e, Error::Refused(Refusal::InvalidAmount(_)))
    });
    refused(&w, Refund::new("o-1".parse().unwrap(), value("0 USD")).into(), |e| {
        matches!(e, Error::Refused(Refusal::InvalidAmount(_)))
    });
}

#[test]
fn currency_mismatch() {
    let (w, _) = world();
    refused(
        &w,
        Purchase::new(pid("bob"), "o-2".parse().unwrap(), value("10 EUR")).into(),
        |e| matches!(e, Error::Refused(Refusal::CurrencyMismatch { expected, found }) if expected.to_string() == "USD" && found.to_string() == "EUR"),
    );
    refused(&w, Refund::new("o-1".parse().unwrap(), value("10 EUR")).into(), |e| {
        matches!(e, Error::Refused(Refusal::CurrencyMismatch { .. }))
    });
}

#[test]
fn refund_larger_than_what_is_left() {
    let (w, _) = world();
    w.refund("o-1", "60.00 USD").unwrap();
    refused(
        &w,
        Refund::new("o-1".parse().unwrap(), value("40.01 USD")).into(),
        |e| matches!(e, Error::Refused(Refusal::RefundExceedsOrder { remaining, .. }) if *remaining == dec("40.00")),
    );
}

#[test]
fn refund_of_an_unknown_order() {
    let (w, _) = world();
    refused(
        &w,
        Refund::new("nope".parse().unwrap(), value("1 USD")).into(),
        |e| matches!(e, Error::Refused(Refusal::UnknownOrder(o)) if o.as_str() == "nope"),
    );
}

#[test]
fn duplicate_enrollment() {
    let (w, _) = world();
    refused(
        &w,
        Enroll::new(pid("alice")).into(),
        |e| matches!(e, Error::Refused(Refusal::DuplicateEnrollment(p)) if p.as_str() == "alice"),
    );
}

#[test]
fn idempotency_key_reused_with_another_payload() {
    let (w, _) = world();
    let first = Event::new("same-key", "p", Enroll::new(pid("zoe"))).unwrap();
    flat(w.engine.handle(&first)).unwrap();
    let before = w.engine.store().dump();
    let other = Event::new("same-key", "p", Enroll::new(pid("yan"))).unwrap();
    let err = flat(w.engine.handle(&other)).unwrap_err();
    assert!(matches!(&err, Error::Refused(Refusal::KeyReused(k)) if k.as_str() == "same-key"), "{err:?}");
    assert_eq!(w.engine.store().dump(), before);
}

#[test]
fn empty_oversized_or_control_character_participant_ids() {
    assert!(matches!(ParticipantId::new(""), Err(IdError::Empty { .. })));
    assert!(matches!(ParticipantId::new("x".repeat(200)), Err(IdError::TooLong { len: 200, .. })));
    assert!(matches!(ParticipantId::new("a\u{7}b"), Err(IdError::ControlCharacter { .. })));
    // An event arriving as JSON with such an id never reaches the engine.
    for bad in ["\"\"", "\"a\\u0007b\"", &format!("\"{}\"", "x".repeat(200))] {
        let json = format!(r#"{{"key": "k", "program": "p", "kind": {{"type": "enroll", "participant": {bad}}}}}"#);
        assert!(serde_json::from_str::<Event>(&json).is_err(), "{json}");
    }
    let ok = r#"{"key": "k", "program": "p", "kind": {"type": "enroll", "participant": "fine"}}"#;
    assert!(serde_json::from_str::<Event>(ok).is_ok());
}
