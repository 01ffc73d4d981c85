//! What the SQL stores share: the schema's migrations and the record encoding.
//!
//! Both SQL stores keep three tables:
//!
//! * `re_records (key, version, body)`: every record, its version, and its JSON
//!   body (decimals as exact text, never floats). `key` compares byte-wise.
//! * `re_events (key, digest, handled_at, outcome)`: the idempotency record of
//!   each event: its primary key makes a second commit of the same event
//!   fail, the digest of its payload tells a replay from a reuse, and its
//!   outcome is kept (JSON) until `forget_outcomes` sets it to NULL, oldest
//!   first through the partial index `re_events_kept`.
//!
//! `re_schema_version` records the migrations applied. PostgreSQL also keeps
//! one function, `re_commit`, that applies a whole commit in one statement
//! (one round trip; see the `postgres` module).

use chrono::{DateTime, Utc};

use crate::domain::id::EventKey;
use crate::event::{EventDigest, StoredEvent};
use crate::store::{Key, Record, StoreError, Versioned};

/// A migration: its version and, per dialect, its statements.
pub(crate) struct Migration {
    pub(crate) version: i64,
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) sqlite: &'static str,
    #[cfg_attr(not(any(feature = "postgres", feature = "sqlx-postgres")), allow(dead_code))]
    pub(crate) postgres: &'static str,
}

pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sqlite:
            "CREATE TABLE re_records (key TEXT PRIMARY KEY, version INTEGER NOT NULL, body TEXT NOT NULL) WITHOUT ROWID;
             CREATE TABLE re_events (key TEXT PRIMARY KEY, event TEXT NOT NULL, outcome TEXT NOT NULL) WITHOUT ROWID;",
        postgres:
            "CREATE TABLE re_records (key TEXT COLLATE \"C\" PRIMARY KEY, version BIGINT NOT NULL, body TEXT NOT NULL);
               CREATE TABLE re_events (key TEXT PRIMARY KEY, event TEXT NOT NULL, outcome TEXT NOT NULL);",
    },
    // Version 2 created the first `re_commit`; version 3 replaces it whole
    // (`CREATE OR REPLACE`), so version 2 is empty now: a schema at version 2
    // and a fresh one end the same.
    Migration { version: 2, sqlite: "", postgres: "" },
    Migration { version: 3, sqlite: "", postgres: include_str!("migrations/0003_re_commit.sql") },
    // The data format's own record; and on PostgreSQL row locks instead of
    // one advisory lock per key (a commit's footprint no longer depends on
    // the server's lock table).
    Migration {
        version: 4,
        sqlite: "CREATE TABLE re_data_format (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);",
        postgres: concat!(
            "CREATE TABLE re_data_format (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());\n",
            include_str!("migrations/0004_re_commit_row_locks.sql")
        ),
    },
    // Events kept as key, digest, time and (for the retention window)
    // outcome. The old table is renamed, not dropped: `migrate()` moves its
    // rows (each decoded, its digest taken) and then drops it.
    Migration {
        version: 5,
        sqlite: "ALTER TABLE re_events RENAME TO re_events_format3;
             CREATE TABLE re_events (key TEXT PRIMARY KEY, digest BLOB NOT NULL, handled_at TEXT NOT NULL, outcome TEXT) WITHOUT ROWID;
             CREATE INDEX re_events_kept ON re_events (handled_at) WHERE outcome IS NOT NULL;",
        postgres: include_str!("migrations/0005_re_events_digests.sql"),
    },
    // The views of `schema::VIEWS`, generated from the declaration
    // (`views`) by `migrate()` when it applies this version.
    Migration { version: VIEWS_SINCE, sqlite: "", postgres: "" },
    // `re_commit` refuses REPEATABLE READ (RE003: `StoreError::Isolation`).
    Migration { version: 7, sqlite: "", postgres: include_str!("migrations/0007_re_commit_isolation.sql") },
    // Data format 5: the views read a variant's name in both of its forms
    // (`ColumnType::Tag`); `migrate()` drops and creates them again.
    Migration { version: VIEWS_LATEST, sqlite: "", postgres: "" },
];

/// The views over the records (`schema::VIEWS`) come with schema version 6:
/// `migrate()` creates them from the declaration ([`views`]).
pub(crate) const VIEWS_SINCE: i64 = 6;

/// The schema version whose views this build creates: a store below it gets
/// them anew ([`views`] drops what an earlier version made).
pub(crate) const VIEWS_LATEST: i64 = 8;

