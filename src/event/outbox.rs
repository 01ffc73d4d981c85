//! The outbox (notices waiting for the host to send them) and the audit
//! trail (the lines kept for good): both ordered by [`NotificationId`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::id::EventKey;
use crate::event::Notice;

/// A notification waiting in the outbox for the host to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Notification {
    /// Its id, which says when and by which event: the order in which
    /// notifications are read.
    pub id: NotificationId,
    /// What happened.
    pub notice: Notice,
}

/// The notices of one event still waiting in a program's outbox: one record
/// per event, so an event writes one outbox record however many notices it
/// gives, and acknowledging takes notices out until none is left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OutboxEntry {
    /// When the event was handled.
    pub at: DateTime<Utc>,
    /// The event.
    pub event: EventKey,
    /// The notices not yet acknowledged, each with its index among the
    /// event's notices, in that order.
    pub pending: Vec<(u32, Notice)>,
}

impl OutboxEntry {
    /// The pending notices as notifications, in order.
    pub fn notifications(&self) -> impl Iterator<Item = Notification> + '_ {
        self.pending.iter().map(|(index, notice)| Notification {
            id: NotificationId { at: self.at, event: self.event.clone(), index: *index },
            notice: notice.clone(),
        })
    }
}

/// A notification's place in a program's outbox (and an audit entry's in the
/// trail): the time of the event that wrote it, the event's key, and its index
/// among that event's notices.
///
/// The outbox and the trail are read oldest first; the notices of one event in
/// the order it gave them, events handled at the same instant in the order of
/// their stored keys. No program-wide sequence number orders them, so that
/// concurrent events never contend for one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationId {
    /// When the event was handled.
    pub at: DateTime<Utc>,
    /// The event that caused it.
    pub event: EventKey,
    /// The index among the event's notices.
    pub index: u32,
}

/// One line of the audit trail: a rejection, flag, approval, reversal or payout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// The event that caused it.
    pub event: EventKey,
    /// What happened, with its reason.
    pub notice: Notice,
}
