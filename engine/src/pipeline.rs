//! The pipeline: source → raw batches → mapper workers → sinks → commit.
//!
//! Per source, one thread reads (the [`Source`]), `workers` threads run the mapper (off the
//! async runtime, one sandbox instance per batch), and the calling thread writes. Objects are
//! tracked record by record: an object is committed (recorded as done in the state store)
//! only when every record read from it has been written, skipped or dead-lettered **and** the
//! files holding them are durable. A crash before that re-reads the object on the next run;
//! deterministic file names make the rewrite replace, not duplicate.

use std::{
    collections::HashMap,
    io::Read,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use crossbeam_channel::{Receiver, Sender, bounded};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::{
    batch::{ObjectInfo, RawBatch, RawBatchBuilder},
    config::{Config, ConnectorConfig},
    formats::compression::CountingReader,
    mapper::{BatchMapper, IsolatedOutput, MapperLimits, MapperRef, RowStatus, WasmMapper, map_isolating},
    sinks::{DeadLetter, DeadLetterEntry, LakeSink, PartitionRow, SinkError},
    aws::AwsSession,
    sources::{Source, SourceEnv},
    state::{ObjectDone, StateError, StateStore, object_key},
};

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
    /// Objects (files) read to the end.
    pub objects_read: u64,
    /// Objects already done in an earlier run, not read again.
    pub objects_already_done: u64,
    /// Objects that could not be read to the end (reason in the dead-letter output).
    pub objects_failed: u64,
    /// Compressed bytes read.
    pub bytes_read: u64,
    /// Extra mapper calls made to isolate failing records.
    pub mapper_retries: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.records_read += o.records_read;
        self.records_written += o.records_written;
        self.records_skipped += o.records_skipped;
        self.records_dead_lettered += o.records_dead_lettered;
        self.events_written += o.events_written;
        self.objects_read += o.objects_read;
        self.objects_already_done += o.objects_already_done;
        self.objects_failed += o.objects_failed;
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
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Per source.
    pub sources: Vec<SourceSummary>,
}

