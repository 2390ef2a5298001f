//! The pipeline: sources → raw batches → mapper workers → sinks → commit.
//!
//! Sources run concurrently (up to `pipeline.max_concurrent_sources`), each on its own thread;
//! one pool of `workers` threads runs the mappers (one sandbox instance per batch), and the
//! calling thread writes. Units of work (objects, API pages, queue messages) are tracked
//! record by record: a unit is checkpointed only when every record read from it has been
//! written, skipped or dead-lettered **and** the files holding them are durable, through the
//! commit protocol of [`crate::state`].
//!
//! The rooms: [`context`] (what sources see, the per-unit tracker), [`writer`] (sinks and the
//! commit protocol), [`summary`] (counts and errors), and the orchestration here.

mod context;
mod summary;
mod writer;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Instant,
};

use arrow_array::cast::AsArray;
use crossbeam_channel::{Receiver, Sender, bounded};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub use context::{Checkpoint, SourceContext, UnitHandle};
pub use summary::{Counts, RunError, RunSummary, SourceSummary};

use self::{
    context::Tracker,
    writer::{SinkMsg, SourceSlot, Writer},
};
use crate::{
    aws::AwsSession,
    batch::{RawBatch, RawBatchBuilder},
    config::Config,
    mapper::{BatchMapper, DeadlineBudget, MapperLimits, MapperRef, WasmMapper, map_isolating},
    sinks::{DeadLetter, EventClass},
    sources::{Source, SourceEnv},
    state::{StateStore, lock::DirLock},
};

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

/// A source ready to run.
struct Job {
    slot: usize,
    source: Box<dyn Source>,
    label: String,
}

