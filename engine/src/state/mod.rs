//! The checkpoint store: which units of work are done, how far each lane's cursor is, which
//! keys were seen, the keyed values sources keep (an inventory's entity → content hash), and
//! the commit in progress.
//!
//! Sources see it only through the pipeline, and the pipeline only through [`CheckpointStore`],
//! a narrow interface: a shared store (DynamoDB, for several trawl processes over one lake)
//! can be added behind it later without touching a source.
//!
//! # The commit protocol
//! A commit makes output files, dead letters and checkpoints durable together, in two steps:
//! 1. [`CheckpointStore::prepare`] durably records a [`Commit`]: the files to publish (each
//!    already complete and fsync'd under a temporary name) and every done-mark, cursor and
//!    seen key that becomes true once they are published;
//! 2. the files are published (renamed into place, uploaded), then
//!    [`CheckpointStore::apply`] writes the checkpoints and drops the prepared commit, in one
//!    transaction.
//!
//! A crash between the two leaves the prepared commit behind; the next run finds it with
//! [`CheckpointStore::pending`] and rolls it forward (publishing is idempotent) before it
//! reads anything. So a published file is never without its checkpoint, and a checkpoint
//! never without its file: no record is lost and none is written twice.
//!
//! The default store is redb: an embedded, pure-Rust, ACID key-value store. A commit is durable
//! (fsync'd, copy-on-write B-tree, no torn writes after a crash), it needs no C toolchain and no
//! server, and one file per state directory is easy to back up or delete.

pub mod lock;

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
const CURSORS: TableDefinition<&str, &[u8]> = TableDefinition::new("cursors");
/// Seen keys → expiry (ms since the epoch).
const SEEN: TableDefinition<&str, i64> = TableDefinition::new("seen");
/// Keyed values ([`value_key`]) → JSON: what a source remembers per key (the content hash of
/// each entity of an inventory), set and removed with the unit that observed it.
const VALUES: TableDefinition<&str, &[u8]> = TableDefinition::new("values");
/// The prepared commit, at most one (key `""`).
const PENDING: TableDefinition<&str, &[u8]> = TableDefinition::new("pending_commit");

/// Errors of the state store, naming its file.
#[derive(Debug, thiserror::Error)]
#[error("state store {path}: {message}")]
pub struct StateError {
    path: String,
    message: String,
}

/// What is recorded for a finished unit (an object, a queue message).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectDone {
    /// Records read from it.
    pub records: u64,
    /// Records that went to the dead-letter output, plus 1 when the unit itself failed.
    pub errors: u64,
    /// When it was committed (ms since the epoch).
    pub committed_ms: i64,
}

/// A file staged for publication: complete and fsync'd at `staged`, to appear at `target`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StagedFile {
    /// The output's root: a local directory or `s3://bucket/prefix`.
    pub output: String,
    /// The staged file.
    pub staged: String,
    /// Its path relative to the output root.
    pub target: String,
    /// Events in it.
    pub rows: u64,
}

/// Dead-letter lines staged in `segment`, to be appended to `file` at byte `at`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StagedDeadLetters {
    /// The staged lines.
    pub segment: String,
    /// The run's dead-letter file.
    pub file: String,
    /// Its length before this commit: publishing truncates to it first, so a roll-forward
    /// after a crash mid-append writes each line once.
    pub at: u64,
}

/// Everything one commit makes durable.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Commit {
    /// Output files to publish.
    pub files: Vec<StagedFile>,
    /// Dead letters to publish.
    pub dead_letters: Option<StagedDeadLetters>,
    /// Units now done: key ([`unit_key`]) → what was read.
    pub done: Vec<(String, ObjectDone)>,
    /// Lane cursors now reached: key ([`lane_key`]) → the source's cursor value.
    pub cursors: Vec<(String, serde_json::Value)>,
    /// Keys now seen: key ([`seen_key`]) → expiry (ms since the epoch).
    pub seen: Vec<(String, i64)>,
    /// Keyed values now set (`Some`) or removed (`None`): key ([`value_key`]) → value. Absent
    /// from commits prepared before keyed values existed, which read as none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<(String, Option<serde_json::Value>)>,
}

