//! What every example sets up, once: a program read from its JSON, the
//! in-memory store, a clock the example moves, and events sent under keys of
//! their own. (Not an example itself: each example includes it.)
#![allow(dead_code)]

use std::cell::Cell;
use std::error::Error;

use referral_engine::domain::id::ProgramId;
use referral_engine::engine::Reader;
use referral_engine::{Engine, Event, EventKind, ManualClock, MemoryStore, Outcome, ProgramSpec};
use rust_decimal::Decimal;

/// One program on a [`MemoryStore`], with a manual clock.
pub struct Demo {
    /// The engine, returned to the tests that check what an example printed.
    pub engine: Engine<MemoryStore>,
    /// The clock: it stands still until the example moves it.
    pub clock: ManualClock,
    /// The program's id.
    pub program: ProgramId,
    sent: Cell<u32>,
}

impl Demo {
    /// The program in `json`, its clock at `start` (RFC 3339).
    pub fn new(json: &str, start: &str) -> Result<Self, Box<dyn Error>> {
        let program = ProgramSpec::from_json(json)?.build()?;
        let clock = ManualClock::new(start.parse()?);
        let id = program.id().clone();
        let engine = Engine::new(MemoryStore::new()).with_clock(clock.clone()).with_program(program);
        Ok(Self { engine, clock, program: id, sent: Cell::new(0) })
    }

    /// Sends an event under the next key (`event-1`, `event-2`, ...); a
    /// refusal comes back as an error.
    pub fn send(&self, kind: impl Into<EventKind>) -> Result<Outcome, referral_engine::Error> {
        let n = self.sent.get() + 1;
        self.sent.set(n);
        self.send_as(&format!("event-{n}"), kind)
    }

    /// Sends an event under a key of the example's own.
    pub fn send_as(&self, key: &str, kind: impl Into<EventKind>) -> Result<Outcome, referral_engine::Error> {
        let event = Event::new(key, self.program.as_str(), kind.into())?;
        Ok(self.engine.handle(&event)??)
    }

    /// Enrolls a referrer; their first code.
    pub fn enroll(&self, who: &str) -> Result<String, Box<dyn Error>> {
        let enrolled = self.send(referral_engine::event::Enroll::new(who.parse()?))?;
        Ok(enrolled.codes.first().ok_or("no code issued")?.to_string())
    }

    /// The program's read side.
    pub fn read(&self) -> Reader<'_, MemoryStore> {
        self.engine.read(&self.program)
    }

    /// What `who` has available in `asset` (`"USD"`, `"points"`, `"unit:MB"`).
    pub fn available(&self, who: &str, asset: &str) -> Result<Decimal, Box<dyn Error>> {
        Ok(self.read().balance(&who.parse()?, &asset.parse()?)?.available)
    }
}
