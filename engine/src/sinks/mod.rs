//! Sinks: where mapped events land.
//!
//! [`LakeSink`] lays files out like Amazon Security Lake —
//! `<root>/<source>/region=<r>/accountId=<a>/eventDay=YYYYMMDD/<name>` with one OCSF class per
//! file — in a [`FileFormat`] ([`parquet`] or [`ndjson`]). [`DeadLetter`] takes every record
//! that is not written, with its reason and provenance.

mod dead_letter;
mod lake;
pub mod ndjson;
pub mod parquet;

use std::{fs::File, path::PathBuf, sync::Arc};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use serde::{Deserialize, Serialize};

pub use dead_letter::{DeadLetter, DeadLetterEntry};
pub use lake::{LakeSink, PartitionRow, WrittenFile};

/// `[[outputs]]`: one destination; every event goes to every output.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputConfig {
    /// Parquet files (zstd), the data-lake format.
    Parquet(parquet::ParquetConfig),
    /// Newline-delimited JSON (optionally gzip), for SIEMs.
    Ndjson(ndjson::NdjsonConfig),
}

impl OutputConfig {
    /// The output's root directory.
    pub fn path(&self) -> &PathBuf {
        match self {
            OutputConfig::Parquet(c) => &c.path,
            OutputConfig::Ndjson(c) => &c.path,
        }
    }

    /// The file format it writes.
    pub fn format(&self) -> Arc<dyn FileFormat> {
        match self {
            OutputConfig::Parquet(c) => Arc::new(c.clone()),
            OutputConfig::Ndjson(c) => Arc::new(c.clone()),
        }
    }
}

/// A sink error, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("output {path}: {message}")]
pub struct SinkError {
    /// The file or directory.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

impl SinkError {
    pub(crate) fn new(path: impl std::fmt::Display, message: impl std::fmt::Display) -> Self {
        Self { path: path.to_string(), message: message.to_string() }
    }
}

/// A file format: opens writers for one file at a time.
pub trait FileFormat: Send + Sync + std::fmt::Debug {
    /// File name extension, without the dot (`parquet`, `json.gz`).
    fn extension(&self) -> &'static str;
    /// Starts a file with `schema` on `file` (a temporary file; the sink renames it).
    fn open(&self, file: File, schema: SchemaRef) -> Result<Box<dyn FileWriter>, String>;
}

/// One file being written.
///
/// Contract: nothing written is guaranteed durable until [`FileWriter::finish`] returns `Ok`,
/// which means the file is complete and fsync'd.
pub trait FileWriter: Send {
    /// Appends events.
    fn write(&mut self, batch: &RecordBatch) -> Result<(), String>;
    /// Completes the file (footer, flush, fsync).
    fn finish(self: Box<Self>) -> Result<(), String>;
}