impl Commit {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.dead_letters.is_none() && self.done.is_empty() && self.cursors.is_empty() && self.seen.is_empty() && self.values.is_empty()
    }
}

/// The key of a unit: connector, source and unit id, separated by a unit separator.
pub fn unit_key(connector: &str, source: &str, unit: &str) -> String {
    format!("{connector}\u{1f}{source}\u{1f}{unit}")
}

/// The key of a cursor lane (a region, a detector, a log group) of a source.
pub fn lane_key(connector: &str, source: &str, lane: &str) -> String {
    unit_key(connector, source, lane)
}

/// The key of a seen-set member.
pub fn seen_key(connector: &str, source: &str, set: &str, key: &str) -> String {
    format!("{connector}\u{1f}{source}\u{1f}{set}\u{1f}{key}")
}

/// The key of an entry of a source's keyed-value map `map`; [`value_prefix`] of the same map
/// is a prefix of it, so a store lists a map by range (a DynamoDB store: one partition key
/// per map, the entry's key as sort key).
pub fn value_key(connector: &str, source: &str, map: &str, key: &str) -> String {
    format!("{}{key}", value_prefix(connector, source, map))
}

/// The prefix every key of a source's keyed-value map starts with.
pub fn value_prefix(connector: &str, source: &str, map: &str) -> String {
    format!("{connector}\u{1f}{source}\u{1f}{map}\u{1f}")
}

/// What the pipeline needs of a checkpoint store.
///
/// Contract: reads reflect every [`apply`](Self::apply)d commit and nothing else; `prepare`
/// and `apply` are each durable when they return; at most one commit is prepared at a time.
pub trait CheckpointStore: Send + Sync {
    /// Whether the unit is done.
    fn is_done(&self, key: &str) -> Result<bool, StateError>;
    /// A lane's cursor, if it has one.
    fn cursor(&self, key: &str) -> Result<Option<serde_json::Value>, StateError>;
    /// Whether the key was seen and has not expired at `now_ms`.
    fn is_seen(&self, key: &str, now_ms: i64) -> Result<bool, StateError>;
    /// Every keyed value whose key starts with `prefix` ([`value_prefix`]), in key order.
    fn values(&self, prefix: &str) -> Result<Vec<(String, serde_json::Value)>, StateError>;
    /// Durably records `commit` as prepared (step 1 of the protocol).
    fn prepare(&self, commit: &Commit) -> Result<(), StateError>;
    /// Writes the prepared commit's checkpoints and forgets it (step 2), in one transaction.
    fn apply(&self, commit: &Commit) -> Result<(), StateError>;
    /// The commit prepared but not applied, left by a crash.
    fn pending(&self) -> Result<Option<Commit>, StateError>;
    /// Drops seen keys that expired before `now_ms`; returns how many.
    fn expire_seen(&self, now_ms: i64) -> Result<u64, StateError>;
}

/// The state store of one state directory: `<dir>/state.redb`.
pub struct StateStore {
    db: Database,
    path: String,
}

impl StateStore {
    /// Opens or creates `<dir>/state.redb`.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        let path = dir.join("state.redb");
        let err = |message: String| StateError { path: path.display().to_string(), message };
        std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create directory: {e}")))?;
        let db = Database::create(&path).map_err(|e| err(e.to_string()))?;
        let tx = db.begin_write().map_err(|e| err(e.to_string()))?;
        tx.open_table(OBJECTS).map_err(|e| err(e.to_string()))?;
        tx.open_table(CURSORS).map_err(|e| err(e.to_string()))?;
        tx.open_table(SEEN).map_err(|e| err(e.to_string()))?;
        tx.open_table(VALUES).map_err(|e| err(e.to_string()))?;
        tx.open_table(PENDING).map_err(|e| err(e.to_string()))?;
        tx.commit().map_err(|e| err(e.to_string()))?;
        Ok(Self { db, path: path.display().to_string() })
    }

    fn err(&self, e: impl std::fmt::Display) -> StateError {
        StateError { path: self.path.clone(), message: e.to_string() }
    }

    /// Number of units recorded as done.
    pub fn len(&self) -> Result<u64, StateError> {
        use redb::ReadableTableMetadata;
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(OBJECTS).map_err(|e| self.err(e))?;
        t.len().map_err(|e| self.err(e))
    }

    /// Whether no unit is recorded.
    pub fn is_empty(&self) -> Result<bool, StateError> {
        Ok(self.len()? == 0)
    }
}

