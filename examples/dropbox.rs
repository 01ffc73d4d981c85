//! Dropbox: 500 MB to each side when the friend installs the app; a referrer
//! is rewarded for at most 32 friends.
//!
//! One referrer brings 40 friends who all install: she ends with 16000 MB
//! (32 rewarded, the other 8 recorded as over the cap), each friend with 500 MB.
//!
//! Run: `cargo run --example dropbox`

#[path = "common/mod.rs"]
mod common;

use std::error::Error;
use std::fmt::Write as _;

use referral_engine::domain::referral::ReferralStatus;
use referral_engine::event::{Action, SignUp};
use referral_engine::{Engine, MemoryStore, Notice};

const PROGRAM: &str = r#"{
    "id": "dropbox", "name": "Dropbox Space Race", "currency": "USD",
    "qualification": {"action": "installed"},
    "limits": {"max_rewarded_referrals": 32},
    "policies": [{"type": "two_sided", "name": "space",
        "referrer": {"on": "qualified", "reward": {"fixed": "500 unit:MB"}},
        "referee":  {"on": "qualified", "reward": {"fixed": "500 unit:MB"}}}]
}"#;

/// Runs the scenario; returns the engine (for checks) and the printed report.
pub fn run() -> Result<(Engine<MemoryStore>, String), Box<dyn Error>> {
    let demo = common::Demo::new(PROGRAM, "2026-03-01T09:00:00Z")?;
    let code = demo.enroll("alice")?;
    let mut over_cap = 0;
    for i in 1..=40 {
        let friend = format!("friend-{i:02}");
        demo.send(SignUp::new(friend.parse()?, code.clone()))?;
        let installed = demo.send(Action::new(friend.parse()?, "installed"))?;
        over_cap += installed.notices.iter().filter(|n| matches!(n, Notice::RewardWithheld { .. })).count();
    }

    let mb = "unit:MB".parse()?;
    let mut report = String::new();
    writeln!(report, "{:<10} {:<10} {:>10}", "referee", "status", "their MB")?;
    for r in demo.read().referrals().all()? {
        let status = match r.status {
            ReferralStatus::Rewarded => "rewarded",
            ReferralStatus::Qualified => "over cap",
            _ => "other",
        };
        let theirs = demo.read().balance(&r.referee, &mb)?.available;
        writeln!(report, "{:<10} {:<10} {:>10}", r.referee, status, theirs)?;
    }
    let alice = demo.read().participant(&"alice".parse()?)?.ok_or("alice unknown")?;
    writeln!(
        report,
        "\nalice: {} MB from {} rewarded referrals; {over_cap} over the cap of 32",
        alice.balance(&mb).available,
        alice.stats.rewarded_referrals
    )?;
    Ok((demo.engine, report))
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let (_, report) = run()?;
    print!("{report}");
    Ok(())
}
