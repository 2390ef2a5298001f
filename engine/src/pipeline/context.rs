//! The source-facing side of the pipeline: [`SourceContext`], through which a source announces
//! units of work and pushes records, and the per-source [`Tracker`] that knows when a unit is
//! settled.

use std::{
    collections::HashMap,
    io::Read,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use crossbeam_channel::{Receiver, Sender, bounded};
use indicatif::ProgressBar;

use super::writer::SinkMsg;
use crate::{
    batch::{ObjectInfo, RawBatch, RawBatchBuilder},
    formats::compression::CountingReader,
    sinks::DeadLetterEntry,
    state::{CheckpointStore, ObjectDone, lane_key, seen_key, unit_key, value_key, value_prefix},
};

/// What a unit of work records once it is durable.
#[derive(Debug, Clone, PartialEq)]
pub enum Checkpoint {
    /// The unit (an object, a queue message) is recorded as done; later runs skip it
    /// ([`SourceContext::is_done`]).
    Done,
    /// The unit is a step of a cursor lane (an API page of a region, a detector, a log group).
    /// Once it and every unit begun before it in the lane are durable, the lane's cursor
    /// becomes `cursor` (when given). A unit of the lane that must be retried holds the
    /// cursor back for every later unit of the lane.
    Lane {
        /// The lane, unique within the source.
        lane: String,
        /// The cursor value reached with this unit.
        cursor: Option<serde_json::Value>,
    },
}

/// Per-unit progress, shared by the reading and writing sides.
#[derive(Default)]
pub(crate) struct Tracker {
    units: HashMap<String, UnitProgress>,
    /// Units in the order they were begun.
    order: Vec<String>,
    /// Lanes with a unit to retry: their cursor stays where it is for the rest of the run.
    blocked: Vec<String>,
}

struct UnitProgress {
    /// Records read, known once the unit has been read to the end.
    expected: Option<u64>,
    settled: u64,
    errors: u64,
    checkpoint: Checkpoint,
    /// Not checkpointed: it could not be read now and the next run reads it again.
    retry: bool,
    seen: Vec<(String, i64)>,
    values: Vec<(String, Option<serde_json::Value>)>,
}

/// What a commit takes from the tracker.
#[derive(Default)]
pub(crate) struct Checkpoints {
    pub done: Vec<(String, ObjectDone)>,
    pub cursors: Vec<(String, serde_json::Value)>,
    pub seen: Vec<(String, i64)>,
    pub values: Vec<(String, Option<serde_json::Value>)>,
}

impl Tracker {
    fn begin(&mut self, key: String, checkpoint: Checkpoint) {
        if !self.units.contains_key(&key) {
            self.order.push(key.clone());
        }
        self.units.insert(key, UnitProgress { expected: None, settled: 0, errors: 0, checkpoint, retry: false, seen: Vec::new(), values: Vec::new() });
    }

    /// Adds settled records (and errors among them) to a unit.
    pub(crate) fn settle(&mut self, key: &str, records: u64, errors: u64) {
        if let Some(p) = self.units.get_mut(key) {
            p.settled += records;
            p.errors += errors;
        }
    }

    /// Whether every unit begun is read to the end and every record of it settled: the only
    /// moment at which a commit holds whole units and nothing else.
    pub(crate) fn all_settled(&self) -> bool {
        self.units.values().all(|p| p.expected == Some(p.settled))
    }

    /// Takes the checkpoints of every settled unit (all of them, at a commit) and forgets them.
    /// `connector` and `source` make the lane keys.
    pub(crate) fn take(&mut self, connector: &str, source: &str, into: &mut Checkpoints) {
        let now = chrono::Utc::now().timestamp_millis();
        let blocked = &mut self.blocked;
        let mut cursors: Vec<(String, serde_json::Value)> = Vec::new();
        let order = std::mem::take(&mut self.order);
        for key in order {
            let settled = self.units.get(&key).is_some_and(|p| p.expected == Some(p.settled));
            if !settled {
                self.order.push(key);
                continue;
            }
            let p = self.units.remove(&key).expect("present");
            match (&p.checkpoint, p.retry) {
                (Checkpoint::Done, false) => into.done.push((key, ObjectDone { records: p.settled, errors: p.errors, committed_ms: now })),
                (Checkpoint::Done, true) => {}
                (Checkpoint::Lane { lane, .. }, true) => blocked.push(lane.clone()),
                (Checkpoint::Lane { lane, cursor }, false) => {
                    if let Some(c) = cursor
                        && !blocked.contains(lane)
                    {
                        let k = lane_key(connector, source, lane);
                        cursors.retain(|(l, _)| *l != k);
                        cursors.push((k, c.clone()));
                    }
                }
            }
            if !p.retry {
                into.seen.extend(p.seen);
                into.values.extend(p.values);
            }
        }
        into.cursors.extend(cursors);
    }
}

/// What a source sees of the pipeline: where to send records and how to ask what is done.
pub struct SourceContext<'a> {
    pub(crate) connector: Arc<str>,
    pub(crate) source_id: String,
    pub(crate) source: usize,
    pub(crate) state: &'a dyn CheckpointStore,
    pub(crate) builder: RawBatchBuilder,
    pub(crate) batch_rows: usize,
    pub(crate) seq: u64,
    pub(crate) raw_tx: Sender<(usize, RawBatch)>,
    pub(crate) sink_tx: Sender<SinkMsg>,
    pub(crate) tracker: Arc<Mutex<Tracker>>,
    pub(crate) commit_wanted: Arc<AtomicBool>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) bytes_read: Arc<AtomicU64>,
    pub(crate) progress: ProgressBar,
    pub(crate) open_units: u64,
    pub(crate) read: super::Counts,
    /// When the builder got its first row since the last flush.
    pub(crate) oldest: Option<std::time::Instant>,
    /// The source kind of the rows in the builder.
    pub(crate) batch_kind: Option<&'static str>,
}

