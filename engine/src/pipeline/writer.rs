//! The writing side of the pipeline: mapped batches into the sinks, dead letters, and the
//! commit protocol (see [`crate::state`]): stage every output file and the dead-letter
//! segment, durably prepare the commit, publish, then apply the checkpoints.
//!
//! Commits happen only when every unit begun by every source is settled, so a commit holds
//! whole units: a crash never leaves published rows of a unit that the next run reads again.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use crossbeam_channel::Sender;

use super::{
    Counts, RunError,
    context::{Checkpoints, Tracker},
};
use crate::{
    batch::RawBatch,
    mapper::{IsolatedOutput, RowStatus},
    sinks::{DeadLetter, DeadLetterEntry, EventClass, LakeSink, PartitionRow, SinkError, publish_dead_letters},
    state::{CheckpointStore, Commit, unit_key},
};

pub(crate) enum SinkMsg {
    Mapped { source: usize, batch: RawBatch, out: IsolatedOutput },
    /// A record or unit a source could not read; `record` when it counts as a record.
    DeadLetter { source: usize, key: String, entry: DeadLetterEntry, record: bool },
    /// Commit once every unit begun is settled, then reply.
    CommitRequest { reply: Sender<Result<(), String>> },
}

/// What the writer knows of one running source.
pub(crate) struct SourceSlot {
    pub connector: String,
    pub source_id: String,
    /// Its mappers (its own, and one per further kind of record it reads).
    pub mappers: super::SlotMappers,
    pub tracker: Arc<Mutex<Tracker>>,
    pub counts: Counts,
    /// Set when the source must stop reading (its mapper was given up on); the source sees it
    /// through [`super::SourceContext::stopping`].
    pub stop: Arc<std::sync::atomic::AtomicBool>,
    /// Why the pipeline stopped the source.
    pub error: Option<String>,
}

/// The outputs, the dead-letter output and the state store, written by one thread.
pub(crate) struct Writer<'a> {
    pub state: &'a dyn CheckpointStore,
    pub sinks: Vec<LakeSink>,
    pub dead: DeadLetter,
    pub files: Vec<PathBuf>,
    pub max_error_ratio: Option<f64>,
    /// A test hook: `TRAWL_FAULT=abort_after_publish` aborts the process between publishing
    /// a commit's files and applying its checkpoints, the moment a crash is most likely to
    /// duplicate rows.
    pub fault_after_publish: bool,
}

