//! A SQLite file holds everything after the process that wrote it has ended.
#![cfg(feature = "sqlite")]

use std::path::PathBuf;
use std::process::Command;

#[path = "../examples/persistent.rs"]
mod persistent;

/// Run by `each_run_continues_in_a_new_process`, in a child process.
#[test]
#[ignore = "run as a child process by each_run_continues_in_a_new_process"]
fn child_writes_one_run() {
    let Some(path) = std::env::var_os("REFERRAL_ENGINE_DB") else {
        return;
    };
    print!("{}", persistent::run(&PathBuf::from(path)).unwrap());
}

#[test]
fn each_run_continues_in_a_new_process() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("referrals.db");
    for run in 1..=3 {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "child_writes_one_run", "--nocapture"])
            .env("REFERRAL_ENGINE_DB", &db)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(&format!("holds {run} friends of host")), "{stdout}");
        assert!(stdout.contains(&format!("host has {}.00 USD available", run * 10)), "{stdout}");
    }
}