impl RunSummary {
    /// Whether everything read was written (nothing dead-lettered, no object or source failed).
    pub fn clean(&self) -> bool {
        self.counts.records_dead_lettered == 0 && self.counts.objects_failed == 0 && self.sources.iter().all(|s| s.error.is_none())
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

/// Options of one run beyond the config.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Hide the progress bar.
    pub quiet: bool,
    /// Override `pipeline.workers`.
    pub workers: Option<usize>,
    /// Use this mapper for every source instead of loading the configured one (the benchmark
    /// uses it to run a natively compiled mapper through the same pipeline).
    pub mapper_override: Option<Arc<dyn BatchMapper>>,
    /// `--since`: first day for backfill sources.
    pub since: Option<chrono::NaiveDate>,
    /// `--until`: last day for backfill sources.
    pub until: Option<chrono::NaiveDate>,
    /// `--max-duration`: queue sources stop receiving after this long.
    pub max_duration: Option<std::time::Duration>,
}

/// Runs every connector and source of `cfg` once.
pub fn run(cfg: &Config, opts: &RunOptions) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let run_id = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
    let state = StateStore::open(&cfg.state.dir)?;
    let mut dead = DeadLetter::new(&cfg.dead_letter_dir(), &run_id);
    let mut sinks = cfg.outputs.iter().map(|o| o.open(cfg)).collect::<Result<Vec<_>, _>>()?;
    let workers = opts.workers.or(cfg.pipeline.workers).unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    let limits = MapperLimits {
        memory_bytes: (cfg.pipeline.mapper_memory_mib << 20) as usize,
        deadline: std::time::Duration::from_millis(cfg.pipeline.mapper_deadline_ms),
        max_output_bytes: (cfg.pipeline.mapper_output_mib << 20) as usize,
        fuel: cfg.pipeline.mapper_fuel,
        inline: cfg.pipeline.mapper_inline,
    };
    let cache_dir = cfg.state.dir.join("cache");
    let mut files = Vec::new();
    let mut sources = Vec::new();
    let mut counts = Counts::default();
    for connector in &cfg.connectors {
        // One AWS session per connector, made only when one of its sources needs it.
        let session = connector.sources.iter().any(|s| s.needs_aws()).then(|| {
            AwsSession::connect(&connector.aws_target()).map_err(|e| format!("connector {:?}: {e}", connector.name))
        });
        if let Some(Err(e)) = &session {
            tracing::error!("{e}");
        }
        for source_cfg in &connector.sources {
            let env = SourceEnv {
                connector,
                aws: session.as_ref().and_then(|s| s.as_ref().ok()),
                since: opts.since,
                until: opts.until,
                max_duration: opts.max_duration,
            };
            let built = match &session {
                Some(Err(e)) if source_cfg.needs_aws() => Err(e.clone()),
                _ => source_cfg.build(&env).map_err(|e| format!("source {}: {e}", source_cfg.kind())),
            };
            let mut source = match built {
                Ok(s) => s,
                Err(e) => {
                    sources.push(SourceSummary { connector: connector.name.clone(), source: source_cfg.kind().to_string(), counts: Counts::default(), error: Some(e) });
                    continue;
                }
            };
            let mut summary = SourceSummary { connector: connector.name.clone(), source: source.id(), counts: Counts::default(), error: None };
            let loaded: Result<Arc<dyn BatchMapper>, _> = match &opts.mapper_override {
                Some(m) => Ok(m.clone()),
                None => MapperRef::parse(source_cfg.mapper()).load_bytes().and_then(|(bytes, display)| {
                    WasmMapper::load(&bytes, &display, Some(&cache_dir), &source_cfg.mapper_config(), limits.clone())
                        .map(|m| Arc::new(m) as Arc<dyn BatchMapper>)
                }),
            };
            match loaded {
                Err(e) => {
                    tracing::error!(connector = %connector.name, source = %summary.source, "{e}");
                    summary.error = Some(e.to_string());
                }
                Ok(mapper) => {
                    let mut run = SourceRun {
                        cfg,
                        connector,
                        state: &state,
                        dead: &mut dead,
                        sinks: &mut sinks,
                        mapper: mapper.as_ref(),
                        workers,
                        quiet: opts.quiet,
                        files: &mut files,
                    };
                    let (c, err) = run.run(source.as_mut())?;
                    summary.counts = c;
                    if let Some(e) = err {
                        tracing::error!(connector = %connector.name, "{e}");
                        summary.error = Some(e);
                    }
                }
            }
            if !summary.counts.reconciles() {
                return Err(RunError::Reconcile { source_id: summary.source, counts: summary.counts });
            }
            counts.add(&summary.counts);
            sources.push(summary);
        }
    }
    Ok(RunSummary {
        run_id,
        files_written: files.len() as u64,
        files,
        dead_letter_file: (dead.entries() > 0).then(|| dead.path().to_path_buf()),
        counts,
        seconds: started.elapsed().as_secs_f64(),
        sources,
    })
}

/// Hands memory the process has freed back to the OS, at most once per interval.
///
/// glibc keeps freed heap pages resident, in the main heap and in every thread's arena. The
/// pipeline allocates big short-lived buffers on one thread and frees them on another (raw
/// batches, mapped batches, Parquet row groups), so RSS crept up over a long run faster than
/// live memory did. `malloc_trim` releases whole free pages in all arenas. In alternating
/// benchmark runs it lowered peak RSS at 1× input from 154–162 to 147–150 MiB and at 10×
/// from 165–186 to 161–167 MiB, with no measurable cost in speed.
struct HeapTrimmer {
    every: std::time::Duration,
    last: Instant,
}

impl HeapTrimmer {
    fn new(every: std::time::Duration) -> Self {
        Self { every, last: Instant::now() }
    }