impl Writer<'_> {
    /// Rolls forward a commit that a crashed run prepared but did not apply, then removes
    /// staged files that no commit names. Runs before anything is read.
    pub fn recover(&mut self) -> Result<(), RunError> {
        if let Some(pending) = self.state.pending()? {
            tracing::warn!(files = pending.files.len(), units = pending.done.len(), "the last run stopped in the middle of a commit; finishing it");
            self.publish(&pending)?;
            self.state.apply(&pending)?;
        }
        for s in self.sinks.iter_mut() {
            s.clean_staging()?;
        }
        self.dead.clean_staging()?;
        Ok(())
    }

    fn publish(&mut self, commit: &Commit) -> Result<(), RunError> {
        for sink in &self.sinks {
            let loc = sink.location();
            let mine: Vec<_> = commit.files.iter().filter(|f| f.output == loc).cloned().collect();
            for f in sink.destination().publish(&mine)? {
                tracing::debug!(path = %f.path.display(), rows = f.rows, "published");
                self.files.push(f.path);
            }
        }
        if let Some(unknown) = commit.files.iter().find(|f| !self.sinks.iter().any(|s| s.location() == f.output)) {
            return Err(SinkError::new(&unknown.output, format!("a prepared commit names this output, which the config no longer has; restore it (or delete {} to give up the commit)", unknown.staged)).into());
        }
        if let Some(dl) = &commit.dead_letters {
            publish_dead_letters(dl)?;
        }
        Ok(())
    }

    /// Makes everything written so far durable and checkpoints every settled unit. Call it
    /// only when every source's tracker is settled.
    pub fn commit(&mut self, slots: &[SourceSlot]) -> Result<(), RunError> {
        let mut commit = Commit::default();
        for sink in self.sinks.iter_mut() {
            commit.files.extend(sink.stage()?);
        }
        commit.dead_letters = self.dead.stage()?;
        let mut cp = Checkpoints::default();
        for s in slots {
            s.tracker.lock().expect("not poisoned").take(&s.connector, &s.source_id, &mut cp);
        }
        (commit.done, commit.cursors, commit.seen, commit.values) = (cp.done, cp.cursors, cp.seen, cp.values);
        if commit.is_empty() {
            return Ok(());
        }
        self.state.prepare(&commit)?;
        self.publish(&commit)?;
        if self.fault_after_publish && !commit.files.is_empty() {
            tracing::error!("TRAWL_FAULT=abort_after_publish: aborting between publish and checkpoint");
            std::process::abort();
        }
        self.state.apply(&commit)?;
        Ok(())
    }

    pub fn check_error_ratio(&self, slot: &SourceSlot, min_sample: u64) -> Result<(), RunError> {
        let Some(max) = self.max_error_ratio else { return Ok(()) };
        let c = &slot.counts;
        let seen = c.records_written + c.records_skipped + c.records_dead_lettered;
        if seen >= min_sample && c.records_dead_lettered as f64 > max * seen as f64 {
            return Err(RunError::ErrorRatio { source_id: slot.source_id.clone(), dead: c.records_dead_lettered, seen, max });
        }
        Ok(())
    }

    /// Writes one message's records; returns how many records it settled.
    pub fn handle(&mut self, msg: SinkMsg, slots: &mut [SourceSlot]) -> Result<u64, RunError> {
        match msg {
            SinkMsg::CommitRequest { .. } => unreachable!("answered by the writer loop"),
            SinkMsg::DeadLetter { source, key, entry, record } => {
                self.dead.write(&entry)?;
                let slot = &mut slots[source];
                slot.tracker.lock().expect("not poisoned").settle(&key, record as u64, 1);
                if record {
                    slot.counts.records_dead_lettered += 1;
                }
                Ok(record as u64)
            }
            SinkMsg::Mapped { source, batch, out } => {
                let slot = &mut slots[source];
                if let Some(why) = &out.gave_up
                    && slot.error.is_none()
                {
                    tracing::error!(source = %slot.source_id, "{why}");
                    slot.error = Some(why.clone());
                    slot.stop.store(true, std::sync::atomic::Ordering::Release);
                }
                let counts = &mut slot.counts;
                counts.mapper_retries += out.retries as u64;
                let manifest = slot.mappers.for_batch(&batch).manifest();
                for (_, piece) in &out.pieces {
                    for class in &piece.classes {
                        let class_of = EventClass { mapper: &manifest.name, uid: class.class_uid, name: &class.class_name };
                        for sink in self.sinks.iter_mut() {
                            sink.write(class_of, &class.events, &class.rows, |r| {
                                let (account, region) = batch.account_region(r);
                                let (object, record_index, _) = batch.provenance(r);
                                PartitionRow { region, account, fallback_time_ms: batch.ingest_ms(r), object, record_index }
                            })?;
                        }
                        counts.events_written += class.events.num_rows() as u64;
                    }
                }
                let statuses = out.statuses(batch.len());
                let mut settled: HashMap<&str, (u64, u64)> = HashMap::new();
                for (r, st) in statuses.iter().enumerate() {
                    let (object, index, offset) = batch.provenance(r);
                    let e = settled.entry(object).or_default();
                    e.0 += 1;
                    match st {
                        RowStatus::Ok => counts.records_written += 1,
                        RowStatus::Skip => counts.records_skipped += 1,
                        RowStatus::Error(reason) => {
                            counts.records_dead_lettered += 1;
                            e.1 += 1;
                            self.dead.write(
                                &DeadLetterEntry {
                                    connector: slot.connector.clone(),
                                    source: slot.source_id.clone(),
                                    object: object.to_string(),
                                    record_index: Some(index),
                                    byte_offset: offset,
                                    reason: reason.clone(),
                                    raw: None,
                                    raw_base64: None,
                                }
                                .with_raw(batch.raw(r)),
                            )?;
                        }
                    }
                }
                let mut t = slot.tracker.lock().expect("not poisoned");
                for (object, (n, errors)) in settled {
                    t.settle(&unit_key(&slot.connector, &slot.source_id, object), n, errors);
                }
                Ok(batch.len() as u64)
            }
        }
    }
}
