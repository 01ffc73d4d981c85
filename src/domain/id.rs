//! Identifiers: the host's opaque ids (validated strings) and the engine's own
//! record ids (UUID v7, so they sort by time).

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The longest host-chosen id, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// Why a host-chosen id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The id was empty (or only white space).
    #[error("{kind} is empty")]
    Empty {
        /// Which kind of id.
        kind: &'static str,
    },
    /// The id was longer than [`MAX_ID_LEN`] bytes.
    #[error("{kind} is {len} bytes long; at most {MAX_ID_LEN} are allowed")]
    TooLong {
        /// Which kind of id.
        kind: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The id held a control character.
    #[error("a {kind} contains a control character")]
    ControlCharacter {
        /// Which kind of id (the value is not echoed).
        kind: &'static str,
    },
}

fn validate(kind: &'static str, value: &str) -> Result<(), IdError> {
    if value.trim().is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > MAX_ID_LEN {
        return Err(IdError::TooLong { kind, len: value.len() });
    }
    if value.chars().any(char::is_control) {
        return Err(IdError::ControlCharacter { kind });
    }
    Ok(())
}

macro_rules! host_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        ///
        /// Shared text: a clone is a reference count, not a copy.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates and wraps a host-chosen id: non-empty, at most
            /// [`MAX_ID_LEN`] bytes, no control characters.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                validate($kind, &value)?;
                Ok(Self(value.into()))
            }

            /// The id as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
            }
        }
    };
}

host_id!(
    /// A participant as the host knows it: its user or account id, opaque to the engine.
    ///
    /// ```
    /// use referral_engine::ParticipantId;
    /// assert!(ParticipantId::new("user-42").is_ok());
    /// assert!(ParticipantId::new("").is_err());
    /// assert!(ParticipantId::new("bad\nid").is_err());
    /// ```
    ParticipantId,
    "participant id"
);
host_id!(
    /// A program's id, chosen by whoever defines the program.
    ProgramId,
    "program id"
);
host_id!(
    /// The host's idempotency key for one event: the same key again returns the first outcome.
    EventKey,
    "event key"
);
host_id!(
    /// An order or payment id from the host's billing.
    OrderId,
    "order id"
);
host_id!(
    /// A payout batch id chosen by the host.
    PayoutId,
    "payout id"
);

/// Derives the engine's record ids for one event, deterministically.
///
/// Ids are UUID v7: the millisecond timestamp of the event, then 74 bits: a
/// name-based hash (SHA-1, UUID v5) of the event key plus the id's ordinal
/// within the event, so one hash per event, not per id. The same event
/// therefore gets the same ids on every store and every replay, and ids sort by
/// the time of the event that made them.
#[derive(Debug, Clone)]
pub(crate) struct IdSource {
    millis: u64,
    seed: Uuid,
    next: u32,
}

impl IdSource {
    pub(crate) fn new(key: &EventKey, now: DateTime<Utc>) -> Self {
        let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        Self { millis, seed: Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_str().as_bytes()), next: 0 }
    }

    /// One of `shards` buckets, chosen by the event key alone: where the
    /// event's counter updates go (see [`crate::domain::counters::Counters`]).
    pub(crate) fn shard(&self, shards: u32) -> u32 {
        let shard = self.seed.as_u128().checked_rem(u128::from(shards)).unwrap_or(0);
        u32::try_from(shard).unwrap_or(0)
    }

    pub(crate) fn next(&mut self) -> Uuid {
        self.next = self.next.wrapping_add(1);
        let hashed = self.seed.as_u128().wrapping_add(u128::from(self.next));
        let bytes = hashed.to_be_bytes();
        let mut random = [0u8; 10];
        for (to, from) in random.iter_mut().zip(bytes.iter().skip(6)) {
            *to = *from;
        }
        uuid::Builder::from_unix_timestamp_millis(self.millis, &random).into_uuid()
    }
}

macro_rules! record_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub(crate) fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The underlying UUID (v7).
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, uuid::Error> {
                Ok(Self(s.parse()?))
            }
        }
    };
}

record_id!(
    /// One referral: who referred whom.
    ReferralId
);
record_id!(
    /// One reward granted to one participant.
    RewardId
);
record_id!(
    /// One ledger entry.
    EntryId
);

/// The longest name of a rule, an action or a segment, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// Whether `name` can name a rule, an action or a segment: 1 to
/// [`MAX_NAME_LEN`] bytes, not blank, no control character. The one rule for
/// these names, checked both where a program is built and where an event is
/// handled, so a program never waits for a name no event can carry.
///
/// ```
/// use referral_engine::domain::id::is_name;
/// assert!(is_name("installed"));
/// assert!(!is_name(" ") && !is_name("a\nb") && !is_name(&"x".repeat(65)));
/// ```
pub fn is_name(name: &str) -> bool {
    !name.trim().is_empty() && name.len() <= MAX_NAME_LEN && !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_time_ordered() {
        let key = EventKey::new("e1").unwrap();
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let t1 = DateTime::from_timestamp(1_700_000_001, 0).unwrap();
        let a = IdSource::new(&key, t0).next();
        assert_eq!(a, IdSource::new(&key, t0).next());
        assert_eq!(a.get_version_num(), 7);
        assert!(IdSource::new(&key, t1).next() > a);
    }

    #[test]
    fn host_ids_are_validated() {
        assert!(matches!(ParticipantId::new(" "), Err(IdError::Empty { .. })));
        assert!(matches!(ParticipantId::new("x".repeat(129)), Err(IdError::TooLong { len: 129, .. })));
        assert!(ParticipantId::new("x".repeat(128)).is_ok());
        let parsed: Result<ParticipantId, _> = serde_json::from_str("\"a\\u0000\"");
        assert!(parsed.is_err());
    }
}