    fn tick(&mut self) {
        if self.last.elapsed() >= self.every {
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            // SAFETY: malloc_trim only reorganizes the allocator's free lists; it is
            // thread-safe and invalidates no live allocation.
            unsafe {
                libc::malloc_trim(0);
            }
            self.last = Instant::now();
        }
    }
}

/// Per-object progress, shared by the reading and writing sides.
#[derive(Default)]
struct Tracker {
    objects: HashMap<String, ObjectProgress>,
}

#[derive(Default)]
struct ObjectProgress {
    /// Records read, known once the object has been read to the end.
    expected: Option<u64>,
    settled: u64,
    errors: u64,
}

impl Tracker {
    /// Whether every record of the object is settled (or the object is committed already).
    fn is_settled(&self, key: &str) -> bool {
        self.objects.get(key).is_none_or(|p| p.expected == Some(p.settled))
    }

    /// Objects whose every record is settled; removed from the tracker.
    fn take_complete(&mut self) -> Vec<(String, ObjectDone)> {
        let now = chrono::Utc::now().timestamp_millis();
        let done: Vec<String> = self.objects.iter().filter(|(_, p)| p.expected == Some(p.settled)).map(|(k, _)| k.clone()).collect();
        done.into_iter()
            .map(|k| {
                let p = self.objects.remove(&k).expect("listed above");
                (k, ObjectDone { records: p.settled, errors: p.errors, committed_ms: now })
            })
            .collect()
    }
}

enum SinkMsg {
    Mapped(RawBatch, IsolatedOutput),
    /// A record or object the source could not read; `record` when it counts as a record.
    DeadLetter { key: String, entry: DeadLetterEntry, record: bool },
    /// Commit as soon as these objects (tracker keys) are settled, then reply.
    CommitWhenSettled { keys: Vec<String>, reply: Sender<Result<(), String>> },
}

/// What a source sees of the pipeline: where to send records and how to ask what is done.
pub struct SourceContext<'a> {
    connector: Arc<str>,
    source_id: String,
    state: &'a StateStore,
    builder: RawBatchBuilder,
    batch_rows: usize,
    seq: u64,
    raw_tx: Sender<RawBatch>,
    sink_tx: Sender<SinkMsg>,
    tracker: Arc<Mutex<Tracker>>,
    bytes_read: Arc<AtomicU64>,
    progress: ProgressBar,
    records_read: u64,
    objects_read: u64,
    objects_failed: u64,
    objects_already_done: u64,
}

/// An object being read.
pub struct ObjectHandle {
    info: ObjectInfo,
    key: String,
    records: u64,
    ingest_ms: i64,
}