/// The SQL dialects the stores speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Sqlite,
    #[cfg_attr(not(any(feature = "postgres", feature = "sqlx-postgres")), allow(dead_code))]
    Postgres,
}

/// `CREATE VIEW` for every declared view, in `dialect`, after dropping any
/// view of that name an earlier version created.
pub(crate) fn views(dialect: Dialect) -> String {
    let views = crate::store::schema::VIEWS.iter();
    views.clone().map(|v| format!("DROP VIEW IF EXISTS {};\n", v.name)).chain(views.map(|v| view(v, dialect))).collect()
}

fn view(v: &crate::store::schema::View, dialect: Dialect) -> String {
    use crate::store::schema::ColumnType;
    let unescape = |part: String| format!("replace(replace(replace({part}, '%2F', '/'), '%7E', '~'), '%25', '%')");
    let (program, source) = match dialect {
        Dialect::Sqlite => ("substr(r.key, 3, instr(substr(r.key, 3), '/') - 1)".to_owned(), "r.body"),
        Dialect::Postgres => ("split_part(r.key, '/', 2)".to_owned(), "r.j"),
    };
    let value = |from: &str, path: &[&str]| match dialect {
        Dialect::Sqlite => format!("json_extract({from}, '$.{}')", path.join(".")),
        Dialect::Postgres => format!("({from} #>> '{{{}}}')", path.join(",")),
    };
    let typed = |v: String, ty: ColumnType| match (dialect, ty) {
        (Dialect::Sqlite, ColumnType::Amount) => format!("substr({v}, 1, instr({v}, ' ') - 1)"),
        (Dialect::Sqlite, ColumnType::Currency) => format!("substr({v}, instr({v}, ' ') + 1)"),
        (Dialect::Sqlite, _) => v,
        (Dialect::Postgres, ColumnType::Amount) => format!("split_part({v}, ' ', 1)::numeric"),
        (Dialect::Postgres, ColumnType::Currency) => format!("split_part({v}, ' ', 2)"),
        (Dialect::Postgres, ColumnType::Decimal) => format!("{v}::numeric"),
        (Dialect::Postgres, ColumnType::Timestamp) => format!("{v}::timestamptz"),
        (Dialect::Postgres, ColumnType::Integer) => format!("{v}::bigint"),
        (Dialect::Postgres, ColumnType::Bool) => format!("{v}::boolean"),
        (Dialect::Postgres, _) => v,
    };
    // A variant's name: a string up to any `:` (`"ancestor:2"`), an object's
    // one key (`{"pending": ..}`), or, as format 4 wrote it, the object's tag
    // (`{"status": "pending", "until": ..}`, the tag named as the field).
    let tag = |path: &[&str]| {
        let field = path.last().copied().unwrap_or_default();
        match dialect {
            Dialect::Sqlite => {
                let at = format!("'$.{}'", path.join("."));
                let text = format!("json_extract({source}, {at})");
                format!(
                    "(CASE json_type({source}, {at}) \
                     WHEN 'text' THEN CASE WHEN instr({text}, ':') > 0 THEN substr({text}, 1, instr({text}, ':') - 1) ELSE {text} END \
                     WHEN 'object' THEN COALESCE(json_extract({source}, '$.{}.{field}'), \
                     (SELECT key FROM json_each({source}, {at}) LIMIT 1)) END)",
                    path.join(".")
                )
            }
            Dialect::Postgres => {
                let at = format!("({source} #> '{{{}}}')", path.join(","));
                format!(
                    "(CASE jsonb_typeof({at}) WHEN 'string' THEN split_part({at} #>> '{{}}', ':', 1) \
                     WHEN 'object' THEN COALESCE({at} ->> '{field}', (SELECT k FROM jsonb_object_keys({at}) k LIMIT 1)) END)"
                )
            }
        }
    };
    let mut columns = vec![format!("{} AS program", unescape(program))];
    for c in v.columns {
        let path: Vec<&str> = std::iter::once(v.root).chain(c.path.iter().copied()).collect();
        let column = match c.ty {
            ColumnType::Tag => tag(&path),
            ty => typed(value(source, &path), ty),
        };
        columns.push(format!("{column} AS {}", c.name));
    }
    let (lo, hi) = (format!("{}/", v.space.tag), format!("{}0", v.space.tag));
    let mut from = match dialect {
        Dialect::Sqlite => "re_records r".to_owned(),
        Dialect::Postgres => {
            format!("(SELECT key, body::jsonb AS j FROM re_records WHERE key >= '{lo}' AND key < '{hi}') r")
        }
    };
    if let Some((map, entry)) = v.each {
        for c in entry {
            columns.push(format!("{} AS {}", typed(value("e.value", c.path), c.ty), c.name));
        }
        match dialect {
            Dialect::Sqlite => from.push_str(&format!(", json_each(r.body, '$.{}.{map}') e", v.root)),
            Dialect::Postgres => from.push_str(&format!(
                " CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(r.j #> '{{{root},{map}}}') = 'object' \
                 THEN r.j #> '{{{root},{map}}}' ELSE '{{}}'::jsonb END) e",
                root = v.root
            )),
        }
    }
    let filter = match dialect {
        Dialect::Sqlite => format!(" WHERE r.key >= '{lo}' AND r.key < '{hi}'"),
        Dialect::Postgres => String::new(),
    };
    format!("CREATE VIEW {} AS SELECT {} FROM {from}{filter};\n", v.name, columns.join(", "))
}

