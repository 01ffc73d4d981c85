//! The simulator's command-line pieces: the same seed gives the same table,
//! and every program file of the repository loads, simulates and charts.

use std::path::PathBuf;

use referral_engine::simulation::{Assumptions, simulate as forecast};

fn t0() -> chrono::DateTime<chrono::Utc> {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn programs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../programs")
}

#[test]
fn the_same_seed_gives_the_same_forecast_and_another_seed_another() {
    let mut a = Assumptions::default();
    a.starting_referrers = 20;
    a.periods = 4;
    let path = programs().join("revshare.json");
    let run = |a: &Assumptions| forecast(simulate::load(&path).unwrap(), a, t0()).unwrap();
    let first = run(&a);
    assert_eq!(run(&a), first);
    assert_eq!(simulate::table(&run(&a)).unwrap(), simulate::table(&first).unwrap());
    a.seed = 2;
    assert_ne!(run(&a), first);
}

#[test]
fn every_program_file_loads_and_simulates() {
    for name in ["dropbox", "evernote", "yesware", "moe_delo", "revshare"] {
        let path = programs().join(format!("{name}.json"));
        let mut a = Assumptions::default();
        a.starting_referrers = 10;
        a.periods = 3;
        let f = forecast(simulate::load(&path).unwrap(), &a, t0()).unwrap();
        assert_eq!(f.periods.len(), 3, "{name}");
        assert!(f.periods[2].users > 10, "{name} grew");
        let dir = tempfile::tempdir().unwrap();
        let svg = dir.path().join("chart.svg");
        simulate::chart(&f, name, svg.to_str().unwrap()).unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    }
}