/// Runs every connector and source of `cfg` once.
pub fn run(cfg: &Config, opts: &RunOptions) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    limit_malloc_arenas();
    let run_id = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
    // One run per state dir and per local output at a time; held until the run ends.
    let _locks = lock_dirs(cfg)?;
    let state = StateStore::open(&cfg.state.dir)?;
    let output_env = cfg.output_env();
    let sinks = cfg.outputs.iter().map(|o| o.open(&output_env)).collect::<Result<Vec<_>, _>>()?;
    let mut writer = Writer {
        state: &state,
        sinks,
        dead: DeadLetter::new(&cfg.dead_letter_dir(), &run_id),
        files: Vec::new(),
        max_error_ratio: cfg.pipeline.max_error_ratio,
        fault_after_publish: std::env::var("TRAWL_FAULT").is_ok_and(|v| v == "abort_after_publish"),
    };
    writer.recover()?;
    let workers = opts.workers.or(cfg.pipeline.workers).unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    let limits = MapperLimits {
        memory_bytes: (cfg.pipeline.mapper_memory_mib << 20) as usize,
        deadline: std::time::Duration::from_millis(cfg.pipeline.mapper_deadline_ms),
        max_output_bytes: (cfg.pipeline.mapper_output_mib << 20) as usize,
        fuel: cfg.pipeline.mapper_fuel,
        inline: cfg.pipeline.mapper_inline,
    };
    let cache_dir = cfg.state.dir.join("cache");
    // Modules are loaded once per (mapper, config), however many sources use them.
    let mut loaded: HashMap<String, Result<Arc<dyn BatchMapper>, String>> = HashMap::new();
    let mut summaries: Vec<SourceSummary> = Vec::new();
    let mut slots: Vec<SourceSlot> = Vec::new();
    let mut slot_summary: Vec<usize> = Vec::new();
    let mut jobs: Vec<Job> = Vec::new();
    for connector in &cfg.connectors {
        // One AWS session per connector, made only when one of its sources needs it.
        let session = connector.sources.iter().any(|s| s.needs_aws()).then(|| {
            AwsSession::connect(&connector.aws_target()).map_err(|e| format!("connector {:?}: {e}", connector.name))
        });
        if let Some(Err(e)) = &session {
            tracing::error!("{e}");
        }
        let defaults = connector.defaults();
        for source_cfg in &connector.sources {
            let env = SourceEnv {
                connector: &defaults,
                aws: session.as_ref().and_then(|s| s.as_ref().ok()),
                since: opts.since,
                until: opts.until,
                max_duration: opts.max_duration,
            };
            let built = match &session {
                Some(Err(e)) if source_cfg.needs_aws() => Err(e.clone()),
                _ => source_cfg.build(&env).map_err(|e| format!("source {}: {e}", source_cfg.kind())),
            };
            let mut summary = SourceSummary { connector: connector.name.clone(), source: source_cfg.kind().to_string(), counts: Counts::default(), error: None };
            let source = match built {
                Ok(s) => s,
                Err(e) => {
                    summary.error = Some(e);
                    summaries.push(summary);
                    continue;
                }
            };
            summary.source = source.id();
            let mut load = |reference: &str, config: &serde_json::Value, kind: &str| -> Result<Arc<dyn BatchMapper>, String> {
                match &opts.mapper_override {
                    Some(m) => Ok(m.clone()),
                    None => {
                        let key = format!("{reference}\u{1f}{config}");
                        loaded
                            .entry(key)
                            .or_insert_with(|| {
                                MapperRef::parse(reference)
                                    .load_bytes()
                                    .and_then(|(bytes, display)| WasmMapper::load(&bytes, &display, Some(&cache_dir), config, limits.clone()))
                                    .map(|m| Arc::new(m) as Arc<dyn BatchMapper>)
                                    .map_err(|e| e.to_string())
                            })
                            .clone()
                    }
                }
                .and_then(|m| accepts(m.as_ref(), reference, kind).map(|()| m))
            };
            // The source's mapper, and one per further kind of record it reads (an `sqs` queue
            // carrying Redshift and VPC Flow objects beside CloudTrail ones).
            let mapper = load(source_cfg.mapper(), &source_cfg.mapper_config(), source.kind()).and_then(|m| {
                let by_kind = source_cfg.kind_mappers().into_iter().map(|k| load(&k.mapper, &k.mapper_config, k.kind).map(|m| (k.kind, m))).collect::<Result<Vec<_>, _>>()?;
                Ok(SlotMappers { default: m, by_kind })
            });
            match mapper {
                Err(e) => {
                    tracing::error!(connector = %connector.name, source = %summary.source, "{e}");
                    summary.error = Some(e);
                }
                Ok(mappers) => {
                    jobs.push(Job { slot: slots.len(), label: format!("{} / {}", connector.name, source.kind()), source });
                    slot_summary.push(summaries.len());
                    slots.push(SourceSlot {
                        connector: connector.name.clone(),
                        source_id: summary.source.clone(),
                        mappers,
                        tracker: Arc::new(Mutex::new(Tracker::default())),
                        counts: Counts::default(),
                        stop: Arc::new(AtomicBool::new(false)),
                        error: None,
                    });
                }
            }
            summaries.push(summary);
        }
    }
    // Every class the mappers declare gets its output directory now: a Security Lake source
    // name that is invalid or given to two classes stops the run before anything is read.
    {
        let classes: Vec<EventClass<'_>> = slots
            .iter()
            .flat_map(|s| s.mappers.all())
            .flat_map(|m| {
                let m = m.manifest();
                m.classes.iter().map(move |c| EventClass { mapper: &m.name, uid: c.uid, name: &c.name })
            })
            .collect();
        for sink in writer.sinks.iter_mut() {
            sink.register(&classes)?;
        }
    }
    let errors = run_sources(cfg, opts, workers, &mut writer, &mut slots, jobs)?;
    let mut counts = Counts::default();
    for (i, slot) in slots.into_iter().enumerate() {
        let summary = &mut summaries[slot_summary[i]];
        summary.counts = slot.counts;
        if let Some(e) = slot.error.as_ref().or(errors[i].as_ref()) {
            tracing::error!(connector = %summary.connector, "{e}");
            summary.error = Some(e.clone());
        }
        if !summary.counts.reconciles() {
            return Err(RunError::Reconcile { source_id: summary.source.clone(), counts: summary.counts.clone() });
        }
    }
    for s in &summaries {
        counts.add(&s.counts);
    }
    let mapper_warnings = match &opts.mapper_override {
        Some(m) => m.warnings(),
        None => loaded.values().filter_map(|m| m.as_ref().ok()).map(|m| m.warnings()).sum(),
    };
    Ok(RunSummary {
        run_id,
        files_written: writer.files.len() as u64,
        dead_letter_file: (writer.dead.entries() > 0).then(|| writer.dead.path().to_path_buf()),
        files: writer.files,
        counts,
        mapper_warnings,
        seconds: started.elapsed().as_secs_f64(),
        sources: summaries,
    })
}

/// Locks the state directory and every local output root.
fn lock_dirs(cfg: &Config) -> Result<Vec<DirLock>, RunError> {
    let mut locks = vec![DirLock::acquire(&cfg.state.dir, "lock", "state dir").map_err(RunError::Busy)?];
    for o in cfg.outputs.iter().filter(|o| o.s3_location().is_none()) {
        locks.push(DirLock::acquire(o.path(), ".trawl.lock", "output").map_err(RunError::Busy)?);
    }
    Ok(locks)
}

