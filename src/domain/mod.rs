//! The pure domain: identities, values, referrals, participants and the ledger.

pub mod catalog;
pub mod code;
pub mod id;
pub mod ledger;
pub mod participant;
pub mod referral;
pub mod value;
