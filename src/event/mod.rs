//! Events in, outcomes out: [`Event`] (a key, a program and an
//! [`EventKind`]), the kinds' structs ([`facts`] from the host,
//! [`commands`] from operators and jobs), and what an event changed
//! ([`Outcome`], with its [`Notice`]s).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::code::ReferralCode;
use crate::domain::id::{EventKey, ProgramId};
use crate::domain::ledger::{LedgerEntry, Reward};
use crate::domain::referral::Referral;

pub mod commands;
pub mod facts;
mod notice;
pub mod outbox;
mod stored;

pub use commands::{Acknowledge, Approve, IssueCode, IssuePartnerCodes, Payout, Redeem, Reinstate, Reject, Suspend};
pub use facts::{Action, Chargeback, Enroll, InviteSent, Purchase, Refund, SignUp};
pub use notice::{LimitReason, Notice};
pub use outbox::{AuditEntry, Notification, NotificationId, OutboxEntry};
pub use stored::{EventDigest, StoredEvent};

/// One thing that happened in the host, for one program, under the host's
/// idempotency key.
///
/// ```
/// use referral_engine::Event;
/// use referral_engine::event::SignUp;
/// let e = Event::new("signup-42", "dropbox", SignUp::new("bob".parse()?, "ABCDE-FGHJK"))?;
/// assert_eq!(e.key.as_str(), "signup-42");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Event {
    /// The idempotency key: the same key again returns the first outcome.
    pub key: EventKey,
    /// The program it belongs to.
    pub program: ProgramId,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    /// An event, validating the key and program id.
    pub fn new(key: &str, program: &str, kind: impl Into<EventKind>) -> Result<Self, crate::domain::id::IdError> {
        Ok(Self { key: EventKey::new(key)?, program: ProgramId::new(program)?, kind: kind.into() })
    }
}

/// What happened: a fact from the host, an operator's command, or time
/// passing. Each kind but [`Tick`](EventKind::Tick) is a struct of its own,
/// built with `new` and `with_*` methods, and turns into an `EventKind` with
/// `into()` (so [`Event::new`] takes it directly).
///
/// On the wire it is one object tagged by `type`:
/// `{"type": "sign_up", "referee": "bob", "code": "ANN-2026"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
#[non_exhaustive]
pub enum EventKind {
    /// A participant joins as a referrer and gets a code.
    Enroll(Enroll),
    /// An enrolled referrer gets another code.
    IssueCode(IssueCode),
    /// A partner gets a batch of single-use codes.
    IssuePartnerCodes(IssuePartnerCodes),
    /// A referrer sent an invite.
    InviteSent(InviteSent),
    /// Someone signed up with a code.
    SignUp(SignUp),
    /// A purchase or recurring payment.
    Purchase(Purchase),
    /// A refund of (part of) an order.
    Refund(Refund),
    /// A chargeback of (part of) an order.
    Chargeback(Chargeback),
    /// A participant completed a named action.
    Action(Action),
    /// Time passed: matured holds are released and stale referrals expire.
    Tick,
    /// A participant is suspended.
    Suspend(Suspend),
    /// A suspension ends.
    Reinstate(Reinstate),
    /// A participant redeems points for a catalog item.
    Redeem(Redeem),
    /// A reviewer approves a flagged referral.
    Approve(Approve),
    /// A reviewer rejects a flagged referral.
    Reject(Reject),
    /// The host sent outbox notifications.
    Acknowledge(Acknowledge),
    /// Available balances are marked paid.
    Payout(Payout),
}