/// Records wait at most this long in a half-full batch: sources that trickle (API pages,
/// queues) still reach the mappers, and so commits, steadily.
const MAX_BATCH_AGE: std::time::Duration = std::time::Duration::from_secs(1);

/// A unit being read.
pub struct UnitHandle {
    info: ObjectInfo,
    key: String,
    records: u64,
    ingest_ms: i64,
    seen: Vec<(String, i64)>,
    values: Vec<(String, Option<serde_json::Value>)>,
}

impl UnitHandle {
    /// The unit's object id.
    pub fn object(&self) -> &str {
        &self.info.object
    }
}

impl SourceContext<'_> {
    /// The connector's account name.
    pub fn connector(&self) -> Arc<str> {
        self.connector.clone()
    }

    /// Whether the unit `object` was committed as done by an earlier run (then the source
    /// skips it).
    pub fn is_done(&mut self, object: &str) -> bool {
        let key = unit_key(&self.connector, &self.source_id, object);
        let done = match self.state.is_done(&key) {
            Ok(d) => d,
            Err(e) => {
                // Reading it again risks a duplicate; skipping it would lose it.
                tracing::warn!("{e}; reading {object} again");
                false
            }
        };
        if done {
            self.read.objects_already_done += 1;
        }
        done
    }

    /// The lane's committed cursor (`None` before its first commit).
    pub fn cursor(&self, lane: &str) -> Result<Option<serde_json::Value>, String> {
        self.state.cursor(&lane_key(&self.connector, &self.source_id, lane)).map_err(|e| e.to_string())
    }

    /// Whether `key` of the seen-set `set` was committed by an earlier unit and has not expired.
    pub fn is_seen(&self, set: &str, key: &str) -> Result<bool, String> {
        let now = chrono::Utc::now().timestamp_millis();
        self.state.is_seen(&seen_key(&self.connector, &self.source_id, set, key), now).map_err(|e| e.to_string())
    }

    /// The committed entries of the source's keyed-value map `map` (an inventory's entity →
    /// content hash), by key: what every unit committed so far set and did not remove.
    pub fn values(&self, map: &str) -> Result<std::collections::BTreeMap<String, serde_json::Value>, String> {
        let prefix = value_prefix(&self.connector, &self.source_id, map);
        let entries = self.state.values(&prefix).map_err(|e| e.to_string())?;
        Ok(entries.into_iter().map(|(k, v)| (k[prefix.len()..].to_string(), v)).collect())
    }

    /// Sets `key` of the map `map` to `value` (`None`: removes it) once this unit is durable,
    /// in the same commit as its records: a unit to retry changes nothing.
    pub fn set_value(&self, unit: &mut UnitHandle, map: &str, key: &str, value: Option<serde_json::Value>) {
        unit.values.push((value_key(&self.connector, &self.source_id, map, key), value));
    }

    /// Whether the pipeline wants the source to stop reading (its mapper was given up on, or
    /// the run is failing). Sources check it between units and return `Ok` when it is set.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Tells the progress bar how many units there are to read.
    pub fn set_total(&mut self, n: u64) {
        self.progress.set_length(n);
    }

    /// Adds to the progress bar's unit count (sources that discover units as they go).
    pub fn add_total(&mut self, n: u64) {
        self.progress.inc_length(n);
    }

    /// Asks the pipeline to commit: once every record of every unit begun so far is written
    /// or dead-lettered, the outputs are made durable and the units checkpointed, and the
    /// reply says so (or why not). For sources that must acknowledge upstream (delete SQS
    /// messages) only after their data is safe. Call it between units, never with one open.
    pub fn request_commit(&mut self) -> Receiver<Result<(), String>> {
        debug_assert_eq!(self.open_units, 0, "request_commit with a unit open would wait for itself");
        self.flush();
        let (reply, rx) = bounded(1);
        if let Err(crossbeam_channel::SendError(SinkMsg::CommitRequest { reply })) = self.sink_tx.send(SinkMsg::CommitRequest { reply }) {
            let _ = reply.send(Err("the pipeline stopped".into()));
        }
        rx
    }

    /// Wraps a reader so its bytes count towards `bytes_read`.
    pub fn count_bytes<R: Read>(&self, r: R) -> CountingReader<R> {
        CountingReader::new(r, self.bytes_read.clone())
    }

    /// Starts a unit. When the pipeline wants to commit, this waits for that commit first, so
    /// commits fall between units and never publish part of one.
    pub fn begin_unit(&mut self, info: ObjectInfo, checkpoint: Checkpoint) -> UnitHandle {
        if self.oldest.is_some_and(|t| t.elapsed() >= MAX_BATCH_AGE) {
            self.flush();
        }
        if self.open_units == 0 && self.commit_wanted.load(Ordering::Acquire) {
            // A failed commit fails the run; the writer reports it, nothing to add here.
            let _ = self.request_commit().recv();
        }
        let key = unit_key(&self.connector, &self.source_id, &info.object);
        self.tracker.lock().expect("not poisoned").begin(key.clone(), checkpoint);
        self.progress.set_message(info.object.rsplit('/').next().unwrap_or("").to_string());
        self.open_units += 1;
        UnitHandle { info, key, records: 0, ingest_ms: chrono::Utc::now().timestamp_millis(), seen: Vec::new(), values: Vec::new() }
    }

    /// Adds one record of a unit.
    pub fn push(&mut self, unit: &mut UnitHandle, raw: &[u8], index: u64, offset: u64) {
        self.push_with_context(unit, raw, index, offset, None);
    }

    /// Adds one record of a unit with the unit context its format gives it
    /// ([`crate::formats::RecordReader::context`]); the mapper sees both.
    pub fn push_with_context(&mut self, unit: &mut UnitHandle, raw: &[u8], index: u64, offset: u64, context: Option<&[u8]>) {
        self.start_row(unit);
        self.builder.push_with_context(&unit.info, raw, index, offset, unit.ingest_ms, context);
        self.end_row(unit);
    }

    /// Adds one record with its unit context and the enrichment the source attaches to it
    /// (ABI 1.3: JSON from what the host fetched, e.g. the instances behind a flow's
    /// addresses). Equal enrichments are stored once per batch.
    pub fn push_enriched(&mut self, unit: &mut UnitHandle, raw: &[u8], index: u64, offset: u64, context: Option<&[u8]>, enrichment: Option<&[u8]>) {
        self.start_row(unit);
        self.builder.push_full(&unit.info, raw, index, offset, unit.ingest_ms, context, enrichment);
        self.end_row(unit);
    }

    /// A batch holds records of one source kind (the kind picks the mapper of a source that
    /// reads several): flushes first when this unit's kind differs from the batch's.
    fn start_row(&mut self, unit: &UnitHandle) {
        let kind = unit.info.source_kind;
        if self.batch_kind.is_some_and(|k| k != kind) && self.builder.rows() > 0 {
            self.flush();
        }
        self.batch_kind = Some(kind);
    }

    fn end_row(&mut self, unit: &mut UnitHandle) {
        self.oldest.get_or_insert_with(std::time::Instant::now);
        unit.records += 1;
        self.read.records_read += 1;
        if self.builder.rows() >= self.batch_rows || self.builder.bytes() >= 32 << 20 {
            self.flush();
        }
    }

    /// Adds `key` to the seen-set `set` once this unit is durable, until `expires_ms`.
    pub fn mark_seen(&self, unit: &mut UnitHandle, set: &str, key: &str, expires_ms: i64) {
        unit.seen.push((seen_key(&self.connector, &self.source_id, set, key), expires_ms));
    }

    fn dead_letter_entry(&self, unit: &UnitHandle, record_index: Option<u64>, byte_offset: u64, reason: String) -> DeadLetterEntry {
        DeadLetterEntry {
            connector: self.connector.to_string(),
            source: self.source_id.clone(),
            object: unit.info.object.clone(),
            record_index,
            byte_offset,
            reason,
            raw: None,
            raw_base64: None,
        }
    }

    /// Reports that the rest of a unit cannot be read because its content is bad (corrupt
    /// gzip, malformed JSON): dead-lettered, and checkpointed with the unit. `partial` is the
    /// record that was being read (index, offset, bytes); it is dead-lettered as a record.
    pub fn unit_failed(&mut self, unit: &mut UnitHandle, offset: u64, reason: String, partial: Option<(u64, u64, Vec<u8>)>) {
        tracing::warn!(object = %unit.info.object, offset, "{reason}");
        self.read.objects_failed += 1;
        let msg = match partial {
            Some((index, poff, bytes)) => {
                unit.records += 1;
                self.read.records_read += 1;
                SinkMsg::DeadLetter { source: self.source, key: unit.key.clone(), entry: self.dead_letter_entry(unit, Some(index), poff, reason).with_raw(&bytes), record: true }
            }
            None => SinkMsg::DeadLetter { source: self.source, key: unit.key.clone(), entry: self.dead_letter_entry(unit, None, offset, reason), record: false },
        };
        let _ = self.sink_tx.send(msg);
    }

    /// Dead-letters one record of a unit whose content is bad (an API item without the
    /// record it should carry); the unit goes on.
    pub fn reject_record(&mut self, unit: &mut UnitHandle, index: u64, offset: u64, reason: String, raw: &[u8]) {
        tracing::warn!(object = %unit.info.object, index, "{reason}");
        unit.records += 1;
        self.read.records_read += 1;
        let entry = self.dead_letter_entry(unit, Some(index), offset, reason).with_raw(raw);
        let _ = self.sink_tx.send(SinkMsg::DeadLetter { source: self.source, key: unit.key.clone(), entry, record: true });
    }

    /// Records a unit that cannot be read at all, for a reason in its content or one that will
    /// not pass (an object deleted before it was read): one dead-letter line with `reason`, and
    /// the unit is checkpointed. `raw`, when given, is dead-lettered as the unit's one record
    /// (an SQS message body).
    pub fn unreadable_unit(&mut self, info: ObjectInfo, checkpoint: Checkpoint, reason: String, raw: Option<&[u8]>) {
        let mut unit = self.begin_unit(info, checkpoint);
        self.unit_failed(&mut unit, 0, reason, raw.map(|r| (0, 0, r.to_vec())));
        self.end_unit(unit);
    }

    /// Records a unit that cannot be read now for a reason that may pass (throttling past the
    /// retries, access denied, a file that cannot be opened): nothing of it is checkpointed,
    /// a lane's cursor stays before it, and the next run reads it again. Call it instead of
    /// beginning the unit: no record of it may have been pushed.
    pub fn retry_later(&mut self, info: ObjectInfo, checkpoint: Checkpoint, reason: &str) {
        tracing::warn!(object = %info.object, "{reason}; it will be read again by the next run");
        let unit = self.begin_unit(info, checkpoint);
        self.read.objects_retry_later += 1;
        self.open_units -= 1;
        self.progress.inc(1);
        let mut t = self.tracker.lock().expect("not poisoned");
        if let Some(p) = t.units.get_mut(&unit.key) {
            p.retry = true;
            p.expected = Some(0);
        }
    }

    /// Ends a unit: all its records have been pushed.
    pub fn end_unit(&mut self, unit: UnitHandle) {
        self.read.objects_read += 1;
        self.open_units -= 1;
        self.progress.inc(1);
        let mut t = self.tracker.lock().expect("not poisoned");
        if let Some(p) = t.units.get_mut(&unit.key) {
            p.expected = Some(unit.records);
            p.seen = unit.seen;
            p.values = unit.values;
        }
    }

    /// Ends a unit of a cursor lane with the cursor it reaches, known only once it is read
    /// (an API page: the newest time durable after it).
    pub fn end_unit_with_cursor(&mut self, unit: UnitHandle, cursor: serde_json::Value) {
        if let Some(p) = self.tracker.lock().expect("not poisoned").units.get_mut(&unit.key)
            && let Checkpoint::Lane { cursor: c, .. } = &mut p.checkpoint
        {
            *c = Some(cursor);
        }
        self.end_unit(unit);
    }

    pub(crate) fn flush(&mut self) {
        self.oldest = None;
        if self.builder.rows() > 0 {
            self.seq += 1;
            let batch = self.builder.finish(self.seq);
            // The receiving side only goes away when the run is failing; nothing to do then.
            let _ = self.raw_tx.send((self.source, batch));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(l: &str, c: Option<i64>) -> Checkpoint {
        Checkpoint::Lane { lane: l.into(), cursor: c.map(serde_json::Value::from) }
    }

    fn settle_all(t: &mut Tracker, keys: &[&str]) {
        for k in keys {
            let p = t.units.get_mut(*k).unwrap();
            p.expected = Some(1);
            p.settled = 1;
        }
    }

    #[test]
    fn a_lane_cursor_advances_to_its_last_unit_but_never_past_one_to_retry() {
        let mut t = Tracker::default();
        t.begin("a1".into(), lane("a", Some(1)));
        t.begin("b1".into(), lane("b", Some(10)));
        t.begin("a2".into(), lane("a", None));
        t.begin("a3".into(), lane("a", Some(3)));
        t.begin("b2".into(), lane("b", Some(20)));
        t.begin("o".into(), Checkpoint::Done);
        settle_all(&mut t, &["a1", "b1", "a2", "a3", "b2", "o"]);
        t.units.get_mut("b2").unwrap().retry = true;
        assert!(t.all_settled());
        let mut c = Checkpoints::default();
        t.take("conn", "src", &mut c);
        let cursors: HashMap<String, serde_json::Value> = c.cursors.into_iter().collect();
        assert_eq!(cursors.get(&lane_key("conn", "src", "a")), Some(&serde_json::json!(3)));
        assert_eq!(cursors.get(&lane_key("conn", "src", "b")), Some(&serde_json::json!(10)), "b2 is retried: b stays at b1");
        assert_eq!(c.done.iter().map(|d| d.0.as_str()).collect::<Vec<_>>(), ["o"]);
        assert!(t.units.is_empty() && t.order.is_empty());
        // A later commit of the same run must not move b past the unit to retry either.
        t.begin("b3".into(), lane("b", Some(30)));
        settle_all(&mut t, &["b3"]);
        let mut c = Checkpoints::default();
        t.take("conn", "src", &mut c);
        assert!(c.cursors.is_empty(), "{:?}", c.cursors);
    }

    #[test]
    fn keyed_values_are_taken_with_their_unit_and_never_with_one_to_retry() {
        let mut t = Tracker::default();
        t.begin("a".into(), lane("l", Some(1)));
        t.begin("b".into(), lane("l", Some(2)));
        settle_all(&mut t, &["a", "b"]);
        t.units.get_mut("a").unwrap().values = vec![("k1".into(), Some(serde_json::json!("h1")))];
        t.units.get_mut("b").unwrap().values = vec![("k2".into(), None)];
        t.units.get_mut("b").unwrap().retry = true;
        let mut c = Checkpoints::default();
        t.take("conn", "src", &mut c);
        assert_eq!(c.values, vec![("k1".to_string(), Some(serde_json::json!("h1")))]);
    }

    #[test]
    fn units_not_yet_settled_stay_tracked() {
        let mut t = Tracker::default();
        t.begin("x".into(), Checkpoint::Done);
        t.begin("y".into(), Checkpoint::Done);
        settle_all(&mut t, &["x"]);
        assert!(!t.all_settled());
        let mut c = Checkpoints::default();
        t.take("c", "s", &mut c);
        assert_eq!(c.done.len(), 1);
        assert_eq!(t.order, ["y"]);
    }
}
