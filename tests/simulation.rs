//! The simulator: deterministic for a seed, and right on a case small enough
//! to compute by hand.

mod common;
use common::*;
use referral_engine::simulation::{Assumptions, simulate};

const PROGRAM: &str = r#"{
    "id": "sim", "name": "Sim", "currency": "USD",
    "limits": {"budgets": ["30.00 USD"]},
    "policies": [{"type": "one_sided", "name": "five", "on": "qualified", "reward": {"fixed": "5.00 USD"}}]
}"#;

fn certain() -> Assumptions {
    let mut a = Assumptions::default();
    a.starting_referrers = 2;
    a.invites_per_referrer = 2.0;
    a.invite_to_signup = 1.0;
    a.signup_to_qualified = 1.0;
    a.purchases_per_period = 0.0;
    a.refund_rate = 0.0;
    a.viral = false;
    a.active_periods = 10;
    a.periods = 2;
    a
}

#[test]
fn a_small_certain_simulation_matches_the_hand_computed_figures() {
    let f = simulate(program(PROGRAM), &certain(), t0()).unwrap();
    let (p1, p2) = (&f.periods[0], &f.periods[1]);
    // Period 1: 2 referrers x 2 invites, all sign up and qualify: 4 x 5.00 USD.
    assert_eq!((p1.invites, p1.new_users, p1.users, p1.k_factor), (4, 4, 6, dec("2")));
    assert_eq!(p1.granted.get(&asset("USD")).copied(), Some(dec("20.00")));
    assert_eq!(p1.paid, dec("20.00"));
    assert_eq!(p1.budget_left.get(&asset("USD")).copied(), Some(dec("10.00")));
    // Period 2: 4 more, but only 10.00 USD of budget is left.
    assert_eq!((p2.new_users, p2.users), (4, 10));
    assert_eq!(p2.granted.get(&asset("USD")).copied(), Some(dec("10.00")));
    assert_eq!(p2.budget_left.get(&asset("USD")).copied(), Some(dec("0.00")));
    assert_eq!(f.budget_runs_out, Some(2));
    assert_eq!(p2.return_on_spend, Some(dec("-100.00")));
}
