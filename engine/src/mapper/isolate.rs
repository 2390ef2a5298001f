//! Failure isolation: when a batch fails, map its halves on fresh instances, down to single
//! records, so only the records that cause the failure are dead-lettered.
//!
//! Bisection multiplies calls (a batch of 1,024 rows that fails everywhere takes 2,047), which
//! is cheap for traps but not for deadlines: at 30 s each that would be 17 hours. So deadline
//! hits are budgeted ([`DeadlineBudget`]): at most [`DEADLINE_HITS_PER_BATCH`] per batch
//! (then the rest of the batch fails without further calls), and at most
//! [`DEADLINE_HITS_PER_RUN`] per source and run (then the mapper is given up on: every later
//! row fails at once, and the source stops). A mapper that times out on everything thus costs
//! a source at most `DEADLINE_HITS_PER_RUN × pipeline.mapper_deadline_ms` of mapper time —
//! 4 minutes at the default 30 s, spread over the workers.

use std::sync::atomic::{AtomicU32, Ordering};

use super::{BatchMapper, MappedBatch, MapperError, RowStatus};
use crate::batch::RawBatch;

/// Deadline hits one batch may take before the rest of it fails unmapped.
pub const DEADLINE_HITS_PER_BATCH: u32 = 4;
/// Deadline hits one source may take in a run before its mapper is given up on.
pub const DEADLINE_HITS_PER_RUN: u32 = 8;

/// The deadline hits a source has left in this run.
#[derive(Debug, Default)]
pub struct DeadlineBudget {
    hits: AtomicU32,
}

impl DeadlineBudget {
    /// Whether the mapper has been given up on.
    pub fn exhausted(&self) -> bool {
        self.hits.load(Ordering::Relaxed) >= DEADLINE_HITS_PER_RUN
    }

    fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }
}

/// A batch mapped with isolation: pieces that mapped, rows that failed alone.
#[derive(Debug, Default)]
pub struct IsolatedOutput {
    /// Mapped pieces with the row they start at; event row numbers are relative to the whole batch.
    pub pieces: Vec<(usize, MappedBatch)>,
    /// Rows whose batch-level failure persisted when mapped alone, with the error.
    pub failed_rows: Vec<(usize, String)>,
    /// Mapper calls made beyond the first (for the summary and logs).
    pub retries: usize,
    /// The run's deadline budget ran out: the mapper is given up on (why, for the source).
    pub gave_up: Option<String>,
}

/// Maps `batch`; on a batch-level failure, bisects until each failure is one record.
/// A [fatal](MapperError::is_fatal) error fails every row at once; deadline hits draw on
/// `budget`.
pub fn map_isolating(mapper: &dyn BatchMapper, batch: &RawBatch, budget: &DeadlineBudget) -> IsolatedOutput {
    let mut out = IsolatedOutput::default();
    let mut batch_hits = 0;
    go(mapper, batch, 0, batch.len(), budget, &mut batch_hits, &mut out);
    if budget.exhausted() {
        out.gave_up = Some(format!(
            "mapper {} exceeded its deadline {DEADLINE_HITS_PER_RUN} times in this run; giving up on it (every further record is dead-lettered and the source stops)",
            mapper.manifest().name
        ));
    }
    out
}

fn go(mapper: &dyn BatchMapper, batch: &RawBatch, offset: usize, len: usize, budget: &DeadlineBudget, batch_hits: &mut u32, out: &mut IsolatedOutput) {
    if len == 0 {
        return;
    }
    let fail_all = |out: &mut IsolatedOutput, msg: String| out.failed_rows.extend((offset..offset + len).map(|r| (r, msg.clone())));
    if budget.exhausted() {
        return fail_all(out, format!("not mapped: mapper {} exceeded its deadline {DEADLINE_HITS_PER_RUN} times in this run", mapper.manifest().name));
    }
    if *batch_hits >= DEADLINE_HITS_PER_BATCH {
        return fail_all(out, format!("not mapped: mapper {} exceeded its deadline {DEADLINE_HITS_PER_BATCH} times on this batch", mapper.manifest().name));
    }
    let piece = if offset == 0 && len == batch.len() { batch.clone() } else { batch.slice(offset, len) };
    match mapper.map(&piece) {
        Ok(mut m) => {
            m.offset_rows(offset as u32);
            out.pieces.push((offset, m));
        }
        Err(e) => {
            if matches!(e, MapperError::Deadline { .. }) {
                budget.hit();
                *batch_hits += 1;
            }
            if len == 1 || e.is_fatal() {
                return fail_all(out, e.to_string());
            }
            // The error may carry the guest's output: a line, not pages, per bisection step.
            let shown: String = e.to_string().chars().take(300).collect();
            tracing::warn!(batch = batch.seq, rows = len, error = %shown, "mapper failed on a batch; retrying its halves to isolate the bad records");
            let half = len / 2;
            out.retries += 2;
            go(mapper, batch, offset, half, budget, batch_hits, out);
            go(mapper, batch, offset + half, len - half, budget, batch_hits, out);
        }
    }
}

impl IsolatedOutput {
    /// The status of every row of the original batch of `n` rows.
    pub fn statuses(&self, n: usize) -> Vec<RowStatus> {
        let mut s = vec![RowStatus::Error("row was not mapped".into()); n];
        for (offset, p) in &self.pieces {
            for (i, st) in p.status.iter().enumerate() {
                s[offset + i] = st.clone();
            }
        }
        for (r, msg) in &self.failed_rows {
            s[*r] = RowStatus::Error(msg.clone());
        }
        s
    }
}
