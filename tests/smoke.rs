mod common;
use common::*;

#[test]
fn a_two_sided_referral_pays_both_sides() {
    let w = World::new(program(
        r#"{"id": "p", "name": "P", "currency": "USD",
            "policies": [{"type": "two_sided", "name": "space",
              "referrer": {"on": "qualified", "reward": {"fixed": "500 unit:MB"}},
              "referee":  {"on": "qualified", "reward": {"fixed": "500 unit:MB"}}}]}"#,
    ));
    let code = w.enroll("alice");
    let out = w.sign_up("bob", &code).unwrap();
    println!("{out:#?}");
    assert_eq!(w.buckets("alice", "unit:MB").1, dec("500"));
    assert_eq!(w.buckets("bob", "unit:MB").1, dec("500"));
}
