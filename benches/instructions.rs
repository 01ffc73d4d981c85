//! Fixed workloads for instruction counts, which load cannot move: run one
//! under callgrind, engine and baseline alike (see BENCHMARKS.md):
//!
//! ```sh
//! cargo bench --all-features --bench instructions --no-run
//! valgrind --tool=callgrind target/release/deps/instructions-<hash> memory-engine
//! ```
//!
//! Each workload enrolls what it needs, then handles `N` (3,000) qualifying
//! sign-ups the same way as the criterion benches: `memory-engine` and
//! `memory-same-facts` a sign-up and a qualifying purchase each;
//! `sqlite-engine` and `sqlite-same-facts` a qualifying sign-up each, on a
//! file with synchronous=NORMAL. The counts include the set-up; BENCHMARKS.md
//! subtracts a run with `N = 0` (`--setup-only`).

mod common;

use common::sqlite::{REFERRERS, engine_over, signup, sqlite_same_facts, sqlite_same_facts_db};
use common::*;
use referral_engine::MemoryStore;
use referral_engine::store::sqlite::{SqliteStore, Synchronous};

const N: u64 = 3_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = if args.iter().any(|a| a == "--setup-only") { 0 } else { N };
    let Some(workload) = args.iter().skip(1).find(|a| !a.starts_with("--")) else {
        // `cargo bench` runs every bench binary with `--bench`: nothing to count then.
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    match workload.as_str() {
        "memory-engine" => {
            let engine = engine_with(MemoryStore::new(), TWO_SIDED);
            enroll(&engine, "bench", "alice", "ALICE");
            (1..=n).for_each(|i| signup_and_purchase(&engine, "bench", "ALICE", i));
        }
        "memory-same-facts" => {
            let mut same = SameFacts::default();
            same.codes.insert("ALICE".into(), "alice".into());
            (1..=n).for_each(|i| same.signup_and_purchase("ALICE", i));
        }
        "sqlite-engine" => {
            let store = SqliteStore::open_with(dir.path().join("engine.db"), Synchronous::Normal, 1).unwrap();
            store.migrate().unwrap();
            let engine = engine_over(store);
            (1..=n).for_each(|i| signup(&engine, "e", i, REFERRERS));
        }
        "sqlite-same-facts" => {
            let mut conn = sqlite_same_facts_db(&dir.path().join("same.db"), "NORMAL");
            (1..=n).for_each(|i| sqlite_same_facts(&mut conn, "f", i..i + 1));
        }
        other => {
            panic!("unknown workload {other:?}: memory-engine, memory-same-facts, sqlite-engine, sqlite-same-facts")
        }
    }
}
