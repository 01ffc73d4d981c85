//! Listings come in pages: at most `MAX_PAGE` records per call, a cursor to go
//! on from, and a cursor never reads outside its listing.

mod common;

use common::*;
use referral_engine::engine::page::{Cursor, MAX_PAGE};

const BOUNTY: &str = r#"{"id":"p","name":"P","currency":"USD",
    "policies":[{"type":"one_sided","name":"b","on":"sign_up","reward":{"fixed":"5.00 USD"}}]}"#;

/// A program with `n` enrolled participants, `p00`, `p01`...
fn with_participants(n: usize) -> World {
    let w = World::new(program(BOUNTY));
    for i in 0..n {
        w.enroll(&format!("p{i:02}"));
    }
    w
}

#[test]
fn participants_come_in_pages_that_add_up_to_all_of_them() {
    let w = with_participants(25);
    let read = w.engine.read(&w.program);
    let listing = read.participants();
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let page = listing.page(after.as_ref(), 10).unwrap();
        sizes.push(page.items.len());
        seen.extend(page.items.into_iter().map(|p| p.id.to_string()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(sizes, [10, 10, 5]);
    // Pages that end exactly at the end of the listing.
    let (first, second) = (listing.page(None, 5).unwrap(), listing.page(None, 25).unwrap());
    assert!(first.next.is_some() && second.next.is_none());
    let rest = listing.page(first.next.as_ref(), 20).unwrap();
    assert_eq!((rest.items.len(), rest.next), (20, None));
    let all: Vec<String> = listing.all().unwrap().into_iter().map(|p| p.id.to_string()).collect();
    assert_eq!(seen, all);
    assert_eq!(all.len(), 25);
}

#[test]
fn a_page_is_at_least_one_and_at_most_max_page_records() {
    let w = with_participants(3);
    let read = w.engine.read(&w.program);
    assert_eq!(read.participants().page(None, 0).unwrap().items.len(), 1);
    assert_eq!(read.participants().page(None, usize::MAX).unwrap().items.len(), 3);
    const { assert!(MAX_PAGE >= 100) };
}

#[test]
fn a_cursor_from_another_listing_reads_nothing_outside_this_one() {
    let w = World::new(program(BOUNTY));
    let code = w.enroll("ann");
    w.sign_up("bob", &code).unwrap();
    w.sign_up("cy", &code).unwrap();
    let read = w.engine.read(&w.program);
    // A cursor past every participant ("p/..." sorts before "r/...").
    let referrals_cursor = read.referrals().page(None, 1).unwrap();
    assert_eq!(referrals_cursor.items.len(), 1);
    let cursor = referrals_cursor.next.expect("two referrals on pages of one: a next page");
    let from_elsewhere = read.participants().page(Some(&cursor), 10).unwrap();
    assert!(from_elsewhere.items.is_empty() && from_elsewhere.next.is_none());
}
