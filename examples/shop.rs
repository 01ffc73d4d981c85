//! A shop: the referrer gets 5% of the friend's first order as store credit,
//! the friend a 10%-off voucher when they sign up.
//!
//! Run: `cargo run --example shop`

use referral_engine::event::{Enroll, Purchase, SignUp};
use std::error::Error;
use std::fmt::Write as _;

use referral_engine::{Engine, Event, EventKind, ManualClock, MemoryStore, ProgramSpec};

const PROGRAM: &str = r#"{
    "id": "shop", "name": "Give 10%, get 5%", "currency": "EUR",
    "qualification": {"first_purchase": {"minimum": "20.00"}},
    "policies": [{"type": "two_sided", "name": "credit-and-voucher",
        "referrer": {"on": "first_purchase", "reward": {"percent": "5"}},
        "referee":  {"on": "sign_up",        "reward": {"fixed": "10 discount"}}}]
}"#;

/// Runs the scenario; returns the engine (for checks) and the printed report.
pub fn run() -> Result<(Engine<MemoryStore>, String), Box<dyn Error>> {
    let program = serde_json::from_str::<ProgramSpec>(PROGRAM)?.build()?;
    let clock = ManualClock::new("2026-05-01T10:00:00Z".parse()?);
    let engine = Engine::new(MemoryStore::new()).with_clock(clock).with_program(program);
    let send = |key: &str, kind: EventKind| {
        engine.handle(&Event::new(key, "shop", kind)?)?.map_err(referral_engine::Error::from)
    };

    let enrolled = send("enroll", Enroll::new("mia".parse()?).into())?;
    let code = enrolled.codes.first().ok_or("no code issued")?.to_string();
    send("signup", SignUp::new("leo".parse()?, code).into())?;
    send("order-1", Purchase::new("leo".parse()?, "A-1001".parse()?, "84.90 EUR".parse()?).into())?;
    send("order-2", Purchase::new("leo".parse()?, "A-1002".parse()?, "30.00 EUR".parse()?).into())?;

    let program = "shop".parse()?;
    let mut report = String::new();
    for (who, asset) in [("mia", "EUR"), ("leo", "discount")] {
        for entry in engine.read(&program).statement(&who.parse()?).all()? {
            if entry.value.asset() == &asset.parse()? {
                writeln!(report, "{who:<4} {:>12}  {}", entry.value.to_string(), entry.explanation)?;
            }
        }
    }
    Ok((engine, report))
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let (_, report) = run()?;
    print!("{report}");
    Ok(())
}