/// The mappers of one source: its own, and one per further kind of record it reads. A raw
/// batch holds records of one kind only ([`SourceContext`] flushes when the kind changes), so
/// its first row tells which mapper maps it.
#[derive(Clone)]
pub(crate) struct SlotMappers {
    pub default: Arc<dyn BatchMapper>,
    pub by_kind: Vec<(&'static str, Arc<dyn BatchMapper>)>,
}

impl SlotMappers {
    /// The mapper of records of `kind`.
    pub fn for_kind(&self, kind: &str) -> &Arc<dyn BatchMapper> {
        self.by_kind.iter().find(|(k, _)| *k == kind).map_or(&self.default, |(_, m)| m)
    }

    /// The mapper of a batch (all its records are of one kind).
    pub fn for_batch(&self, batch: &RawBatch) -> &Arc<dyn BatchMapper> {
        if self.by_kind.is_empty() || batch.is_empty() {
            return &self.default;
        }
        let kinds = batch.batch.column_by_name(trawl_guest_sdk::abi::envelope::SOURCE_KIND).map(|c| c.as_string::<i32>().value(0).to_string());
        match kinds {
            Some(k) => self.for_kind(&k),
            None => &self.default,
        }
    }

    /// Every mapper.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn BatchMapper>> {
        std::iter::once(&self.default).chain(self.by_kind.iter().map(|(_, m)| m))
    }
}

/// Whether a mapper's manifest accepts records of a source kind (no list: any source).
fn accepts(mapper: &dyn BatchMapper, reference: &str, kind: &str) -> Result<(), String> {
    let kinds = &mapper.manifest().source_kinds;
    if kinds.is_empty() || kinds.iter().any(|k| k == kind) {
        return Ok(());
    }
    Err(format!("mapper {reference} ({}) reads records of the sources {}, not of source {kind}; choose another mapper for it", mapper.manifest().name, kinds.join(", ")))
}