impl EventKind {
    /// The kind's name, as its JSON form's `"type"` gives it (`"sign_up"`).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Enroll(_) => "enroll",
            EventKind::IssueCode(_) => "issue_code",
            EventKind::IssuePartnerCodes(_) => "issue_partner_codes",
            EventKind::InviteSent(_) => "invite_sent",
            EventKind::SignUp(_) => "sign_up",
            EventKind::Purchase(_) => "purchase",
            EventKind::Refund(_) => "refund",
            EventKind::Chargeback(_) => "chargeback",
            EventKind::Action(_) => "action",
            EventKind::Tick => "tick",
            EventKind::Suspend(_) => "suspend",
            EventKind::Reinstate(_) => "reinstate",
            EventKind::Redeem(_) => "redeem",
            EventKind::Approve(_) => "approve",
            EventKind::Reject(_) => "reject",
            EventKind::Acknowledge(_) => "acknowledge",
            EventKind::Payout(_) => "payout",
        }
    }
}

macro_rules! kinds {
    ($($kind:ident),*) => {$(
        impl From<$kind> for EventKind {
            fn from(kind: $kind) -> Self {
                EventKind::$kind(kind)
            }
        }
    )*};
}

kinds!(
    Enroll,
    IssueCode,
    IssuePartnerCodes,
    InviteSent,
    SignUp,
    Purchase,
    Refund,
    Chargeback,
    Action,
    Suspend,
    Reinstate,
    Redeem,
    Approve,
    Reject,
    Acknowledge,
    Payout
);

/// What an event changed: the host's receipt and its source of notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Outcome {
    /// The event's key.
    pub event: EventKey,
    /// When it was handled.
    pub at: DateTime<Utc>,
    /// Referrals created or changed, as they now stand.
    pub referrals: Vec<Referral>,
    /// Rewards granted or changed, as they now stand.
    pub rewards: Vec<Reward>,
    /// Ledger entries written.
    pub entries: Vec<LedgerEntry>,
    /// Codes issued.
    pub codes: Vec<ReferralCode>,
    /// Domain events, for thank-you messages and the like.
    pub notices: Vec<Notice>,
}

impl Outcome {
    pub(crate) fn new(event: EventKey, at: DateTime<Utc>) -> Self {
        Self { event, at, referrals: vec![], rewards: vec![], entries: vec![], codes: vec![], notices: vec![] }
    }

    /// Whether the event changed nothing.
    pub fn is_empty(&self) -> bool {
        self.referrals.is_empty()
            && self.rewards.is_empty()
            && self.entries.is_empty()
            && self.codes.is_empty()
            && self.notices.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_is_one_object_tagged_by_type_as_before_the_structs() {
        // The form stored events have had since the first release.
        let json =
            r#"{"type":"sign_up","referee":"bob","code":"ANN-2026","channel":"email","clicked_at":null,"signals":[]}"#;
        let kind: EventKind = serde_json::from_str(json).unwrap();
        let bob = SignUp::new("bob".parse().unwrap(), "ANN-2026").via(crate::domain::code::Channel::Email);
        assert_eq!(kind, EventKind::SignUp(bob));
        assert_eq!(serde_json::to_string(&kind).unwrap(), json);
        let short: EventKind = serde_json::from_str(r#"{"type":"enroll","participant":"ann"}"#).unwrap();
        assert_eq!(short, Enroll::new("ann".parse().unwrap()).into());
        assert_eq!(serde_json::from_str::<EventKind>(r#"{"type":"tick"}"#).unwrap(), EventKind::Tick);
    }

    #[test]
    fn a_kinds_name_is_its_json_type() {
        let kinds: Vec<EventKind> = vec![
            Enroll::new("ann".parse().unwrap()).into(),
            SignUp::new("bob".parse().unwrap(), "ANN-2026").into(),
            EventKind::Tick,
            Refund::new("o1".parse().unwrap(), "1.00 USD".parse().unwrap()).into(),
        ];
        for kind in kinds {
            let json = serde_json::to_value(&kind).unwrap();
            assert_eq!(json["type"], kind.name());
        }
    }

    #[test]
    fn a_misspelt_field_of_a_kind_is_refused() {
        let err =
            serde_json::from_str::<EventKind>(r#"{"type":"sign_up","referee":"bob","code":"X","chanel":"email"}"#)
                .unwrap_err();
        assert!(err.to_string().contains("chanel"), "{err}");
    }
}
