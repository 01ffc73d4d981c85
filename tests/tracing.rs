//! With the feature `tracing`, a handled event leaves a `referral.handle`
//! span, a `referral.decide` span with its program, kind and key, and
//! events for the answer and the commit; a refusal names its code. The
//! crate installs no subscriber: this test brings its own.
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event as TraceEvent, Metadata, Subscriber};

use referral_engine::event::{Enroll, SignUp};
use referral_engine::{Engine, Event, MemoryStore, ParticipantId, ProgramSpec};

/// Every span opened and event emitted, as `name field=value ...` lines.
#[derive(Default)]
struct Lines {
    lines: Mutex<Vec<String>>,
    next: AtomicU64,
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
}

impl Subscriber for &'static Lines {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(span.metadata().name().to_owned());
        span.record(&mut fields);
        self.lines.lock().unwrap().push(fields.0);
        Id::from_u64(self.next.fetch_add(1, Ordering::SeqCst) + 1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut fields = Fields("record".to_owned());
        values.record(&mut fields);
        self.lines.lock().unwrap().push(fields.0);
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &TraceEvent<'_>) {
        let mut fields = Fields("event".to_owned());
        event.record(&mut fields);
        self.lines.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn handle_decide_and_commit_are_traced() {
    let lines: &'static Lines = Box::leak(Box::default());
    tracing::subscriber::with_default(lines, || {
        let spec: ProgramSpec = serde_json::from_str(
            r#"{"id": "p", "name": "P", "currency": "USD",
            "policies": [{"type": "one_sided", "name": "bounty", "on": "sign_up", "reward": {"fixed": "5.00 USD"}}]}"#,
        )
        .unwrap();
        let engine = Engine::new(MemoryStore::new()).with_program(spec.build().unwrap());
        let ann = ParticipantId::new("ann").unwrap();
        engine.handle(&Event::new("e1", "p", Enroll::new(ann)).unwrap()).unwrap().unwrap();
        let refused = Event::new("s1", "p", SignUp::new(ParticipantId::new("bob").unwrap(), "NOSUCHCODE")).unwrap();
        engine.handle(&refused).unwrap().unwrap_err();
    });
    let lines = lines.lines.lock().unwrap().join("\n");
    for expected in [
        "referral.handle call=\"handle\" events=1",
        "referral.decide program=p kind=\"enroll\" key=e1",
        "event message=accepted rewards=0",
        "event message=committed attempt=0 events=1",
        "record attempts=1",
        "referral.decide program=p kind=\"sign_up\" key=s1",
        "event message=refused refusal=\"unknown_code\"",
    ] {
        assert!(lines.contains(expected), "no `{expected}` in:\n{lines}");
    }
}