/// The table `migrate()` moves events out of (and drops) when it applies
/// schema version 5.
pub(crate) const FORMAT_3_EVENTS: &str = "SELECT key, event, outcome FROM re_events_format3";

/// The statement that drops it once its rows moved.
pub(crate) const DROP_FORMAT_3_EVENTS: &str = "DROP TABLE re_events_format3";

/// The data format this build reads and writes: the keys and shapes of its
/// records. A schema version covers the tables; the format covers what is
/// in them, and `migrate()` records it in `re_data_format`. Every change of a
/// record's key or shape bumps it and ships its migration here (or a refusal).
///
/// | format | written by | what changed |
/// | --- | --- | --- |
/// | 1 | schema 1-2 (up to ccf688a) | codes at `c/<code>`, `Due::Expire(referee)`, review items at `q/<p>/<referee>` |
/// | 2 | schema 3 (up to 26cf2bf) | codes at `c/<program>/<code>`, expiries and review items by referral id |
/// | 3 | schema 4 | a currency outside ISO 4217 written with its minor units (`"PTS/0"`); `Referral::standing_referrer_rewards`; payout batches in records of their own (`u/<program>/<payout>`) instead of `ProgramState.payouts` and `.payout_cursors` |
/// | 4 | schema 5 to 7 | events kept as key, payload digest, time and outcome (forgotten past the retention window) instead of the whole event and outcome |
/// | 5 | schema 8 on | `Role`, `RewardStatus`, `ReferralStatus`, `EntryKind` written flat (`"referrer"`, `{"pending": ..}`); format 4's forms still read ([`super::format4`]), each record rewritten when an event next changes it; the views read both |
pub(crate) const FORMAT: i64 = 5;

/// What `migrate()` does about the data format, decided before it changes
/// anything.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FormatStep {
    /// No record to convert: record [`FORMAT`] (a new or empty store, one
    /// already in it, or one in format 3, whose events move with schema
    /// version 5: [`moved_event`]).
    Record,
    /// Format 2 to 3: every record is decoded once to prove it reads as this
    /// version reads it (a currency outside the standard, written by code
    /// alone, would not), and any that does not refuses the whole migration;
    /// then each referral gets its standing referrer rewards, counted from
    /// the rewards ([`Upgrade`]). Its events move with schema version 5.
    Upgrade,
}

/// The step from what a store says of itself: its schema version before
/// this `migrate()`, the format it recorded (none before format 3), and
/// whether it holds any record or event.
pub(crate) fn format_step(
    schema_before: i64,
    recorded: Option<i64>,
    holds_data: bool,
) -> Result<FormatStep, StoreError> {
    let found = match recorded {
        Some(f) => f,
        None if !holds_data => return Ok(FormatStep::Record),
        None if schema_before <= 2 => 1,
        None => 2,
    };
    let refuse = |what: &str| Err(StoreError::DataFormat { found, supported: FORMAT, what: what.to_owned() });
    match found {
        FORMAT | 4 | 3 => Ok(FormatStep::Record),
        2 => Ok(FormatStep::Upgrade),
        1 => refuse(
            "its codes, expiries and review items are keyed as before 0.1's storage rework, and no migration \
             converts them; export the program with the version that wrote it and replay its events into a new store",
        ),
        f if f > FORMAT => refuse("it was written by a newer version of referral-engine; upgrade the crate"),
        _ => refuse("no migration converts it"),
    }
}