impl SourceContext<'_> {
    /// The connector's account name.
    pub fn connector(&self) -> Arc<str> {
        self.connector.clone()
    }

    /// Whether `object` was committed by an earlier run (then the source skips it).
    pub fn is_done(&mut self, object: &str) -> bool {
        let key = object_key(&self.connector, &self.source_id, object);
        let done = match self.state.is_done(&key) {
            Ok(d) => d,
            Err(e) => {
                // Reading it again is safe (outputs are idempotent); losing it is not.
                tracing::warn!("{e}; reading {object} again");
                false
            }
        };
        if done {
            self.objects_already_done += 1;
        }
        done
    }

    /// Tells the progress bar how many objects there are to read.
    pub fn set_total_objects(&mut self, n: u64) {
        self.progress.set_length(n);
    }

    /// Adds to the progress bar's object count (sources that discover objects as they go).
    pub fn add_total_objects(&mut self, n: u64) {
        self.progress.inc_length(n);
    }

    /// Asks the pipeline to make `objects` durable: once every record read from them is
    /// written or dead-lettered, the outputs are committed and the objects checkpointed, and
    /// the reply says so (or why not). For sources that must acknowledge upstream (delete SQS
    /// messages) only after their data is safe. Objects not begun, or committed earlier,
    /// count as settled.
    pub fn commit_when_settled(&mut self, objects: Vec<String>) -> Receiver<Result<(), String>> {
        self.flush();
        let keys = objects.iter().map(|o| object_key(&self.connector, &self.source_id, o)).collect();
        let (reply, rx) = bounded(1);
        if let Err(crossbeam_channel::SendError(SinkMsg::CommitWhenSettled { reply, .. })) = self.sink_tx.send(SinkMsg::CommitWhenSettled { keys, reply }) {
            let _ = reply.send(Err("the pipeline stopped".into()));
        }
        rx
    }

    /// Wraps a reader so its bytes count towards `bytes_read`.
    pub fn count_bytes<R: Read>(&self, r: R) -> CountingReader<R> {
        CountingReader::new(r, self.bytes_read.clone())
    }

    /// Starts an object.
    pub fn begin_object(&mut self, info: ObjectInfo) -> ObjectHandle {
        let key = object_key(&self.connector, &self.source_id, &info.object);
        self.tracker.lock().expect("not poisoned").objects.entry(key.clone()).or_default();
        self.progress.set_message(info.object.rsplit('/').next().unwrap_or("").to_string());
        ObjectHandle { info, key, records: 0, ingest_ms: chrono::Utc::now().timestamp_millis() }
    }

    /// Adds one record of an object.
    pub fn push(&mut self, obj: &mut ObjectHandle, raw: &[u8], index: u64, offset: u64) {
        self.builder.push(&obj.info, raw, index, offset, obj.ingest_ms);
        obj.records += 1;
        self.records_read += 1;
        if self.builder.rows() >= self.batch_rows || self.builder.bytes() >= 32 << 20 {
            self.flush();
        }
    }

    /// Reports that the rest of an object cannot be read. `partial` is the record that was
    /// being read (index, offset, bytes); it is dead-lettered as a record.
    pub fn object_failed(&mut self, obj: &mut ObjectHandle, offset: u64, reason: String, partial: Option<(u64, u64, Vec<u8>)>) {
        tracing::warn!(object = %obj.info.object, offset, "{reason}");
        self.objects_failed += 1;
        let entry = |record_index: Option<u64>, byte_offset: u64| DeadLetterEntry {
            connector: self.connector.to_string(),
            source: self.source_id.clone(),
            object: obj.info.object.clone(),
            record_index,
            byte_offset,
            reason: reason.clone(),
            raw: None,
            raw_base64: None,
        };
        let msg = match partial {
            Some((index, poff, bytes)) => {
                obj.records += 1;
                self.records_read += 1;
                SinkMsg::DeadLetter { key: obj.key.clone(), entry: entry(Some(index), poff).with_raw(&bytes), record: true }
            }
            None => SinkMsg::DeadLetter { key: obj.key.clone(), entry: entry(None, offset), record: false },
        };
        let _ = self.sink_tx.send(msg);
    }

    /// Records an object that could not be read at all: one dead-letter line with `reason`;
    /// `raw`, when given, is dead-lettered as the object's one record (an SQS message body).
    pub fn unreadable_object(&mut self, info: ObjectInfo, reason: String, raw: Option<&[u8]>) {
        let mut obj = self.begin_object(info);
        self.object_failed(&mut obj, 0, reason, raw.map(|r| (0, 0, r.to_vec())));
        self.end_object(obj);
    }

    /// Ends an object: all its records have been pushed.
    pub fn end_object(&mut self, obj: ObjectHandle) {
        self.objects_read += 1;
        self.progress.inc(1);
        let mut t = self.tracker.lock().expect("not poisoned");
        let p = t.objects.entry(obj.key).or_default();
        p.expected = Some(obj.records);
    }

    fn flush(&mut self) {
        if self.builder.rows() > 0 {
            self.seq += 1;
            let batch = self.builder.finish(self.seq);
            // The receiving side only goes away when the run is failing; nothing to do then.
            let _ = self.raw_tx.send(batch);
        }
    }
}