impl CheckpointStore for StateStore {
    fn is_done(&self, key: &str) -> Result<bool, StateError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(OBJECTS).map_err(|e| self.err(e))?;
        Ok(t.get(key).map_err(|e| self.err(e))?.is_some())
    }

    fn cursor(&self, key: &str) -> Result<Option<serde_json::Value>, StateError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(CURSORS).map_err(|e| self.err(e))?;
        let Some(v) = t.get(key).map_err(|e| self.err(e))? else { return Ok(None) };
        serde_json::from_slice(v.value()).map(Some).map_err(|e| self.err(format!("cursor {key:?} is unreadable: {e}")))
    }

    fn is_seen(&self, key: &str, now_ms: i64) -> Result<bool, StateError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(SEEN).map_err(|e| self.err(e))?;
        Ok(t.get(key).map_err(|e| self.err(e))?.is_some_and(|exp| exp.value() > now_ms))
    }

    fn values(&self, prefix: &str) -> Result<Vec<(String, serde_json::Value)>, StateError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(VALUES).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for entry in t.range(prefix..).map_err(|e| self.err(e))? {
            let (k, v) = entry.map_err(|e| self.err(e))?;
            let k = k.value();
            if !k.starts_with(prefix) {
                break;
            }
            let v = serde_json::from_slice(v.value()).map_err(|e| self.err(format!("value {k:?} is unreadable: {e}")))?;
            out.push((k.to_string(), v));
        }
        Ok(out)
    }

    fn prepare(&self, commit: &Commit) -> Result<(), StateError> {
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = tx.open_table(PENDING).map_err(|e| self.err(e))?;
            let v = serde_json::to_vec(commit).expect("serializes");
            t.insert("", v.as_slice()).map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    fn apply(&self, commit: &Commit) -> Result<(), StateError> {
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut objects = tx.open_table(OBJECTS).map_err(|e| self.err(e))?;
            for (k, v) in &commit.done {
                let v = serde_json::to_vec(v).expect("serializes");
                objects.insert(k.as_str(), v.as_slice()).map_err(|e| self.err(e))?;
            }
            let mut cursors = tx.open_table(CURSORS).map_err(|e| self.err(e))?;
            for (k, v) in &commit.cursors {
                let v = serde_json::to_vec(v).expect("serializes");
                cursors.insert(k.as_str(), v.as_slice()).map_err(|e| self.err(e))?;
            }
            let mut seen = tx.open_table(SEEN).map_err(|e| self.err(e))?;
            for (k, exp) in &commit.seen {
                seen.insert(k.as_str(), *exp).map_err(|e| self.err(e))?;
            }
            let mut values = tx.open_table(VALUES).map_err(|e| self.err(e))?;
            for (k, v) in &commit.values {
                match v {
                    Some(v) => {
                        let v = serde_json::to_vec(v).expect("serializes");
                        values.insert(k.as_str(), v.as_slice()).map_err(|e| self.err(e))?;
                    }
                    None => {
                        values.remove(k.as_str()).map_err(|e| self.err(e))?;
                    }
                }
            }
            tx.open_table(PENDING).map_err(|e| self.err(e))?.remove("").map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    fn pending(&self) -> Result<Option<Commit>, StateError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(PENDING).map_err(|e| self.err(e))?;
        let Some(v) = t.get("").map_err(|e| self.err(e))? else { return Ok(None) };
        serde_json::from_slice(v.value()).map(Some).map_err(|e| self.err(format!("the prepared commit is unreadable: {e}")))
    }

    fn expire_seen(&self, now_ms: i64) -> Result<u64, StateError> {
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        let n;
        {
            let mut t = tx.open_table(SEEN).map_err(|e| self.err(e))?;
            let before = t.len().map_err(|e| self.err(e))?;
            t.retain(|_, exp| exp > now_ms).map_err(|e| self.err(e))?;
            n = before - t.len().map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applied_checkpoints_survive_reopen_and_prepared_ones_are_pending_until_applied() {
        let dir = tempfile::tempdir().unwrap();
        let key = unit_key("dev", "cloudtrail_files:x", "a.json.gz");
        let lane = lane_key("dev", "cloudtrail_lookup:us-east-1", "us-east-1");
        let seen = seen_key("dev", "inspector", "findings", "arn:1");
        let commit = Commit {
            done: vec![(key.clone(), ObjectDone { records: 3, errors: 0, committed_ms: 1 })],
            cursors: vec![(lane.clone(), serde_json::json!({"time": 5}))],
            seen: vec![(seen.clone(), 1_000)],
            ..Commit::default()
        };
        {
            let s = StateStore::open(dir.path()).unwrap();
            assert!(!s.is_done(&key).unwrap());
            s.prepare(&commit).unwrap();
            // Prepared is not applied: nothing reads as done yet.
            assert!(!s.is_done(&key).unwrap() && s.cursor(&lane).unwrap().is_none() && !s.is_seen(&seen, 0).unwrap());
        }
        let s = StateStore::open(dir.path()).unwrap();
        assert_eq!(s.pending().unwrap().as_ref(), Some(&commit), "a crash after prepare leaves it pending");
        s.apply(&commit).unwrap();
        assert_eq!(s.pending().unwrap(), None);
        drop(s);
        let s = StateStore::open(dir.path()).unwrap();
        assert!(s.is_done(&key).unwrap());
        assert_eq!(s.cursor(&lane).unwrap(), Some(serde_json::json!({"time": 5})));
        assert!(s.is_seen(&seen, 999).unwrap());
        assert!(!s.is_seen(&seen, 1_000).unwrap(), "expired at its expiry time");
        assert_eq!(s.expire_seen(1_001).unwrap(), 1);
        assert!(!s.is_seen(&seen, 0).unwrap());
        assert_eq!(s.len().unwrap(), 1);
    }

    #[test]
    fn keyed_values_are_set_and_removed_by_applied_commits_and_listed_per_map() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateStore::open(dir.path()).unwrap();
        let k = |map: &str, key: &str| value_key("dev", "iam:1", map, key);
        let set = Commit { values: vec![(k("entities", "user/a"), Some(serde_json::json!("h1"))), (k("entities", "user/b"), Some(serde_json::json!("h2"))), (k("other", "x"), Some(serde_json::json!(1)))], ..Commit::default() };
        s.prepare(&set).unwrap();
        assert!(s.values(&value_prefix("dev", "iam:1", "entities")).unwrap().is_empty(), "prepared is not applied");
        s.apply(&set).unwrap();
        let listed = s.values(&value_prefix("dev", "iam:1", "entities")).unwrap();
        assert_eq!(listed, vec![(k("entities", "user/a"), serde_json::json!("h1")), (k("entities", "user/b"), serde_json::json!("h2"))], "only its own map");
        let change = Commit { values: vec![(k("entities", "user/a"), None), (k("entities", "user/b"), Some(serde_json::json!("h3")))], ..Commit::default() };
        s.apply(&change).unwrap();
        drop(s);
        let s = StateStore::open(dir.path()).unwrap();
        assert_eq!(s.values(&value_prefix("dev", "iam:1", "entities")).unwrap(), vec![(k("entities", "user/b"), serde_json::json!("h3"))]);
        // A commit prepared before keyed values existed has no `values` field.
        let old: Commit = serde_json::from_str(r#"{"files":[],"dead_letters":null,"done":[],"cursors":[],"seen":[]}"#).unwrap();
        assert!(old.values.is_empty() && old.is_empty());
    }
}
