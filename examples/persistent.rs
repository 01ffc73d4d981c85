//! A program that continues across restarts, kept in an SQLite file.
//!
//! Each run opens the file (creating and migrating it the first time), brings
//! one more friend in for the referrer, and prints what the file holds. Run it
//! twice and the second run continues where the first stopped:
//!
//! `cargo run --example persistent --features sqlite -- /tmp/referrals.db`

use referral_engine::event::{Enroll, SignUp};
use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;

use referral_engine::clock::SystemClock;
use referral_engine::store::sqlite::SqliteStore;
use referral_engine::{Engine, Event, ParticipantId, ProgramSpec};

const PROGRAM: &str = r#"{
    "id": "persistent", "name": "Bring a friend", "currency": "USD",
    "policies": [{"type": "two_sided", "name": "credit",
        "referrer": {"on": "qualified", "reward": {"fixed": "10.00 USD"}},
        "referee":  {"on": "qualified", "reward": {"fixed": "5.00 USD"}}}]
}"#;

/// Opens the file, adds one friend, and reports how many friends the referrer has.
pub fn run(path: &Path) -> Result<String, Box<dyn Error>> {
    let store = SqliteStore::open(path)?;
    store.migrate()?;
    let program = serde_json::from_str::<ProgramSpec>(PROGRAM)?.build()?;
    let engine = Engine::new(store).with_clock(SystemClock).with_program(program);
    let program = "persistent".parse()?;
    let host: ParticipantId = "host".parse()?;

    // Enrolling is idempotent by its key: the second run gets the first outcome back.
    let enrolled = engine.handle(&Event::new("enroll-host", "persistent", Enroll::new(host.clone()))?)??;
    let code = enrolled.codes.first().ok_or("no code issued")?.to_string();
    let friends = engine.read(&program).participant(&host)?.map_or(0, |p| p.stats.signups);
    let friend = format!("friend-{}", friends + 1);
    engine.handle(&Event::new(&format!("signup-{friend}"), "persistent", SignUp::new(friend.parse()?, code))?)??;

    let mut report = String::new();
    let host_now = engine.read(&program).participant(&host)?.ok_or("host unknown")?;
    writeln!(report, "{} holds {} friends of host", path.display(), host_now.stats.signups)?;
    writeln!(report, "host has {} USD available", host_now.balance(&"USD".parse()?).available)?;
    Ok(report)
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "referrals.db".into());
    print!("{}", run(Path::new(&path))?);
    Ok(())
}