/// The data migration from format 2 to 3, fed every stored row once: it
/// proves each reads back as this version reads it, and counts each
/// referral's standing referrer rewards (rewards of role referrer not wholly
/// reversed), which format 3 keeps on the referral.
#[derive(Debug, Default)]
pub(crate) struct Upgrade {
    standing: std::collections::HashMap<crate::domain::id::ReferralId, u32>,
    /// Rows to write as they are: program states without their payout
    /// batches, and each batch in a record of its own.
    writes: Vec<(String, String)>,
}

impl Upgrade {
    fn unreadable(table: &str, key: &str, e: &StoreError) -> StoreError {
        unreadable(2, table, key, e)
    }

    /// One row of `re_records`.
    pub(crate) fn record(&mut self, key: &str, body: &str) -> Result<(), StoreError> {
        if key.starts_with("s/") {
            return self.program_state(key, body).map_err(|e| Self::unreadable("re_records", key, &e));
        }
        let record = decode_record(key, body).map_err(|e| Self::unreadable("re_records", key, &e))?;
        if let Record::Reward(r) = &record
            && let (crate::domain::ledger::Role::Referrer, Some(id)) = (r.role, r.referral)
            && r.outstanding() > rust_decimal::Decimal::ZERO
        {
            let n = self.standing.entry(id).or_default();
            *n = n.saturating_add(1);
        }
        Ok(())
    }

    /// A format-2 program state: its payout ids and cursors move to records
    /// of their own; what stays must read back as format 3 reads it.
    fn program_state(&mut self, key: &str, body: &str) -> Result<(), StoreError> {
        use crate::domain::id::PayoutId;
        use crate::domain::state::PayoutBatch;
        let corrupt = |reason: String| StoreError::Corrupt { key: key.to_owned(), reason };
        let mut json: serde_json::Value = serde_json::from_str(body).map_err(|e| corrupt(e.to_string()))?;
        let state = json.get_mut("program").and_then(serde_json::Value::as_object_mut);
        let state = state.ok_or_else(|| corrupt("not a program state".into()))?;
        let finished: Vec<PayoutId> = match state.remove("payouts") {
            Some(ids) => serde_json::from_value(ids).map_err(|e| corrupt(e.to_string()))?,
            None => Vec::new(),
        };
        let under_way: std::collections::BTreeMap<PayoutId, String> = match state.remove("payout_cursors") {
            Some(cursors) => serde_json::from_value(cursors).map_err(|e| corrupt(e.to_string()))?,
            None => std::collections::BTreeMap::new(),
        };
        let body = serde_json::to_string(&json).map_err(|e| corrupt(e.to_string()))?;
        decode_record(key, &body)?;
        let batches = finished
            .into_iter()
            .map(|id| (id, PayoutBatch::finished()))
            .chain(under_way.into_iter().map(|(id, after)| (id, PayoutBatch::under_way(after))));
        for (id, batch) in batches {
            let at = Key::payout_of_state(key, &id).ok_or_else(|| corrupt("not a program state's key".into()))?;
            self.writes.push((at.as_str().to_owned(), encode(&Record::Payout(Box::new(batch)))?));
        }
        self.writes.push((key.to_owned(), body));
        Ok(())
    }

    /// Rows to write as they are (inserted, or replacing what is there).
    pub(crate) fn writes(&self) -> &[(String, String)] {
        &self.writes
    }

    /// A referral row (`r/`, `x/`) as format 3 writes it, when it changes.
    pub(crate) fn rewrite(&self, key: &str, body: &str) -> Result<Option<String>, StoreError> {
        let mut record = decode_record(key, body)?;
        let Record::Referral(r) = &mut record else { return Ok(None) };
        match self.standing.get(&r.id) {
            Some(&n) if n != r.standing_referrer_rewards => {
                r.standing_referrer_rewards = n;
                encode(&record).map(Some)
            }
            _ => Ok(None),
        }
    }
}

/// A stored row that does not read back as this version reads it: the
/// migration is refused whole.
fn unreadable(found: i64, table: &str, key: &str, e: &StoreError) -> StoreError {
    StoreError::DataFormat {
        found,
        supported: FORMAT,
        what: format!("{table} row {key:?} does not read back in format {FORMAT} ({e}); nothing was changed"),
    }
}

