//! The key spaces, declared once: each space's tag (the first part of its
//! keys), the parts that follow, the type of record it holds and what for.
//! The key builders of [`Key`] take their tags from here and
//! return keys typed by the space's record, so that a read gets that type by
//! construction; a test keeps ARCHITECTURE.md's table of keys equal to
//! [`SPACES`].
//!
//! Tags are one letter: keys are compared byte by byte in every index and
//! stored with every record, and a letter keeps them short. This table is the
//! legend for reading a dump.

use std::marker::PhantomData;

use super::key::{Key, KeyRange, RecordKey, RecordRange};
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

/// One key space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Space {
    /// The first part of every key in the space.
    pub tag: &'static str,
    /// The parts after the tag, in order (the program first).
    pub parts: &'static [&'static str],
    /// The record the space holds.
    pub record: &'static str,
    /// What the records are, in a line.
    pub holds: &'static str,
}

impl Space {
    /// The key's pattern, as a person reads it: `p/<program>/<participant>`.
    pub fn pattern(&self) -> String {
        let mut out = self.tag.to_owned();
        for part in self.parts {
            out.push_str("/<");
            out.push_str(part);
            out.push('>');
        }
        out
    }
}

macro_rules! spaces {
    ($($name:ident: $tag:literal [$($part:literal),*] => $record:ident, $holds:literal;)*) => {
        $(
            #[doc = concat!("`", $tag, "/...`: ", $holds)]
            pub const $name: Space =
                Space { tag: $tag, parts: &[$($part),*], record: stringify!($record), holds: $holds };
        )*
        /// Every key space, in the order ARCHITECTURE.md lists them.
        pub const SPACES: &[Space] = &[$($name),*];

        /// The same spaces with the type of their records: a key built in
        /// one is a [`RecordKey`] of that type, so a read returns the right
        /// type by construction.
        pub(crate) mod table {
            use super::*;
            $(pub(crate) const $name: Table<$record> = Table::of(&super::$name);)*
        }
    };
}

/// A key space with the type of its records (see [`table`]).
pub(crate) struct Table<T> {
    space: &'static Space,
    record: PhantomData<fn() -> T>,
}

impl<T> Table<T> {
    const fn of(space: &'static Space) -> Self {
        Self { space, record: PhantomData }
    }

    /// The space's tag.
    pub(crate) fn tag(&self) -> &'static str {
        self.space.tag
    }

    /// A key of this space, built from its text.
    pub(crate) fn key(&self, text: String) -> RecordKey<T> {
        RecordKey::new(Key::from_stored(text))
    }

    /// A range of this space's keys.
    pub(crate) fn range(&self, range: KeyRange) -> RecordRange<T> {
        RecordRange::new(range)
    }
}

spaces! {
    PARTICIPANT: "p" ["program", "participant"] => Participant,
        "stats, balances, codes, who referred them";
    CODE: "c" ["program", "code"] => CodeRecord,
        "the participant a code resolves to, in its program's own code space";
    REFERRAL: "r" ["program", "referee"] => Referral,
        "at most one per referee (nobody is referred twice)";
    SUPERSEDED: "x" ["program", "referral"] => Referral,
        "a referral out of its referee's slot: superseded by a later touch, or a later touch rejected while the slot held an attribution (last touch)";
    REWARD: "w" ["program", "reward"] => Reward,
        "value, rule, explanation, status, amount reversed";
    ENTRY: "l" ["program", "participant", "entry"] => LedgerEntry,
        "immutable; UUID v7 ids sort by time";
    ORDER: "o" ["program", "order"] => Order,
        "amount, refunded so far, rewards it earned";
    PROGRAM: "s" ["program"] => ProgramState,
        "catalog stock used";
    PAYOUT: "u" ["program", "payout"] => PayoutBatch,
        "a payout batch: where it stopped while under way, or that it was paid to the end";
    TOTALS: "t" ["program", "shard"] => Counters,
        "one shard of the lifetime counters (budget use among them)";
    DUE: "d" ["program", "time", "id"] => Due,
        "a hold to release (reward id) or a referral to expire (referral id)";
    DAY: "y" ["program", "yyyymmdd", "shard"] => Counters,
        "one shard of a day's counters (reports sum a range of them)";
    REFERRER_DAY: "z" ["program", "yyyymmdd", "referrer"] => ReferrerDay,
        "one referrer's invites and qualified referrals that day";
    OUTBOX: "n" ["program", "time", "event"] => OutboxEntry,
        "an event's notices not yet acknowledged (one record per event)";
    AUDIT: "a" ["program", "time", "event", "i"] => AuditEntry,
        "one line of the audit trail (rejections, flags, approvals, reversals, payouts)";
    SIGNAL: "g" ["program", "kind", "hash"] => SignalIndex,
        "who carries a hashed identity signal, recent sign-ups";
    REVIEW: "q" ["program", "referee", "referral"] => ReviewItem,
        "a flagged referral and the rewards it holds";
}

