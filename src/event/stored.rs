//! What a store keeps of a handled event: its key and a digest of its
//! payload for ever, its outcome for a retention window.
//!
//! The key alone makes a second commit of the event fail; the digest tells a
//! replay (the same event again: the first outcome) from a reuse (another
//! payload under the key: [`Refusal::KeyReused`](crate::Refusal::KeyReused)).
//! Neither grows with what the event did. The outcome, which does, is kept
//! for [`Engine::with_outcome_retention`](crate::Engine::with_outcome_retention)
//! (7 days unless the host says otherwise), long enough for any retry; a
//! replay after that answers
//! [`Refusal::AlreadyHandled`](crate::Refusal::AlreadyHandled).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{Event, Outcome};
use crate::domain::id::EventKey;

/// A digest of an event's payload: the first 16 bytes of the SHA-256 of its
/// canonical JSON (the form [`Event`] serializes to, identity signals
/// already hashed). Two events with the same key and digest are the same
/// event; finding two payloads with one digest takes about 2^64 tries, and
/// would only make the second answer the first's outcome.
///
/// On the wire, 32 lowercase hex digits.
///
/// ```
/// use referral_engine::Event;
/// use referral_engine::event::{EventDigest, SignUp};
/// let bob = Event::new("s1", "p", SignUp::new("bob".parse()?, "ANN-2026"))?;
/// let cy = Event::new("s1", "p", SignUp::new("cy".parse()?, "ANN-2026"))?;
/// assert_eq!(EventDigest::of(&bob), EventDigest::of(&bob.clone()));
/// assert_ne!(EventDigest::of(&bob), EventDigest::of(&cy));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventDigest([u8; 16]);

/// Feeds what is written into the hash: the canonical form is never built.
struct Hashing(Sha256);

impl std::io::Write for Hashing {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl EventDigest {
    /// The digest of `event`'s payload (its key, program and kind).
    pub fn of(event: &Event) -> Self {
        let mut hashing = Hashing(Sha256::new());
        // An event serializes to JSON without fail: its maps are keyed by
        // text and its types serialize infallibly. Were it ever to fail, the
        // digest would still be a function of the event (of its prefix and
        // the failure), never a panic.
        let _ = serde_json::to_writer(&mut hashing, event);
        let full = hashing.0.finalize();
        let mut first = [0u8; 16];
        for (to, from) in first.iter_mut().zip(full.iter()) {
            *to = *from;
        }
        Self(first)
    }

    /// The digest's 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// A digest from its 16 bytes, as a store kept them; `None` for another length.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 16]>::try_from(bytes).ok().map(Self)
    }
}

impl fmt::Display for EventDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for EventDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventDigest({self})")
    }
}

impl std::str::FromStr for EventDigest {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const BAD: &str = "an event digest is 32 lowercase hex digits";
        if s.len() != 32 {
            return Err(BAD);
        }
        let mut out = [0u8; 16];
        for (byte, pair) in out.iter_mut().zip(s.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| BAD)?;
            if pair.bytes().any(|c| c.is_ascii_uppercase()) {
                return Err(BAD);
            }
            *byte = u8::from_str_radix(pair, 16).map_err(|_| BAD)?;
        }
        Ok(Self(out))
    }
}

impl Serialize for EventDigest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventDigest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What a store keeps under an event's key once the event took effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StoredEvent {
    /// The event's idempotency key.
    pub key: EventKey,
    /// The digest of its payload, kept for ever with the key.
    pub digest: EventDigest,
    /// When it was handled: its outcome's `at`, to the microsecond (as
    /// precise as every store keeps a time).
    pub handled_at: DateTime<Utc>,
    /// Its outcome, until the retention window has passed and a store has
    /// forgotten it ([`Store::forget_outcomes`](crate::Store::forget_outcomes)).
    pub outcome: Option<Outcome>,
}

impl StoredEvent {
    /// What a store keeps of `event`, handled with `outcome`.
    pub fn new(event: &Event, outcome: Outcome) -> Self {
        let mut kept = Self::without_outcome(event, outcome.at);
        kept.outcome = Some(outcome);
        kept
    }

    /// What a store keeps of `event`, handled at `at`, when no outcome is
    /// kept at all (a retention of zero).
    pub fn without_outcome(event: &Event, at: DateTime<Utc>) -> Self {
        use chrono::SubsecRound;
        Self { key: event.key.clone(), digest: EventDigest::of(event), handled_at: at.trunc_subsecs(6), outcome: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::SignUp;

    #[test]
    fn a_digest_reads_back_from_its_text_and_nothing_else_does() {
        let e = Event::new("s1", "p", SignUp::new("bob".parse().unwrap(), "ANN-2026")).unwrap();
        let d = EventDigest::of(&e);
        assert_eq!(d.to_string().len(), 32);
        assert_eq!(d.to_string().parse::<EventDigest>(), Ok(d));
        assert_eq!(serde_json::from_str::<EventDigest>(&serde_json::to_string(&d).unwrap()).unwrap(), d);
        for bad in ["", "00", &format!("{d}0"), "zz000000000000000000000000000000", "é000000000000000000000000000000"]
        {
            assert!(bad.parse::<EventDigest>().is_err(), "{bad:?}");
        }
        let upper = d.to_string().to_uppercase();
        if upper != d.to_string() {
            assert!(upper.parse::<EventDigest>().is_err(), "{upper:?}");
        }
        assert_eq!(EventDigest::from_slice(d.as_bytes()), Some(d));
        assert_eq!(EventDigest::from_slice(&[1, 2]), None);
    }

    /// The digest is of the canonical JSON, pinned: a change of the
    /// encoding would make every stored key a reuse of itself.
    #[test]
    fn the_digest_of_an_event_is_pinned() {
        let e = Event::new("s1", "p", SignUp::new("bob".parse().unwrap(), "ANN-2026")).unwrap();
        let json = serde_json::to_string(&e).unwrap();
        let full = Sha256::digest(json.as_bytes());
        assert_eq!(EventDigest::of(&e).as_bytes()[..], full[..16]);
        assert_eq!(EventDigest::of(&e).to_string(), "87524c485c40619096a01edcad80191a");
        assert_eq!(
            json,
            r#"{"key":"s1","program":"p","kind":{"type":"sign_up","referee":"bob","code":"ANN-2026","channel":"link","clicked_at":null,"signals":[]}}"#
        );
    }
}