/// Runs the jobs concurrently, with one mapper pool and this thread writing. Returns each
/// slot's error, if its source stopped early.
fn run_sources(cfg: &Config, opts: &RunOptions, workers: usize, writer: &mut Writer<'_>, slots: &mut [SourceSlot], jobs: Vec<Job>) -> Result<Vec<Option<String>>, RunError> {
    let n_jobs = jobs.len();
    let mut errors: Vec<Option<String>> = vec![None; slots.len()];
    if n_jobs == 0 {
        return Ok(errors);
    }
    let (raw_tx, raw_rx) = bounded::<(usize, RawBatch)>(workers * 2);
    // Mapped batches are the biggest things in flight; keep only a few queued per worker.
    let (sink_tx, sink_rx) = bounded::<SinkMsg>(workers * 2 + 2);
    let commit_wanted = Arc::new(AtomicBool::new(false));
    let progress = MultiProgress::with_draw_target(if opts.quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() });
    let style = ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos}/{len} units {per_sec} {msg}").expect("valid template").progress_chars("=> ");
    let queue = Mutex::new(jobs.into_iter().rev().collect::<Vec<_>>());
    let results: Mutex<Vec<(usize, Option<String>, Counts)>> = Mutex::new(Vec::new());
    let mappers: Vec<SlotMappers> = slots.iter().map(|s| s.mappers.clone()).collect();
    let budgets: Vec<DeadlineBudget> = slots.iter().map(|_| DeadlineBudget::default()).collect();
    let trackers: Vec<Arc<Mutex<Tracker>>> = slots.iter().map(|s| s.tracker.clone()).collect();
    let stops: Vec<Arc<AtomicBool>> = slots.iter().map(|s| s.stop.clone()).collect();
    let runners = cfg.pipeline.max_concurrent_sources.clamp(1, n_jobs);
    let state = writer.state;
    let result = std::thread::scope(|s| -> Result<(), RunError> {
        for _ in 0..runners {
            let (raw_tx, sink_tx, commit_wanted) = (raw_tx.clone(), sink_tx.clone(), commit_wanted.clone());
            let (queue, results, trackers, stops, progress, style) = (&queue, &results, &trackers, &stops, &progress, &style);
            let slots_meta: Vec<(String, String)> = slots.iter().map(|s| (s.connector.clone(), s.source_id.clone())).collect();
            s.spawn(move || {
                loop {
                    let Some(mut job) = queue.lock().expect("not poisoned").pop() else { break };
                    let bar = progress.add(ProgressBar::new(0));
                    bar.set_style(style.clone());
                    bar.set_prefix(job.label.clone());
                    let bytes_read = Arc::new(AtomicU64::new(0));
                    let (connector, source_id) = &slots_meta[job.slot];
                    let mut ctx = SourceContext {
                        connector: Arc::from(connector.as_str()),
                        source_id: source_id.clone(),
                        source: job.slot,
                        state,
                        builder: RawBatchBuilder::new(),
                        batch_rows: cfg.pipeline.batch_rows,
                        seq: 0,
                        raw_tx: raw_tx.clone(),
                        sink_tx: sink_tx.clone(),
                        tracker: trackers[job.slot].clone(),
                        commit_wanted: commit_wanted.clone(),
                        stop: stops[job.slot].clone(),
                        bytes_read: bytes_read.clone(),
                        progress: bar.clone(),
                        open_units: 0,
                        read: Counts::default(),
                        oldest: None,
                        batch_kind: None,
                    };
                    let r = job.source.run(&mut ctx);
                    ctx.flush();
                    let mut read = std::mem::take(&mut ctx.read);
                    read.bytes_read = bytes_read.load(Ordering::Relaxed);
                    drop(ctx);
                    bar.finish_and_clear();
                    results.lock().expect("not poisoned").push((job.slot, r.err().map(|e| e.message), read));
                }
            });
        }
        for _ in 0..workers {
            let rx: Receiver<(usize, RawBatch)> = raw_rx.clone();
            let tx: Sender<SinkMsg> = sink_tx.clone();
            let (mappers, budgets) = (&mappers, &budgets);
            s.spawn(move || {
                for (source, batch) in rx {
                    let out = map_isolating(mappers[source].for_batch(&batch).as_ref(), &batch, &budgets[source]);
                    if tx.send(SinkMsg::Mapped { source, batch, out }).is_err() {
                        break;
                    }
                }
            });
        }
        drop(raw_rx);
        drop(raw_tx);
        drop(sink_tx);
        let mut since_commit = 0u64;
        let mut failure: Option<RunError> = None;
        let mut waiting: Vec<Sender<Result<(), String>>> = Vec::new();
        let mut trimmer = HeapTrimmer::new(std::time::Duration::from_secs(1));
        let settled = |slots: &[SourceSlot]| slots.iter().all(|s| s.tracker.lock().expect("not poisoned").all_settled());
        loop {
            // A unit can become settled with no message to tell of it (its last records were
            // written before the source ended it): while a commit is awaited, look again now
            // and then, or the source waiting for it would wait for ever.
            let msg = if waiting.is_empty() && !commit_wanted.load(Ordering::Acquire) {
                match sink_rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => break,
                }
            } else {
                match sink_rx.recv_timeout(std::time::Duration::from_millis(20)) {
                    Ok(m) => Some(m),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                }
            };
            trimmer.tick();
            match msg {
                None => {}
                Some(SinkMsg::CommitRequest { reply }) => match &failure {
                    Some(e) => drop(reply.send(Err(e.to_string()))),
                    None => waiting.push(reply),
                },
                Some(_) if failure.is_some() => continue, // drain so the other threads can finish
                Some(msg) => match writer.handle(msg, slots) {
                    Ok(n) => since_commit += n,
                    Err(e) => failure = Some(e),
                },
            }
            if failure.is_none() {
                failure = slots.iter().find_map(|slot| writer.check_error_ratio(slot, 1000).err());
            }
            if since_commit >= cfg.pipeline.commit_every_records {
                // Sources wait at their next unit; the commit happens once all are settled.
                commit_wanted.store(true, Ordering::Release);
            }
            if failure.is_none() && (!waiting.is_empty() || commit_wanted.load(Ordering::Acquire)) && settled(slots) {
                let r = writer.commit(slots);
                since_commit = 0;
                commit_wanted.store(false, Ordering::Release);
                for reply in waiting.drain(..) {
                    let _ = reply.send(r.as_ref().map_err(|e| e.to_string()).map(|_| ()));
                }
                if let Err(e) = r {
                    failure = Some(e);
                }
            }
            if let Some(e) = &failure {
                // The run is failing: sources stop at their next unit.
                slots.iter().for_each(|s| s.stop.store(true, Ordering::Release));
                commit_wanted.store(false, Ordering::Release);
                for reply in waiting.drain(..) {
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(())
    });
    result?;
    for (slot, err, read) in results.into_inner().expect("not poisoned") {
        slots[slot].counts.add(&read);
        errors[slot] = err;
    }
    for slot in slots.iter() {
        writer.check_error_ratio(slot, 1)?;
    }
    writer.commit(slots)?;
    Ok(errors)
}

/// Caps glibc's malloc arenas at two. Batches are allocated on the reader and mapper threads
/// and freed on the writer, and each thread's own arena kept its freed pages: with the default
/// (8 per core) peak RSS grew with the input (CloudTrail 10× input: 235–251 MiB); with two
/// arenas it measured 229 MiB, at the same speed. The `MALLOC_ARENA_MAX` variable still wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; M_ARENA_MAX bounds arenas made
        // from now on and leaves existing allocations alone.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
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