/// What a view's column holds, and so its SQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ColumnType {
    /// Text: an id, a name, a status.
    Text,
    /// The number of a value (`"5.00 USD"` gives `5.00`): `NUMERIC` on
    /// PostgreSQL; exact text on SQLite, which has no exact decimal type.
    Amount,
    /// The asset of a value (`"5.00 USD"` gives `USD`; a currency outside
    /// ISO 4217 keeps its minor units, `PTS/0`).
    Currency,
    /// A decimal written alone (`"2.50"`): like [`Amount`](Self::Amount).
    Decimal,
    /// A time: `TIMESTAMPTZ` on PostgreSQL, RFC 3339 text on SQLite.
    Timestamp,
    /// A whole number.
    Integer,
    /// True or false (`BOOLEAN`; 0 or 1 on SQLite).
    Bool,
    /// The name of a variant, as text: a role (`referrer`, `ancestor`), a
    /// status (`pending`, `rejected`), an entry's kind (`payout`). The level,
    /// time or reason a variant carries stays in the record.
    Tag,
}

/// One column of a view: its name, where the record's JSON keeps it (a
/// path of field names under the record) and its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Column {
    /// The column's name.
    pub name: &'static str,
    /// The fields leading to it, from the record (or from the entry, for a
    /// view with [`View::each`]).
    pub path: &'static [&'static str],
    /// Its type.
    pub ty: ColumnType,
}

/// A view the SQL stores keep over one key space, so that a host's own SQL
/// can read the engine's records (join its orders to rewards, list
/// balances): one row per record, or per entry of a map in it
/// ([`each`](Self::each)), with a `program` column first and then
/// [`columns`](Self::columns). The stores create them from this
/// declaration (schema version 6); their names and columns are kept when
/// the records move into tables of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct View {
    /// The view's name.
    pub name: &'static str,
    /// The space it reads.
    pub space: &'static Space,
    /// The record's name in its JSON form (`{"reward": {...}}`).
    pub root: &'static str,
    /// Columns of the record, read before the entry's.
    pub columns: &'static [Column],
    /// A map in the record to give one row per entry of, and the entry's
    /// columns.
    pub each: Option<(&'static str, &'static [Column])>,
}

