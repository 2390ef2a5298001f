//! Failure isolation: when a batch fails, map its halves on fresh instances, down to single
//! records, so only the records that cause the failure are dead-lettered.

use super::{BatchMapper, MappedBatch, RowStatus};
use crate::batch::RawBatch;

/// A batch mapped with isolation: pieces that mapped, rows that failed alone.
#[derive(Debug, Default)]
pub struct IsolatedOutput {
    /// Mapped pieces with the row they start at; event row numbers are relative to the whole batch.
    pub pieces: Vec<(usize, MappedBatch)>,
    /// Rows whose batch-level failure persisted when mapped alone, with the error.
    pub failed_rows: Vec<(usize, String)>,
    /// Mapper calls made beyond the first (for the summary and logs).
    pub retries: usize,
}

/// Maps `batch`; on a batch-level failure, bisects until each failure is one record.
/// A [fatal](MapperError::is_fatal) error fails every row at once.
pub fn map_isolating(mapper: &dyn BatchMapper, batch: &RawBatch) -> IsolatedOutput {
    let mut out = IsolatedOutput::default();
    go(mapper, batch, 0, batch.len(), &mut out);
    out
}

fn go(mapper: &dyn BatchMapper, batch: &RawBatch, offset: usize, len: usize, out: &mut IsolatedOutput) {
    if len == 0 {
        return;
    }
    let piece = if offset == 0 && len == batch.len() { batch.clone() } else { batch.slice(offset, len) };
    match mapper.map(&piece) {
        Ok(mut m) => {
            m.offset_rows(offset as u32);
            out.pieces.push((offset, m));
        }
        Err(e) if len == 1 || e.is_fatal() => {
            let msg = e.to_string();
            out.failed_rows.extend((offset..offset + len).map(|r| (r, msg.clone())));
        }
        Err(e) => {
            tracing::warn!(batch = batch.seq, rows = len, error = %e, "mapper failed on a batch; retrying its halves to isolate the bad records");
            let half = len / 2;
            out.retries += 2;
            go(mapper, batch, offset, half, out);
            go(mapper, batch, offset + half, len - half, out);
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
