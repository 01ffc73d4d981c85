//! The union of the records a store keeps, one variant per record type, and
//! the conversions the engine's reads and writes go through. The types
//! themselves belong to the domain (`domain/`, `event/`, `fraud`); which key
//! space holds which is declared in [`schema`](super::schema).

use serde::{Deserialize, Serialize};

use crate::domain::code::CodeRecord;
use crate::domain::counters::{Counters, ReferrerDay};
use crate::domain::due::Due;
use crate::domain::ledger::{LedgerEntry, Reward};
use crate::domain::order::Order;
use crate::domain::participant::Participant;
use crate::domain::referral::Referral;
use crate::domain::review::ReviewItem;
use crate::domain::state::{PayoutBatch, ProgramState};
use crate::event::{AuditEntry, OutboxEntry};
use crate::fraud::SignalIndex;

/// Any record a store keeps under a [`Key`](super::Key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Record {
    /// A participant.
    Participant(Box<Participant>),
    /// A code.
    Code(Box<CodeRecord>),
    /// A referral.
    Referral(Box<Referral>),
    /// A reward.
    Reward(Box<Reward>),
    /// A ledger entry.
    Entry(Box<LedgerEntry>),
    /// Program-wide state.
    Program(Box<ProgramState>),
    /// An order.
    Order(Box<Order>),
    /// Due work.
    Due(Box<Due>),
    /// One shard of a program's counters, for its whole life or for one day.
    #[serde(alias = "day")]
    Counters(Box<Counters>),
    /// One referrer's day.
    ReferrerDay(Box<ReferrerDay>),
    /// The notices of one event waiting in the outbox.
    Outbox(Box<OutboxEntry>),
    /// Who carries an identity signal.
    Signal(Box<SignalIndex>),
    /// A referral awaiting review.
    Review(Box<ReviewItem>),
    /// A line of the audit trail.
    Audit(Box<AuditEntry>),
    /// A payout batch.
    Payout(Box<PayoutBatch>),
}

/// A record type and the [`Record`] variant that holds it.
pub(crate) trait RecordKind: Sized + Clone {
    fn from_ref(record: &Record) -> Option<&Self>;
    fn from_mut(record: &mut Record) -> Option<&mut Self>;
    fn into_record(self) -> Record;
}

macro_rules! record_kind {
    ($variant:ident, $ty:ty) => {
        impl RecordKind for $ty {
            fn from_ref(record: &Record) -> Option<&Self> {
                match record {
                    Record::$variant(x) => Some(x),
                    _ => None,
                }
            }
            fn from_mut(record: &mut Record) -> Option<&mut Self> {
                match record {
                    Record::$variant(x) => Some(x),
                    _ => None,
                }
            }
            fn into_record(self) -> Record {
                // Boxes the value for the variants that hold a box.
                Record::$variant(self.into())
            }
        }
    };
}

record_kind!(Participant, Participant);
record_kind!(Referral, Referral);
record_kind!(Reward, Reward);
record_kind!(Entry, LedgerEntry);
record_kind!(Program, ProgramState);
record_kind!(Order, Order);
record_kind!(Counters, Counters);
record_kind!(ReferrerDay, ReferrerDay);
record_kind!(Outbox, OutboxEntry);
record_kind!(Code, CodeRecord);
record_kind!(Signal, SignalIndex);
record_kind!(Review, ReviewItem);
record_kind!(Audit, AuditEntry);
record_kind!(Due, Due);
record_kind!(Payout, PayoutBatch);

#[cfg(test)]
mod tests {
    use super::Record;

    /// Every variant is boxed, so that a small record does not take the
    /// room of the largest inline one (a 96-byte code record made every
    /// participant and referral 80 bytes larger in memory).
    #[test]
    fn a_record_is_two_words() {
        assert_eq!(std::mem::size_of::<Record>(), 16);
    }
}