const fn col(name: &'static str, path: &'static [&'static str], ty: ColumnType) -> Column {
    Column { name, path, ty }
}

use ColumnType::{Amount, Bool, Currency, Decimal, Integer, Tag, Text, Timestamp};

/// Every view the SQL stores keep.
pub const VIEWS: &[View] = &[
    View {
        name: "re_participant",
        space: &PARTICIPANT,
        root: "participant",
        columns: &[
            col("id", &["id"], Text),
            col("enrolled_at", &["enrolled_at"], Timestamp),
            col("joined_at", &["joined_at"], Timestamp),
            col("referred_by", &["referred_by"], Text),
            col("suspended", &["suspended"], Bool),
            col("segment", &["segment"], Text),
            col("signups", &["stats", "signups"], Integer),
            col("qualified", &["stats", "qualified"], Integer),
        ],
        each: None,
    },
    View {
        name: "re_balance",
        space: &PARTICIPANT,
        root: "participant",
        columns: &[col("participant", &["id"], Text)],
        each: Some((
            "balances",
            &[
                col("currency", &["asset"], Text),
                col("pending", &["pending"], Decimal),
                col("available", &["available"], Decimal),
                col("paid", &["paid"], Decimal),
                col("redeemed", &["redeemed"], Decimal),
            ],
        )),
    },
    View {
        name: "re_referral",
        space: &REFERRAL,
        root: "referral",
        columns: &[
            col("id", &["id"], Text),
            col("referrer", &["referrer"], Text),
            col("referee", &["referee"], Text),
            col("code", &["code"], Text),
            col("channel", &["channel"], Text),
            col("status", &["status"], Tag),
            col("attributed_at", &["attributed_at"], Timestamp),
            col("qualified_at", &["qualified_at"], Timestamp),
        ],
        each: None,
    },
    View {
        name: "re_reward",
        space: &REWARD,
        root: "reward",
        columns: &[
            col("id", &["id"], Text),
            col("beneficiary", &["beneficiary"], Text),
            col("role", &["role"], Tag),
            col("rule", &["rule"], Text),
            col("referral", &["referral"], Text),
            col("referee", &["referee"], Text),
            col("order_id", &["order"], Text),
            col("amount", &["value"], Amount),
            col("currency", &["value"], Currency),
            col("reversed", &["reversed"], Decimal),
            col("status", &["status"], Tag),
            col("granted_at", &["granted_at"], Timestamp),
            col("event", &["event"], Text),
        ],
        each: None,
    },
    View {
        name: "re_ledger_entry",
        space: &ENTRY,
        root: "entry",
        columns: &[
            col("id", &["id"], Text),
            col("participant", &["participant"], Text),
            col("amount", &["value"], Amount),
            col("currency", &["value"], Currency),
            col("bucket", &["bucket"], Text),
            col("kind", &["kind"], Tag),
            col("reward", &["reward"], Text),
            col("event", &["event"], Text),
            col("at", &["at"], Timestamp),
        ],
        each: None,
    },
    View {
        name: "re_order",
        space: &ORDER,
        root: "order",
        columns: &[
            col("id", &["id"], Text),
            col("customer", &["customer"], Text),
            col("referral", &["referral"], Text),
            col("amount", &["amount"], Amount),
            col("currency", &["amount"], Currency),
            col("refunded", &["refunded"], Decimal),
            col("qualifying", &["qualifying"], Bool),
            col("at", &["at"], Timestamp),
        ],
        each: None,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_view_has_its_own_name_and_columns() {
        let mut names: Vec<&str> = VIEWS.iter().map(|v| v.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), VIEWS.len());
        for v in VIEWS {
            let mut cols: Vec<&str> =
                v.columns.iter().chain(v.each.map_or(&[][..], |(_, c)| c)).map(|c| c.name).collect();
            cols.push("program");
            let n = cols.len();
            cols.sort_unstable();
            cols.dedup();
            assert_eq!(cols.len(), n, "{} repeats a column", v.name);
        }
    }

    #[test]
    fn every_space_has_its_own_tag() {
        let mut tags: Vec<&str> = SPACES.iter().map(|s| s.tag).collect();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), SPACES.len());
        assert_eq!(PARTICIPANT.pattern(), "p/<program>/<participant>");
    }

    #[test]
    fn architecture_md_lists_the_declared_spaces() {
        let doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/ARCHITECTURE.md"));
        let table: Vec<&str> = doc
            .lines()
            .skip_while(|l| !l.starts_with("| key | record |"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .collect();
        let declared: Vec<String> =
            SPACES.iter().map(|s| format!("| `{}` | {} | {} |", s.pattern(), s.record, s.holds)).collect();
        assert_eq!(table, declared, "ARCHITECTURE.md's table of keys differs from SPACES");
    }
}