/// A row of a format-3 (or 2) store's events table, as format 4 keeps it:
/// its key, the digest of the event as this version encodes it (the digest
/// a replay of it will have) and its outcome. A row that does not decode
/// refuses the migration.
pub(crate) fn moved_event(key: &str, event: &str, outcome: &str) -> Result<StoredEvent, StoreError> {
    let corrupt = |e: serde_json::Error| unreadable(3, "re_events", key, &corrupt(key, &e));
    let event: crate::Event = serde_json::from_str(event).map_err(corrupt)?;
    let outcome: crate::Outcome = super::format4::decode(outcome).map_err(corrupt)?;
    Ok(StoredEvent::new(&event, outcome))
}

/// The schema version this build of the crate needs.
pub(crate) fn latest() -> i64 {
    MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0)
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(Box::new(e)))
}

/// A row that does not decode: where and what kind of fault, never the
/// stored values themselves (serde's messages quote them).
fn corrupt(key: &str, e: &serde_json::Error) -> StoreError {
    let reason = format!("undecodable ({:?} error at line {}, column {})", e.classify(), e.line(), e.column());
    StoreError::Corrupt { key: key.to_owned(), reason }
}

pub(crate) fn decode_record(key: &str, body: &str) -> Result<Record, StoreError> {
    super::format4::decode(body).map_err(|e| corrupt(key, &e))
}

/// A stored row read back: its version and decoded body.
pub(crate) fn versioned(key: &str, version: i64, body: &str) -> Result<Versioned, StoreError> {
    Ok(Versioned { version: from_sql_version(key, version)?, record: std::sync::Arc::new(decode_record(key, body)?) })
}

/// A row of `re_events` read back.
pub(crate) fn decode_event(
    key: &EventKey,
    digest: &[u8],
    handled_at: DateTime<Utc>,
    outcome: Option<&str>,
) -> Result<StoredEvent, StoreError> {
    let digest = EventDigest::from_slice(digest).ok_or_else(|| StoreError::Corrupt {
        key: key.to_string(),
        reason: format!("an event digest of {} bytes", digest.len()),
    })?;
    let outcome = outcome.map(|o| super::format4::decode(o).map_err(|e| corrupt(key.as_str(), &e))).transpose()?;
    Ok(StoredEvent { key: key.clone(), digest, handled_at, outcome })
}

#[cfg(any(feature = "postgres", feature = "sqlx-postgres"))]
mod postgres_commit {
    use super::*;
    use crate::store::{Commit, Write};

    /// Events as arrays, as `re_commit` and the move of schema 5 take them.
    #[derive(Default)]
    pub(crate) struct EventArrays<'c> {
        pub(crate) keys: Vec<&'c str>,
        pub(crate) digests: Vec<&'c [u8]>,
        pub(crate) handled: Vec<chrono::DateTime<chrono::Utc>>,
        pub(crate) outcomes: Vec<Option<String>>,
    }

    impl<'c> EventArrays<'c> {
        pub(crate) fn of(events: &'c [StoredEvent]) -> Result<Self, StoreError> {
            let mut a = EventArrays::default();
            for stored in events {
                a.keys.push(stored.key.as_str());
                a.digests.push(&stored.digest.as_bytes()[..]);
                a.handled.push(stored.handled_at);
                a.outcomes.push(stored.outcome.as_ref().map(encode).transpose()?);
            }
            Ok(a)
        }
    }

    /// A commit's arrays, as `re_commit` takes them.
    #[derive(Default)]
    pub(crate) struct Arrays<'c> {
        pub(crate) events: EventArrays<'c>,
        pub(crate) read_keys: Vec<&'c str>,
        pub(crate) read_versions: Vec<i64>,
        pub(crate) new_keys: Vec<&'c str>,
        pub(crate) new_bodies: Vec<String>,
        pub(crate) changed_keys: Vec<&'c str>,
        pub(crate) changed_versions: Vec<i64>,
        pub(crate) changed_bodies: Vec<String>,
        pub(crate) gone: Vec<&'c str>,
    }

    impl<'c> Arrays<'c> {
        pub(crate) fn of(commit: &'c Commit) -> Result<Self, StoreError> {
            let mut a = Arrays { events: EventArrays::of(&commit.events)?, ..Arrays::default() };
            for (key, version) in &commit.reads {
                a.read_keys.push(key.as_str());
                a.read_versions.push(to_sql_version(*version)?);
            }
            for write in &commit.writes {
                match write {
                    Write::Put(key, record) => {
                        let body = encode(record.as_ref())?;
                        match commit.expected(key) {
                            0 => {
                                a.new_keys.push(key.as_str());
                                a.new_bodies.push(body);
                            }
                            expected => {
                                a.changed_keys.push(key.as_str());
                                a.changed_versions.push(next_sql_version(key.as_str(), expected)?);
                                a.changed_bodies.push(body);
                            }
                        }
                    }
                    Write::Delete(key) => a.gone.push(key.as_str()),
                }
            }
            Ok(a)
        }
    }

    /// What a failed `re_commit` means, from its SQLSTATE, message and
    /// detail: a duplicate event (`RE001`), a conflict (`RE002`, or a unique
    /// violation: a record read as absent was inserted concurrently), or
    /// nothing the function raised (`None`: classify it as any failure).
    pub(crate) fn commit_failure(
        code: &str,
        message: &str,
        detail: Option<&str>,
        commit: &Commit,
    ) -> Option<StoreError> {
        match code {
            "RE001" => commit.keys().find(|k| k.as_str() == message).map(|key| StoreError::DuplicateEvent(key.clone())),
            "RE002" => {
                let mut versions = detail.unwrap_or_default().split(' ').map(str::parse::<u64>);
                match (versions.next(), versions.next()) {
                    (Some(Ok(expected)), Some(Ok(found))) => {
                        Some(StoreError::Conflict { key: Key::from_stored(message.to_owned()), expected, found })
                    }
                    _ => None,
                }
            }
            "RE003" => Some(StoreError::Isolation { level: "repeatable read" }),
            "23505" => {
                let key = commit.writes.iter().map(Write::key).find(|k| commit.expected(k) == 0).cloned();
                let key = key.unwrap_or_else(|| Key::from_stored(String::new()));
                Some(StoreError::Conflict { key, expected: 0, found: 1 })
            }
            _ => None,
        }
    }
}
#[cfg(any(feature = "postgres", feature = "sqlx-postgres"))]
pub(crate) use postgres_commit::{Arrays, EventArrays, commit_failure};

