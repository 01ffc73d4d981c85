//! Using the engine from an async host (axum, actix, anything on tokio).
//!
//! The engine and its stores are synchronous and `Send + Sync`. An async host
//! shares one engine in an `Arc` and runs each call on the runtime's blocking
//! pool with `spawn_blocking`, so a database round trip never stalls the
//! async workers. Nothing else is needed: no second trait, no runtime inside
//! the crate.
//!
//! Run: `cargo run --example async_host --features sqlite`

use referral_engine::event::{Enroll, SignUp};
use std::error::Error;
use std::sync::Arc;

use referral_engine::clock::SystemClock;
use referral_engine::store::sqlite::SqliteStore;
use referral_engine::{Engine, Error as EngineError, Event, Outcome, ProgramSpec, Refusal};

const PROGRAM: &str = r#"{
    "id": "app", "name": "App referrals", "currency": "USD",
    "policies": [{"type": "one_sided", "name": "per-friend", "on": "sign_up", "reward": {"fixed": "100 points"}}]
}"#;

/// What a request handler holds: a cheap clone of the shared engine.
#[derive(Clone)]
pub struct Referrals(Arc<Engine<SqliteStore>>);

impl Referrals {
    /// Handles an event on the blocking pool: the outcome or the refusal, or
    /// the failure of the call.
    pub async fn handle(&self, event: Event) -> Result<Result<Outcome, Refusal>, EngineError> {
        let engine = Arc::clone(&self.0);
        match tokio::task::spawn_blocking(move || engine.handle(&event)).await {
            Ok(result) => result,
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    }

    /// The engine, for reads (they are quick; run them on the blocking pool too
    /// when the store is remote).
    pub fn engine(&self) -> &Engine<SqliteStore> {
        &self.0
    }
}

/// Builds the shared engine over a fresh SQLite file.
pub fn referrals(path: &std::path::Path) -> Result<Referrals, Box<dyn Error>> {
    let store = SqliteStore::open(path)?;
    store.migrate()?;
    let program = serde_json::from_str::<ProgramSpec>(PROGRAM)?.build()?;
    Ok(Referrals(Arc::new(Engine::new(store).with_clock(SystemClock).with_program(program))))
}

/// 100 concurrent sign-up "requests", each sent twice, as retrying clients do.
pub async fn serve(referrals: Referrals) -> Result<String, Box<dyn Error>> {
    let enrolled = referrals.handle(Event::new("enroll-ada", "app", Enroll::new("ada".parse()?))?).await??;
    let code = enrolled.codes.first().ok_or("no code issued")?.to_string();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (referrals, code) = (referrals.clone(), code.clone());
        let friend = format!("friend-{}", i % 100);
        tasks.push(tokio::spawn(async move {
            let event = Event::new(&format!("signup-{friend}"), "app", SignUp::new(friend.parse()?, code))?;
            let answer = referrals.handle(event).await.map_err(Box::<dyn Error + Send + Sync>::from)?;
            answer.map_err(Box::<dyn Error + Send + Sync>::from)
        }));
    }
    for t in tasks {
        t.await?.map_err(|e| e.to_string())?;
    }
    let points = referrals.engine().read(&"app".parse()?).balance(&"ada".parse()?, &"points".parse()?)?;
    Ok(format!("ada has {} points from 100 friends (200 requests)\n", points.available))
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!("referral-engine-async-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let report = serve(referrals(&dir.join("app.db"))?).await?;
    print!("{report}");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
