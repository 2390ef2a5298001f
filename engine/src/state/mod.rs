//! The checkpoint store: which input objects are done.
//!
//! redb, because it is an embedded, pure-Rust, ACID key-value store: a commit is durable
//! (fsync'd, copy-on-write B-tree, no torn writes after a crash), it needs no C toolchain
//! (unlike SQLite) and no server, and one file per state directory is easy to back up or
//! delete. trawl's access pattern — point look-ups by object key and batched inserts at each
//! commit — is exactly a key-value store's.
//!
//! An object is recorded only after every output file holding its records, and the
//! dead-letter file, are durable; see [`crate::pipeline`].

use std::path::Path;

use redb::{Database, ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};

const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");

/// Errors of the state store, naming its file.
#[derive(Debug, thiserror::Error)]
#[error("state store {path}: {message}")]
pub struct StateError {
    path: String,
    message: String,
}

/// What is recorded for a finished object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectDone {
    /// Records read from it.
    pub records: u64,
    /// Records that went to the dead-letter output, plus 1 when the object itself failed.
    pub errors: u64,
    /// When it was committed (ms since the epoch).
    pub committed_ms: i64,
}

/// The state store of one state directory.
pub struct StateStore {
    db: Database,
    path: String,
}

/// The key of an object: connector, source and object, separated by a unit separator.
pub fn object_key(connector: &str, source: &str, object: &str) -> String {
    format!("{connector}\u{1f}{source}\u{1f}{object}")
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
        tx.commit().map_err(|e| err(e.to_string()))?;
        Ok(Self { db, path: path.display().to_string() })
    }

    fn err(&self, e: impl std::fmt::Display) -> StateError {
        StateError { path: self.path.clone(), message: e.to_string() }
    }

    /// Whether `key` is recorded as done.
    pub fn is_done(&self, key: &str) -> Result<bool, StateError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(OBJECTS).map_err(|e| self.err(e))?;
        Ok(t.get(key).map_err(|e| self.err(e))?.is_some())
    }

    /// Records objects as done, in one durable transaction.
    pub fn mark_done(&self, done: &[(String, ObjectDone)]) -> Result<(), StateError> {
        if done.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = tx.open_table(OBJECTS).map_err(|e| self.err(e))?;
            for (k, v) in done {
                let v = serde_json::to_vec(v).expect("serializes");
                t.insert(k.as_str(), v.as_slice()).map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// Number of objects recorded.
    pub fn len(&self) -> Result<u64, StateError> {
        use redb::ReadableTableMetadata;
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(OBJECTS).map_err(|e| self.err(e))?;
        t.len().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let key = object_key("dev", "cloudtrail_files:x", "a.json.gz");
        {
            let s = StateStore::open(dir.path()).unwrap();
            assert!(!s.is_done(&key).unwrap());
            s.mark_done(&[(key.clone(), ObjectDone { records: 3, errors: 0, committed_ms: 1 })]).unwrap();
        }
        let s = StateStore::open(dir.path()).unwrap();
        assert!(s.is_done(&key).unwrap());
        assert_eq!(s.len().unwrap(), 1);
    }
}