/// Versions are `u64` in the engine and signed 64-bit integers in SQL.
pub(crate) fn to_sql_version(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|e| StoreError::Backend(Box::new(e)))
}

/// The version a write after `expected` gives, in SQL form.
pub(crate) fn next_sql_version(key: &str, expected: u64) -> Result<i64, StoreError> {
    expected.checked_add(1).map_or_else(
        || Err(StoreError::Corrupt { key: key.to_owned(), reason: "version at its maximum".into() }),
        to_sql_version,
    )
}

pub(crate) fn from_sql_version(key: &str, v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt { key: key.to_owned(), reason: format!("negative version {v}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batches under way move with their cursor, finished ones as finished;
    /// what stays of the state reads back in format 3.
    #[test]
    fn a_format_2_program_state_gives_its_payout_batches_records_of_their_own() {
        let mut up = Upgrade::default();
        let body =
            r#"{"program":{"redeemed_items":[["mug",2]],"payouts":["may"],"payout_cursors":{"june":"p/a%2Fb/zed"}}}"#;
        up.record("s/a%2Fb", body).unwrap();
        let writes: Vec<(&str, &str)> = up.writes().iter().map(|(k, b)| (k.as_str(), b.as_str())).collect();
        assert_eq!(
            writes,
            [
                ("u/a%2Fb/may", r#"{"payout":{"resume_after":null}}"#),
                ("u/a%2Fb/june", r#"{"payout":{"resume_after":"p/a%2Fb/zed"}}"#),
                ("s/a%2Fb", r#"{"program":{"redeemed_items":[["mug",2]]}}"#),
            ]
        );
        assert!(up.record("s/x", r#"{"program":{"payouts":[7]}}"#).is_err(), "a payout id that is not text");
    }

    #[test]
    fn formats_are_recorded_verified_or_refused() {
        assert_eq!(format_step(0, None, false).unwrap(), FormatStep::Record);
        assert_eq!(format_step(3, None, false).unwrap(), FormatStep::Record);
        assert_eq!(format_step(3, None, true).unwrap(), FormatStep::Upgrade);
        assert_eq!(format_step(4, Some(3), true).unwrap(), FormatStep::Record);
        assert_eq!(format_step(5, Some(FORMAT), true).unwrap(), FormatStep::Record);
        assert!(matches!(format_step(2, None, true), Err(StoreError::DataFormat { found: 1, .. })));
        assert!(matches!(format_step(9, Some(FORMAT + 1), true), Err(StoreError::DataFormat { .. })));
    }
}
