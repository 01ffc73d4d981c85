//! Referral codes and share links.
//!
//! Codes are written in Crockford's base32 alphabet (no I, L, O or U), so what a
//! person reads aloud or types back resolves to the same code: input is
//! upper-cased, hyphens and spaces are dropped, and look-alikes are folded
//! (`I`, `L` -> `1`; `O` -> `0`; `U` -> `V`). Generated codes carry 50 random
//! bits from a pluggable [`RandomSource`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::id::{ParticipantId, ProgramId};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in a generated code (50 bits).
pub const GENERATED_LEN: usize = 10;
/// The shortest code accepted.
pub const MIN_CODE_LEN: usize = 4;
/// The longest code accepted.
pub const MAX_CODE_LEN: usize = 32;

/// A referral code in its normalized form.
///
/// ```
/// use referral_engine::domain::code::ReferralCode;
/// let typed: ReferralCode = " abcd-efgh-jk ".parse().unwrap();
/// assert_eq!(typed.as_str(), "ABCDEFGHJK");
/// // look-alikes fold onto the alphabet
/// assert_eq!("l0o1".parse::<ReferralCode>().unwrap().as_str(), "1001");
/// assert!("ab".parse::<ReferralCode>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ReferralCode(String);

/// Why a code could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeError {
    /// Too short or too long after normalization.
    #[error("a code has {len} characters after normalization; {MIN_CODE_LEN} to {MAX_CODE_LEN} are allowed")]
    BadLength {
        /// Its normalized length (what was typed is not echoed: it may be
        /// anything a user pasted).
        len: usize,
    },
    /// A character outside the code alphabet.
    #[error("a code contains {found:?}, which no code contains")]
    BadCharacter {
        /// The first offending character.
        found: char,
    },
}

impl ReferralCode {
    /// Normalizes what a user typed into a code.
    pub fn parse(input: &str) -> Result<Self, CodeError> {
        let mut out = String::with_capacity(input.len().min(MAX_CODE_LEN + 1));
        for ch in input.chars() {
            let folded = match ch.to_ascii_uppercase() {
                '-' | ' ' | '\t' => continue,
                'I' | 'L' => '1',
                'O' => '0',
                'U' => 'V',
                c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
                _ => {
                    return Err(CodeError::BadCharacter { found: ch });
                }
            };
            out.push(folded);
            if out.len() > MAX_CODE_LEN {
                break;
            }
        }
        if !(MIN_CODE_LEN..=MAX_CODE_LEN).contains(&out.len()) {
            return Err(CodeError::BadLength { len: out.len() });
        }
        Ok(Self(out))
    }

    /// A fresh unguessable code: [`GENERATED_LEN`] characters, 50 random bits.
    pub fn generate(random: &dyn RandomSource) -> Self {
        let bits = random.next_u64();
        let code = (0..GENERATED_LEN)
            .map(|i| {
                let index = u32::try_from(i).ok().and_then(|i| bits.checked_shr(i.saturating_mul(5))).unwrap_or(0) & 31;
                char::from(ALPHABET.get(index as usize).copied().unwrap_or(b'0'))
            })
            .collect();
        Self(code)
    }

    /// The normalized code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code grouped for humans: `ABCDE-FGHJK`.
    pub fn display_grouped(&self) -> String {
        let mut out = String::with_capacity(self.0.len().saturating_mul(2));
        for (i, c) in self.0.chars().enumerate() {
            if i > 0 && i.checked_rem(5) == Some(0) {
                out.push('-');
            }
            out.push(c);
        }
        out
    }
}

impl fmt::Display for ReferralCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ReferralCode {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, CodeError> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for ReferralCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Where codes get their randomness.
///
/// The default, [`OsRandom`], draws from the operating system. Tests and
/// simulations use [`SeededRandom`] for repeatable codes.
pub trait RandomSource: Send + Sync + fmt::Debug {
    /// 64 random bits.
    fn next_u64(&self) -> u64;
}

/// Randomness from the operating system (through UUID v4 generation).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    /// 62 random bits of a version-4 UUID: its low 62 bits, below the
    /// variant bits (the version bits sit higher still).
    fn next_u64(&self) -> u64 {
        let random = uuid::Uuid::new_v4().as_u128() & ((1u128 << 62) - 1);
        u64::try_from(random).unwrap_or(0)
    }
}

/// A seeded generator (SplitMix64) for tests and simulations. Not for production codes.
#[derive(Debug, Default)]
pub struct SeededRandom(AtomicU64);

impl SeededRandom {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(AtomicU64::new(seed))
    }
}

