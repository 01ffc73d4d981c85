//! Facts: what happened in the host (people joining, signing up, paying,
//! refunding, acting). Each is built with `new` from its required fields and
//! `with_*`/`via` methods for the optional ones, so a field added later does
//! not break a host.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::code::Channel;
use crate::domain::id::{OrderId, ParticipantId};
use crate::domain::participant::{Attribute, Attributes};
use crate::domain::value::Value;
use crate::fraud::Signal;

/// `with_signal` and `with_signals`, for the kinds that carry identity signals.
macro_rules! signal_builders {
    () => {
        /// With one more identity signal.
        pub fn with_signal(mut self, signal: Signal) -> Self {
            self.signals.push(signal);
            self
        }

        /// With these identity signals (replacing any set before).
        pub fn with_signals(mut self, signals: impl IntoIterator<Item = Signal>) -> Self {
            self.signals = signals.into_iter().collect();
            self
        }
    };
}

/// A participant joins as a referrer and gets a code.
///
/// ```
/// use referral_engine::event::Enroll;
/// use referral_engine::fraud::Signal;
/// let ann = Enroll::new("ann".parse()?).with_vanity_code("ANN-2026").with_signal(Signal::ip("10.0.0.1"));
/// assert_eq!(ann.vanity_code.as_deref(), Some("ANN-2026"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Enroll {
    /// The participant who enrolls.
    pub participant: ParticipantId,
    /// The segment the host puts them in (it picks the policies that apply), if any.
    #[serde(default)]
    pub segment: Option<String>,
    /// Attributes the program's enrollment rule looks at.
    #[serde(default)]
    pub attributes: Attributes,
    /// A code of the participant's choosing instead of a generated one.
    #[serde(default)]
    pub vanity_code: Option<String>,
    /// The participant's identity signals, for fraud checks on the people they refer.
    #[serde(default)]
    pub signals: Vec<Signal>,
}

impl Enroll {
    /// An enrollment with no segment, attributes, vanity code or signals.
    pub fn new(participant: ParticipantId) -> Self {
        Self { participant, segment: None, attributes: Attributes::new(), vanity_code: None, signals: vec![] }
    }

    /// In a segment.
    pub fn in_segment(mut self, segment: impl Into<String>) -> Self {
        self.segment = Some(segment.into());
        self
    }

    /// With one more attribute for the enrollment rule.
    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<Attribute>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }

    /// With these attributes (replacing any set before).
    pub fn with_attributes(mut self, attributes: Attributes) -> Self {
        self.attributes = attributes;
        self
    }

    /// With a vanity code instead of a generated one.
    pub fn with_vanity_code(mut self, code: impl Into<String>) -> Self {
        self.vanity_code = Some(code.into());
        self
    }

    signal_builders!();
}

/// A referrer sent an invite (counted for conversion).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InviteSent {
    /// The referrer who sent it.
    pub referrer: ParticipantId,
    /// The channel it went through.
    #[serde(default)]
    pub channel: Channel,
}

impl InviteSent {
    /// An invite sent as a link.
    pub fn new(referrer: ParticipantId) -> Self {
        Self { referrer, channel: Channel::default() }
    }

    /// Sent through `channel`.
    pub fn via(mut self, channel: Channel) -> Self {
        self.channel = channel;
        self
    }
}

/// Someone signed up with a referral code (from a link or typed in).
///
/// ```
/// use referral_engine::event::SignUp;
/// use referral_engine::domain::code::Channel;
/// let bob = SignUp::new("bob".parse()?, "ANN-2026").via(Channel::Email);
/// assert_eq!(bob.channel, Channel::Email);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SignUp {
    /// The new participant, referred.
    pub referee: ParticipantId,
    /// The code as typed or taken from the link (checked when handled).
    pub code: String,
    /// The channel the referral came through.
    #[serde(default)]
    pub channel: Channel,
    /// When the referee clicked the link, for the attribution window.
    #[serde(default)]
    pub clicked_at: Option<DateTime<Utc>>,
    /// The referee's identity signals, for fraud checks.
    #[serde(default)]
    pub signals: Vec<Signal>,
}

impl SignUp {
    /// A sign-up with a code, through a plain link, with no click time or signals.
    pub fn new(referee: ParticipantId, code: impl Into<String>) -> Self {
        Self { referee, code: code.into(), channel: Channel::Link, clicked_at: None, signals: vec![] }
    }

    /// Through `channel`.
    pub fn via(mut self, channel: Channel) -> Self {
        self.channel = channel;
        self
    }

    /// The referee clicked the link at `at` (the attribution window counts from it).
    pub fn clicked_at(mut self, at: DateTime<Utc>) -> Self {
        self.clicked_at = Some(at);
        self
    }

    signal_builders!();
}

/// A purchase or a recurring payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Purchase {
    /// The customer who paid.
    pub customer: ParticipantId,
    /// The host's order id (unique in the program).
    pub order: OrderId,
    /// The amount paid, in the program's currency.
    pub amount: Value,
    /// A referral code typed in as a coupon at checkout, if any.
    #[serde(default)]
    pub coupon: Option<String>,
}

impl Purchase {
    /// A purchase without a coupon.
    pub fn new(customer: ParticipantId, order: OrderId, amount: Value) -> Self {
        Self { customer, order, amount, coupon: None }
    }

    /// With a referral code typed in as a coupon (it signs the customer up).
    pub fn with_coupon(mut self, code: impl Into<String>) -> Self {
        self.coupon = Some(code.into());
        self
    }
}

/// A refund of an order, whole or in part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Refund {
    /// The order refunded.
    pub order: OrderId,
    /// The amount refunded.
    pub amount: Value,
}

impl Refund {
    /// `amount` of `order` refunded.
    pub fn new(order: OrderId, amount: Value) -> Self {
        Self { order, amount }
    }
}

/// A chargeback of an order, whole or in part: reversed like a refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Chargeback {
    /// The order charged back.
    pub order: OrderId,
    /// The amount charged back.
    pub amount: Value,
}

impl Chargeback {
    /// `amount` of `order` charged back.
    pub fn new(order: OrderId, amount: Value) -> Self {
        Self { order, amount }
    }
}

/// A participant completed a named action (a qualification trigger).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Action {
    /// The participant who acted.
    pub participant: ParticipantId,
    /// The action's name, as the program's qualification names it.
    pub name: String,
}

impl Action {
    /// `participant` completed `name`.
    pub fn new(participant: ParticipantId, name: impl Into<String>) -> Self {
        Self { participant, name: name.into() }
    }
}
