//! The pure domain: identities, values, codes, referrals, participants, the
//! ledger, and the records the engine keeps about them (orders, counters,
//! review items, due work, program state).

pub mod catalog;
pub mod code;
pub mod counters;
pub mod due;
pub mod id;
pub mod ledger;
pub mod map;
pub mod order;
pub mod participant;
pub mod referral;
pub mod review;
pub mod state;
pub mod value;
