//! Fraud controls: identity signals, kept only as keyed hashes, and the rules
//! that reject or flag a referral on them.
//!
//! The host passes signals with a sign-up or an enrollment (email, phone,
//! device id, IP address, payment-instrument fingerprint). The engine
//! normalizes each (emails lower-cased, with the dots and `+tags` that the
//! provider ignores folded away; phones to digits; IPs to their canonical
//! form), then replaces it with HMAC-SHA-256 under the host's secret before
//! anything is stored or compared. No raw email, phone or IP is ever written.

use std::fmt;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::domain::id::ParticipantId;

/// What a signal identifies.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SignalKind {
    /// An email address.
    Email,
    /// A phone number.
    Phone,
    /// A device id.
    Device,
    /// An IP address: weak, since innocent people share one (an office).
    Ip,
    /// A payment-instrument fingerprint.
    Payment,
}

impl SignalKind {
    /// Whether innocent people commonly share it (then a match flags for
    /// review by default rather than rejects).
    pub fn is_weak(self) -> bool {
        matches!(self, SignalKind::Ip)
    }

    /// Its stable name (`"email"`, `"ip"`...): what keys and messages hold,
    /// never a `Debug` rendering, so renaming the variant moves nothing stored.
    pub fn name(self) -> &'static str {
        match self {
            SignalKind::Email => "email",
            SignalKind::Phone => "phone",
            SignalKind::Device => "device",
            SignalKind::Ip => "ip",
            SignalKind::Payment => "payment",
        }
    }
}

/// One identity signal: raw as the host passes it, or hashed as the engine
/// keeps it. The engine hashes raw signals before an event is stored.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Signal {
    /// What it identifies.
    pub kind: SignalKind,
    /// The value: raw until hashed.
    pub value: SignalValue,
}

/// A signal's value.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SignalValue {
    /// As the host passed it; never stored.
    Raw(String),
    /// HMAC-SHA-256 of the normalized value, hex.
    Hashed(String),
}

impl fmt::Debug for Signal {
    /// Never prints a raw value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            SignalValue::Raw(_) => write!(f, "{}:<raw>", self.kind.name()),
            // Nor a hash: one that leaked could be sent to frame its owner.
            SignalValue::Hashed(_) => write!(f, "{}:<hashed>", self.kind.name()),
        }
    }
}

impl Signal {
    /// A raw signal, to be hashed by the engine.
    pub fn raw(kind: SignalKind, value: impl Into<String>) -> Self {
        Self { kind, value: SignalValue::Raw(value.into()) }
    }

    /// An email signal.
    pub fn email(value: impl Into<String>) -> Self {
        Self::raw(SignalKind::Email, value)
    }

    /// An IP address signal.
    pub fn ip(value: impl Into<String>) -> Self {
        Self::raw(SignalKind::Ip, value)
    }

    /// The hash, if hashed.
    pub fn hash(&self) -> Option<&str> {
        match &self.value {
            SignalValue::Hashed(h) => Some(h),
            SignalValue::Raw(_) => None,
        }
    }
}

/// Normalizes a signal's raw value; `None` when it is not a valid value of its kind.
pub fn normalize(kind: SignalKind, raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 512 {
        return None;
    }
    match kind {
        SignalKind::Email => {
            let lower = raw.to_lowercase();
            let (local, domain) = lower.rsplit_once('@')?;
            if local.is_empty() || domain.is_empty() {
                return None;
            }
            let domain = if domain == "googlemail.com" { "gmail.com" } else { domain };
            // Providers that ignore +tags; Gmail ignores dots in the local part too.
            let plus = [
                "gmail.com",
                "outlook.com",
                "hotmail.com",
                "live.com",
                "icloud.com",
                "me.com",
                "fastmail.com",
                "proton.me",
                "protonmail.com",
            ];
            let mut local = local.to_owned();
            if plus.contains(&domain)
                && let Some((base, _)) = local.split_once('+')
            {
                local = base.to_owned();
            }
            if domain == "gmail.com" {
                local.retain(|c| c != '.');
            }
            (!local.is_empty()).then(|| format!("{local}@{domain}"))
        }
        SignalKind::Phone => {
            let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
            (digits.len() >= 6).then_some(digits)
        }
        SignalKind::Ip => raw.parse::<std::net::IpAddr>().ok().map(|ip| match ip {
            std::net::IpAddr::V6(v6) => v6.to_canonical().to_string(),
            v4 => v4.to_string(),
        }),
        SignalKind::Device | SignalKind::Payment => Some(raw.to_owned()),
    }
}