impl RandomSource for SeededRandom {
    fn next_u64(&self) -> u64 {
        let mut z = self.0.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The channel a referral came through.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Channel {
    /// An email invite.
    Email,
    /// A post on a social network.
    Social,
    /// A text message.
    Sms,
    /// A link shared by hand.
    #[default]
    Link,
    /// A partner's printed or bundled code.
    Partner,
    /// A code typed in as a coupon at checkout.
    Coupon,
    /// Any other channel the host names.
    Other(String),
}

/// The longest name of an [`Channel::Other`] channel.
pub const MAX_CHANNEL_NAME: usize = 32;

impl Channel {
    /// Checks a host-named channel: 1 to [`MAX_CHANNEL_NAME`] characters of
    /// `a-z`, `0-9`, `-` and `_`, and not the tag of a built-in channel
    /// (`Other("link")` would count apart from `Link`).
    pub fn check(&self) -> Result<(), &'static str> {
        let Channel::Other(name) = self else { return Ok(()) };
        if name.is_empty() || name.len() > MAX_CHANNEL_NAME {
            return Err("a channel name has 1 to 32 characters");
        }
        if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
            return Err("a channel name has only a-z, 0-9, - and _");
        }
        if ["email", "social", "sms", "link", "partner", "coupon"].contains(&name.as_str()) {
            return Err("a channel name is not that of a built-in channel");
        }
        Ok(())
    }

    /// The tag written into share links.
    pub fn tag(&self) -> &str {
        match self {
            Channel::Email => "email",
            Channel::Social => "social",
            Channel::Sms => "sms",
            Channel::Link => "link",
            Channel::Partner => "partner",
            Channel::Coupon => "coupon",
            Channel::Other(name) => name,
        }
    }
}

/// Builds share links that carry a code and the channel they were shared on.
///
/// ```
/// use referral_engine::domain::code::{Channel, ReferralCode, ShareLink};
/// let code: ReferralCode = "ABCDE-FGHJK".parse().unwrap();
/// let link = ShareLink::new("https://example.com/join")
///     .with_param("utm_campaign", "spring sale")
///     .build(&code, &Channel::Email);
/// assert_eq!(link, "https://example.com/join?ref=ABCDEFGHJK&channel=email&utm_campaign=spring%20sale");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareLink {
    base: String,
    code_param: String,
    channel_param: String,
    extra: Vec<(String, String)>,
}

impl ShareLink {
    /// Links to `base`, with the code in `ref` and the channel in `channel`.
    pub fn new(base: impl Into<String>) -> Self {
        Self { base: base.into(), code_param: "ref".into(), channel_param: "channel".into(), extra: Vec::new() }
    }

    /// Uses another query parameter name for the code.
    pub fn with_code_param(mut self, name: impl Into<String>) -> Self {
        self.code_param = name.into();
        self
    }

    /// Adds a fixed query parameter (a campaign tag, say).
    pub fn with_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((name.into(), value.into()));
        self
    }

    /// The link for one code on one channel.
    pub fn build(&self, code: &ReferralCode, channel: &Channel) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        let mut url = format!(
            "{}{sep}{}={}&{}={}",
            self.base,
            encode(&self.code_param),
            code.as_str(),
            encode(&self.channel_param),
            encode(channel.tag())
        );
        for (k, v) in &self.extra {
            url.push('&');
            url.push_str(&encode(k));
            url.push('=');
            url.push_str(&encode(v));
        }
        url
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// How a code may be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CodeUse {
    /// Any number of sign-ups.
    Reusable,
    /// One sign-up; `Some` once redeemed.
    SingleUse(Option<ParticipantId>),
}

/// A code and the (program, participant) it resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CodeRecord {
    /// The normalized code.
    pub code: ReferralCode,
    /// Its program.
    pub program: ProgramId,
    /// Whom it attributes to.
    pub owner: ParticipantId,
    /// Reusable or single-use.
    pub usage: CodeUse,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_parse_back_and_differ() {
        let random = SeededRandom::new(7);
        let a = ReferralCode::generate(&random);
        let b = ReferralCode::generate(&random);
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), GENERATED_LEN);
        assert_eq!(ReferralCode::parse(&a.display_grouped().to_lowercase()).unwrap(), a);
    }

    #[test]
    fn malformed_codes_say_why() {
        assert!(matches!(ReferralCode::parse("abc"), Err(CodeError::BadLength { len: 3, .. })));
        assert!(matches!(ReferralCode::parse("abc_def"), Err(CodeError::BadCharacter { found: '_', .. })));
        assert!(matches!(ReferralCode::parse(&"A".repeat(40)), Err(CodeError::BadLength { .. })));
        assert!(matches!(ReferralCode::parse("ab\u{0}cd"), Err(CodeError::BadCharacter { .. })));
    }
}