struct SourceRun<'a> {
    cfg: &'a Config,
    connector: &'a ConnectorConfig,
    state: &'a StateStore,
    dead: &'a mut DeadLetter,
    sinks: &'a mut Vec<LakeSink>,
    mapper: &'a dyn BatchMapper,
    workers: usize,
    quiet: bool,
    files: &'a mut Vec<PathBuf>,
}

impl SourceRun<'_> {
    /// Runs one source to the end. Returns its counts and, if the source stopped early, why.
    fn run(&mut self, source: &mut dyn Source) -> Result<(Counts, Option<String>), RunError> {
        let (raw_tx, raw_rx) = bounded::<RawBatch>(self.workers * 2);
        // Mapped batches are the biggest things in flight; keep only a few queued per worker.
        let (sink_tx, sink_rx) = bounded::<SinkMsg>(self.workers * 2 + 2);
        let tracker = Arc::new(Mutex::new(Tracker::default()));
        let bytes_read = Arc::new(AtomicU64::new(0));
        let progress = if self.quiet { ProgressBar::hidden() } else { ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()) };
        progress.set_style(
            ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos}/{len} objects {per_sec} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        progress.set_prefix(format!("{} / {}", self.connector.name, source.kind()));
        let source_id = source.id();
        let mut ctx = SourceContext {
            connector: Arc::from(self.connector.name.as_str()),
            source_id: source_id.clone(),
            state: self.state,
            builder: RawBatchBuilder::new(),
            batch_rows: self.cfg.pipeline.batch_rows,
            seq: 0,
            raw_tx,
            sink_tx: sink_tx.clone(),
            tracker: tracker.clone(),
            bytes_read: bytes_read.clone(),
            progress: progress.clone(),
            records_read: 0,
            objects_read: 0,
            objects_failed: 0,
            objects_already_done: 0,
        };
        let mapper: &dyn BatchMapper = self.mapper;
        let mut counts = Counts::default();
        let result = std::thread::scope(|s| -> Result<Option<String>, RunError> {
            let reader = s.spawn(move || {
                let r = source.run(&mut ctx);
                ctx.flush();
                // Dropping ctx closes its channels, which lets the workers and the writer end.
                let read = Counts {
                    records_read: ctx.records_read,
                    objects_read: ctx.objects_read,
                    objects_failed: ctx.objects_failed,
                    objects_already_done: ctx.objects_already_done,
                    ..Counts::default()
                };
                (r, read)
            });
            for _ in 0..self.workers {
                let rx: Receiver<RawBatch> = raw_rx.clone();
                let tx = sink_tx.clone();
                s.spawn(move || {
                    for batch in rx {
                        let out = map_isolating(mapper, &batch);
                        if tx.send(SinkMsg::Mapped(batch, out)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(raw_rx);
            drop(sink_tx);
            let mut since_commit = 0u64;
            let mut failure: Option<RunError> = None;
            let mut waiting: Vec<(Vec<String>, Sender<Result<(), String>>)> = Vec::new();
            let mut trimmer = HeapTrimmer::new(std::time::Duration::from_secs(1));
            for msg in sink_rx.iter() {
                trimmer.tick();
                if let SinkMsg::CommitWhenSettled { keys, reply } = msg {
                    match &failure {
                        Some(e) => drop(reply.send(Err(e.to_string()))),
                        None => waiting.push((keys, reply)),
                    }
                } else if failure.is_some() {
                    continue; // drain so the other threads can finish
                } else {
                    match self.handle(msg, &source_id, &tracker, &mut counts) {
                        Ok(n) => since_commit += n,
                        Err(e) => failure = Some(e),
                    }
                }
                if failure.is_none() {
                    failure = self.check_error_ratio(&source_id, &counts, 1000).err();
                }
                let requested = !waiting.is_empty() && {
                    let t = tracker.lock().expect("not poisoned");
                    waiting.iter().any(|(keys, _)| keys.iter().all(|k| t.is_settled(k)))
                };
                if failure.is_none() && (requested || since_commit >= self.cfg.pipeline.commit_every_records) {
                    // Which requests this commit answers: decided before committing, because
                    // committing removes the objects from the tracker.
                    let answered: Vec<bool> = {
                        let t = tracker.lock().expect("not poisoned");
                        waiting.iter().map(|(keys, _)| keys.iter().all(|k| t.is_settled(k))).collect()
                    };
                    if let Err(e) = self.commit(&tracker) {
                        failure = Some(e);
                    }
                    since_commit = 0;
                    let mut i = 0;
                    waiting.retain(|(_, reply)| {
                        let done = answered[i];
                        i += 1;
                        if done {
                            let _ = reply.send(failure.as_ref().map_or(Ok(()), |e| Err(e.to_string())));
                        }
                        !done
                    });
                }
                if let Some(e) = &failure {
                    for (_, reply) in waiting.drain(..) {
                        let _ = reply.send(Err(e.to_string()));
                    }
                }
            }
            let (r, read) = reader.join().expect("source thread does not panic");
            counts.add(&read);
            if let Some(e) = failure {
                return Err(e);
            }
            self.check_error_ratio(&source_id, &counts, 1)?;
            self.commit(&tracker)?;
            Ok(r.err().map(|e| e.message))
        });
        progress.finish_and_clear();
        counts.bytes_read = bytes_read.load(Ordering::Relaxed);
        let err = result?;
        Ok((counts, err))
    }

    fn check_error_ratio(&self, source_id: &str, c: &Counts, min_sample: u64) -> Result<(), RunError> {
        let Some(max) = self.cfg.pipeline.max_error_ratio else { return Ok(()) };
        let seen = c.records_written + c.records_skipped + c.records_dead_lettered;
        if seen >= min_sample && c.records_dead_lettered as f64 > max * seen as f64 {
            return Err(RunError::ErrorRatio { source_id: source_id.to_string(), dead: c.records_dead_lettered, seen, max });
        }
        Ok(())
    }

    /// Writes one message's records; returns how many records it settled.
    fn handle(&mut self, msg: SinkMsg, source_id: &str, tracker: &Mutex<Tracker>, counts: &mut Counts) -> Result<u64, RunError> {
        match msg {
            SinkMsg::DeadLetter { key, entry, record } => {
                self.dead.write(&entry)?;
                let mut t = tracker.lock().expect("not poisoned");
                let p = t.objects.entry(key).or_default();
                p.errors += 1;
                if record {
                    p.settled += 1;
                    counts.records_dead_lettered += 1;
                }
                Ok(record as u64)
            }
            SinkMsg::CommitWhenSettled { .. } => unreachable!("answered by the writer loop"),
            SinkMsg::Mapped(batch, out) => {
                counts.mapper_retries += out.retries as u64;
                let manifest = self.mapper.manifest();
                for (_, piece) in &out.pieces {
                    for class in &piece.classes {
                        let source_name = format!("{}_{}", manifest.name, class.class_name);
                        for sink in self.sinks.iter_mut() {
                            sink.write(&source_name, &class.events, &class.rows, |r| {
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
                                    connector: self.connector.name.clone(),
                                    source: source_id.to_string(),
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
                let mut t = tracker.lock().expect("not poisoned");
                for (object, (n, errors)) in settled {
                    let key = object_key(&self.connector.name, source_id, object);
                    let p = t.objects.entry(key).or_default();
                    p.settled += n;
                    p.errors += errors;
                }
                Ok(batch.len() as u64)
            }
        }
    }

    /// Makes everything written so far durable, then records complete objects as done.
    fn commit(&mut self, tracker: &Mutex<Tracker>) -> Result<(), RunError> {
        for sink in self.sinks.iter_mut() {
            for f in sink.commit()? {
                tracing::debug!(path = %f.path.display(), rows = f.rows, "published");
                self.files.push(f.path);
            }
        }
        self.dead.commit()?;
        let done = tracker.lock().expect("not poisoned").take_complete();
        self.state.mark_done(&done)?;
        Ok(())
    }
}