/// The host's secret for hashing signals.
#[derive(Clone)]
pub struct SignalKey(Vec<u8>);

impl fmt::Debug for SignalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignalKey(<secret>)")
    }
}

impl SignalKey {
    /// A key from a secret of at least 16 bytes.
    pub fn new(secret: impl Into<Vec<u8>>) -> Option<Self> {
        let secret = secret.into();
        (secret.len() >= 16).then_some(Self(secret))
    }

    /// Hashes a raw signal; `None` when its value is invalid for its kind, or
    /// when it is hashed already (only the engine hashes: a hash passed in
    /// would skip normalization, or replay one that leaked).
    pub fn hash(&self, signal: &Signal) -> Option<Signal> {
        let value = match &signal.value {
            SignalValue::Hashed(_) => return None,
            SignalValue::Raw(raw) => normalize(signal.kind, raw)?,
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).ok()?;
        mac.update(signal.kind.name().as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        Some(Signal { kind: signal.kind, value: SignalValue::Hashed(hex) })
    }
}

/// What a rule does when it matches.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// Refuse the referral (recorded as rejected, with the reason).
    Reject,
    /// Accept it into the review queue; its rewards wait for approval.
    Flag,
}

/// Too many sign-ups sharing one signal within a window.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SignalVelocity {
    /// Which signal.
    pub kind: SignalKind,
    /// Sign-ups allowed in the window.
    pub max: u32,
    /// The window, in hours.
    pub window_hours: u32,
    /// What happens beyond it (flag, by default).
    #[serde(default = "flag")]
    pub verdict: Verdict,
}

fn flag() -> Verdict {
    Verdict::Flag
}

/// A program's fraud rules. The defaults: a referee sharing a strong signal
/// with the referrer is a self-referral (reject), with another participant a
/// duplicate account (reject); sharing only a weak signal (IP) flags.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FraudRules {
    /// A referee whose signals match the referrer's.
    #[serde(default = "reject")]
    pub self_referral: Verdict,
    /// A referee whose signals match another participant's.
    #[serde(default = "reject")]
    pub duplicate_account: Verdict,
    /// A match on weak signals only (an IP address).
    #[serde(default = "flag")]
    pub weak_match: Verdict,
    /// Sign-ups per signal per window.
    #[serde(default)]
    pub signal_velocity: Vec<SignalVelocity>,
}

fn reject() -> Verdict {
    Verdict::Reject
}

impl Default for FraudRules {
    fn default() -> Self {
        Self {
            self_referral: Verdict::Reject,
            duplicate_account: Verdict::Reject,
            weak_match: Verdict::Flag,
            signal_velocity: vec![],
        }
    }
}

/// Who has shown one identity signal, and when sign-ups last carried it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SignalIndex {
    /// Participants carrying it (the first few).
    pub participants: Vec<ParticipantId>,
    /// Times of recent sign-ups carrying it.
    pub recent: Vec<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_fold_what_the_provider_ignores() {
        let n = |s| normalize(SignalKind::Email, s);
        assert_eq!(n(" J.Doe+promo@GoogleMail.com "), Some("jdoe@gmail.com".into()));
        assert_eq!(n("j.doe+x@outlook.com"), Some("j.doe@outlook.com".into()));
        // Near miss: other providers keep dots and tags.
        assert_eq!(n("j.doe+x@example.com"), Some("j.doe+x@example.com".into()));
        assert_eq!(n("no-at-sign"), None);
    }

    #[test]
    fn phones_and_ips_normalize() {
        assert_eq!(normalize(SignalKind::Phone, "+1 (555) 010-9999"), Some("15550109999".into()));
        assert_eq!(normalize(SignalKind::Ip, "::ffff:10.0.0.1"), Some("10.0.0.1".into()));
        assert_eq!(normalize(SignalKind::Ip, "10.0.0.300"), None);
    }

    #[test]
    fn hashes_are_keyed_and_hide_the_value() {
        let a = SignalKey::new(*b"0123456789abcdef").unwrap();
        let b = SignalKey::new(*b"fedcba9876543210").unwrap();
        let s = Signal::email("Ann@Example.com");
        let ha = a.hash(&s).unwrap();
        assert_eq!(ha, a.hash(&Signal::email("ann@example.com")).unwrap());
        assert_ne!(ha, b.hash(&s).unwrap());
        assert!(!format!("{ha:?}{s:?}").contains("ann"));
        assert!(SignalKey::new(*b"short").is_none());
    }
}
