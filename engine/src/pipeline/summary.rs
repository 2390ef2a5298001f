//! What a run reports: counts per source and in total, the JSON summary, and the errors that
//! stop a run.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{sinks::SinkError, state::StateError};

/// Counts of one run (or one source); the JSON summary.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    /// Records read from sources.
    pub records_read: u64,
    /// Records that produced events that are now written.
    pub records_written: u64,
    /// Records the mapper dropped on purpose.
    pub records_skipped: u64,
    /// Records in the dead-letter output.
    pub records_dead_lettered: u64,
    /// Events written (a record may produce several).
    pub events_written: u64,
    /// Units (objects, API pages, messages) read to the end.
    pub objects_read: u64,
    /// Objects already done in an earlier run, not read again.
    pub objects_already_done: u64,
    /// Objects that could not be read to the end (reason in the dead-letter output).
    pub objects_failed: u64,
    /// Units that could not be read for a reason that may pass (throttling, access, a file
    /// that cannot be opened now): not checkpointed, so the next run reads them.
    #[serde(default)]
    pub objects_retry_later: u64,
    /// Compressed bytes read.
    pub bytes_read: u64,
    /// Extra mapper calls made to isolate failing records.
    pub mapper_retries: u64,
}

impl Counts {
    pub(crate) fn add(&mut self, o: &Counts) {
        self.records_read += o.records_read;
        self.records_written += o.records_written;
        self.records_skipped += o.records_skipped;
        self.records_dead_lettered += o.records_dead_lettered;
        self.events_written += o.events_written;
        self.objects_read += o.objects_read;
        self.objects_already_done += o.objects_already_done;
        self.objects_failed += o.objects_failed;
        self.objects_retry_later += o.objects_retry_later;
        self.bytes_read += o.bytes_read;
        self.mapper_retries += o.mapper_retries;
    }

    /// Whether read = written + skipped + dead-lettered.
    pub fn reconciles(&self) -> bool {
        self.records_read == self.records_written + self.records_skipped + self.records_dead_lettered
    }
}

/// Summary of one source's run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceSummary {
    /// Connector account name.
    pub connector: String,
    /// Source id.
    pub source: String,
    /// Its counts.
    #[serde(flatten)]
    pub counts: Counts,
    /// Why the source stopped, if it failed as a whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Summary of a run: what `--summary-json` writes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunSummary {
    /// Run id (also the dead-letter file name).
    pub run_id: String,
    /// Totals.
    #[serde(flatten)]
    pub counts: Counts,
    /// Output files published.
    pub files_written: u64,
    /// Their paths.
    pub files: Vec<PathBuf>,
    /// The dead-letter file, when anything went there.
    pub dead_letter_file: Option<PathBuf>,
    /// Warning and error lines the mappers logged (records mapped but odd, such as a
    /// CloudTrail record without an eventID); the log says which.
    #[serde(default)]
    pub mapper_warnings: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Per source.
    pub sources: Vec<SourceSummary>,
}

impl RunSummary {
    /// Whether everything read was written (nothing dead-lettered, nothing left to retry, no
    /// object or source failed).
    pub fn clean(&self) -> bool {
        self.counts.records_dead_lettered == 0
            && self.counts.objects_failed == 0
            && self.counts.objects_retry_later == 0
            && self.sources.iter().all(|s| s.error.is_none())
    }
}

/// A failure that stops the run (the exit code 2 kind).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The state store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// An output failed; nothing after the last commit is recorded as done.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// Another process holds the state dir or an output.
    #[error("{0}")]
    Busy(String),
    /// Too many records of a source were dead-lettered (`pipeline.max_error_ratio`).
    #[error("{source_id}: {dead} of {seen} records dead-lettered, over pipeline.max_error_ratio = {max}; stopping (see the dead-letter output for why)")]
    ErrorRatio {
        /// The source.
        source_id: String,
        /// Records dead-lettered.
        dead: u64,
        /// Records settled so far.
        seen: u64,
        /// The configured ratio.
        max: f64,
    },
    /// Counts did not reconcile: a bug, reported rather than hidden.
    #[error("internal error: counts do not reconcile for {source_id}: {counts:?}")]
    Reconcile {
        /// The source.
        source_id: String,
        /// Its counts.
        counts: Counts,
    },
}
