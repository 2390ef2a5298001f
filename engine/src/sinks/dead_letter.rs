//! The dead-letter output: every record that was not written, with why and where from.
//!
//! One NDJSON file per run, `<dir>/<run id>.ndjson`, created on the first entry. Each line:
//! `{"connector","source","object","record_index","byte_offset","reason","raw"|"raw_base64"}`
//! — `raw` when the bytes are UTF-8, else `raw_base64`. An entry about a whole object (e.g. a
//! corrupt gzip stream) has no `record_index`.

use std::{
    fs::{File, OpenOptions},
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::SinkError;

/// One dead-letter line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeadLetterEntry {
    /// Connector account name.
    pub connector: String,
    /// Source id (`cloudtrail_files:<path>`).
    pub source: String,
    /// File path or `s3://bucket/key`.
    pub object: String,
    /// Record index in the object; absent for object-level failures.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub record_index: Option<u64>,
    /// Byte offset (decompressed) of the record or of the failure.
    pub byte_offset: u64,
    /// Why it was not written.
    pub reason: String,
    /// The record bytes, when UTF-8.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub raw: Option<String>,
    /// The record bytes, base64, when not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub raw_base64: Option<String>,
}

impl DeadLetterEntry {
    /// Sets `raw` or `raw_base64` from bytes.
    pub fn with_raw(mut self, bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(s) => self.raw = Some(s.to_string()),
            Err(_) => self.raw_base64 = Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        }
        self
    }
}

/// The dead-letter writer of one run.
pub struct DeadLetter {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    entries: u64,
}

impl DeadLetter {
    /// A writer for `<dir>/<run_id>.ndjson` (not created until the first entry).
    pub fn new(dir: &Path, run_id: &str) -> Self {
        Self { path: dir.join(format!("{run_id}.ndjson")), out: None, entries: 0 }
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Entries written in this run.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Appends an entry (buffered until [`commit`](Self::commit)).
    pub fn write(&mut self, e: &DeadLetterEntry) -> Result<(), SinkError> {
        if self.out.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir).map_err(|err| SinkError::new(dir.display(), format!("cannot create: {err}")))?;
            }
            let f = OpenOptions::new().create(true).append(true).open(&self.path).map_err(|err| SinkError::new(self.path.display(), err))?;
            self.out = Some(BufWriter::new(f));
        }
        let w = self.out.as_mut().expect("opened above");
        serde_json::to_writer(&mut *w, e).map_err(|err| SinkError::new(self.path.display(), err))?;
        w.write_all(b"\n").map_err(|err| SinkError::new(self.path.display(), err))?;
        self.entries += 1;
        Ok(())
    }

    /// Flushes and fsyncs what was written.
    pub fn commit(&mut self) -> Result<(), SinkError> {
        if let Some(w) = self.out.as_mut() {
            w.flush().map_err(|err| SinkError::new(self.path.display(), err))?;
            w.get_ref().sync_all().map_err(|err| SinkError::new(self.path.display(), err))?;
        }
        Ok(())
    }
}
