//! Given/when/then helpers shared by the integration tests.
#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use referral_engine::domain::code::{ReferralCode, SeededRandom};
use referral_engine::domain::id::ProgramId;
use referral_engine::domain::ledger::Balance;
use referral_engine::domain::value::Asset;
use referral_engine::event::{Enroll, Purchase, Refund, SignUp};
use referral_engine::store::Store;
use referral_engine::{
    Engine, Error, Event, EventKind, ManualClock, MemoryStore, Outcome, ParticipantId, Program, ProgramSpec, Value,
};
use rust_decimal::Decimal;
use std::sync::atomic::{AtomicU64, Ordering};

/// An event's answer as one `Result`: a refusal becomes [`Error::Refused`].
pub fn flat(handled: Result<Result<Outcome, referral_engine::Refusal>, Error>) -> Result<Outcome, Error> {
    handled.and_then(|answer| answer.map_err(Error::from))
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).single().expect("valid date")
}

pub fn pid(s: &str) -> ParticipantId {
    ParticipantId::new(s).expect("valid participant id")
}

pub fn value(s: &str) -> Value {
    s.parse().expect("valid value")
}

pub fn asset(s: &str) -> Asset {
    s.parse().expect("valid asset")
}

pub fn dec(s: &str) -> Decimal {
    s.parse().expect("valid decimal")
}

/// `DATABASE_URL`, or `None` with a notice that the PostgreSQL test is
/// skipped; with `CI` set, its absence fails the test.
pub fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(std::env::var_os("CI").is_none(), "CI is set but DATABASE_URL is not");
            eprintln!("notice: DATABASE_URL is not set; skipping a PostgreSQL test");
            None
        }
    }
}

pub fn program(json: &str) -> Program {
    serde_json::from_str::<ProgramSpec>(json).expect("program json").build().expect("valid program")
}

/// A program under test: an engine, a manual clock, and numbered event keys.
pub struct World<S: Store = MemoryStore> {
    pub engine: Engine<S>,
    pub clock: ManualClock,
    pub program: ProgramId,
    next: AtomicU64,
}

impl World<MemoryStore> {
    pub fn new(program: Program) -> Self {
        Self::with_store(MemoryStore::new(), program)
    }
}

impl<S: Store> World<S> {
    pub fn from_parts(engine: Engine<S>, clock: ManualClock, program: ProgramId) -> Self {
        Self { engine, clock, program, next: AtomicU64::new(0) }
    }

    pub fn with_store(store: S, program: Program) -> Self {
        let clock = ManualClock::new(t0());
        let id = program.id().clone();
        let engine =
            Engine::new(store).with_clock(clock.clone()).with_random(SeededRandom::new(42)).with_program(program);
        Self { engine, clock, program: id, next: AtomicU64::new(0) }
    }

    pub fn event(&self, kind: EventKind) -> Event {
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        Event::new(&format!("e{n}"), self.program.as_str(), kind).expect("valid event")
    }

    /// Sends an event; a refusal comes back as [`Error::Refused`].
    pub fn send(&self, kind: EventKind) -> Result<Outcome, Error> {
        flat(self.engine.handle(&self.event(kind)))
    }

    pub fn ok(&self, kind: EventKind) -> Outcome {
        match self.send(kind) {
            Ok(o) => o,
            Err(e) => panic!("event refused: {e}"),
        }
    }

    pub fn advance(&self, days: i64) {
        self.clock.advance(Duration::days(days));
    }

    pub fn enroll(&self, who: &str) -> ReferralCode {
        let out = self.ok(Enroll::new(pid(who)).into());
        out.codes.first().cloned().expect("a code")
    }

    pub fn enroll_in(&self, who: &str, segment: &str) -> ReferralCode {
        let out = self.ok(Enroll::new(pid(who)).in_segment(segment).into());
        out.codes.first().cloned().expect("a code")
    }

    pub fn sign_up(&self, referee: &str, code: &ReferralCode) -> Result<Outcome, Error> {
        self.send(SignUp::new(pid(referee), code.to_string()).into())
    }

    pub fn purchase(&self, customer: &str, order: &str, amount: &str) -> Result<Outcome, Error> {
        self.send(Purchase::new(pid(customer), order.parse().expect("order id"), value(amount)).into())
    }

    pub fn refund(&self, order: &str, amount: &str) -> Result<Outcome, Error> {
        self.send(Refund::new(order.parse().expect("order id"), value(amount)).into())
    }

    pub fn tick(&self) -> Outcome {
        self.ok(EventKind::Tick)
    }

    pub fn balance(&self, who: &str, asset_text: &str) -> Balance {
        self.engine.read(&self.program).balance(&pid(who), &asset(asset_text)).expect("balance")
    }

    /// (pending, available, paid) of one participant in one asset.
    pub fn buckets(&self, who: &str, asset_text: &str) -> (Decimal, Decimal, Decimal) {
        let b = self.balance(who, asset_text);
        (b.pending, b.available, b.paid)
    }
}

pub trait NowForTests {
    fn now_for_tests(&self) -> DateTime<Utc>;
}

impl NowForTests for ManualClock {
    fn now_for_tests(&self) -> DateTime<Utc> {
        use referral_engine::Clock;
        self.now()
    }
}

/// Drops a PostgreSQL schema when it goes out of scope, so that the tests
/// leave nothing behind in a shared database.
#[cfg(feature = "postgres")]
pub struct DropSchema {
    /// Where.
    pub url: String,
    /// The schema.
    pub schema: String,
}

#[cfg(feature = "postgres")]
impl Drop for DropSchema {
    fn drop(&mut self) {
        // On a thread of its own: the sync client must not run on a tokio
        // runtime's thread, where an async test may drop its store.
        let (url, schema) = (self.url.clone(), self.schema.clone());
        let dropped = std::thread::spawn(move || {
            referral_engine::store::postgres::postgres::Client::connect(
                &url,
                referral_engine::store::postgres::postgres::NoTls,
            )
            .and_then(|mut c| c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")))
        })
        .join()
        .unwrap_or_else(|_| panic!("dropping a test schema panicked"));
        if let Err(e) = dropped {
            eprintln!("notice: could not drop test schema {}: {e}", self.schema);
        }
    }
}
