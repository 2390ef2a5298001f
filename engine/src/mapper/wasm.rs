//! The wasmtime host for ABI v1 mapper modules.
//!
//! One [`Engine`] per process (epoch interruption on, a ticker thread advancing the epoch);
//! the standard mappers' machine code precompiled at build time (`engine/build.rs`), any
//! other module compiled once and cached on disk keyed by its sha256 and the engine's
//! compatibility hash; a fresh [`Store`] and instance per batch from an [`InstancePre`], so no
//! state leaks between batches and a trapped instance is never reused.
//!
//! The sandbox grants the `trawl` imports (`log`, `panic`) and a handful of
//! `wasi_snapshot_preview1` functions that Rust's std links on wasm32-wasip1: output to
//! stdout/stderr is captured (and attached to errors), randomness is a fixed-seed generator,
//! the environment and arguments are empty, clocks and files do not exist. Any other import is
//! refused when the module loads.

use std::{
    collections::hash_map::DefaultHasher,
    hash::{Hash, Hasher},
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
    time::Duration,
};

use sha2::{Digest, Sha256};
use trawl_guest_sdk::{Manifest, abi, runtime::ipc_encode};
use wasmtime::{Caller, Engine, InstancePre, Linker, Memory, Module, Store, StoreLimits, StoreLimitsBuilder, Trap};

use super::{BatchMapper, MappedBatch, MapperError, output};
use crate::batch::RawBatch;

const EPOCH_TICK: Duration = Duration::from_millis(10);
const LINEAR_MEMORY_KEEP_RESIDENT: usize = 16 << 20;
/// Guest log caps. A mapper that logs in a loop must not flood stderr: bisection alone makes
/// hundreds of instances of one bad batch, so a per-instance cap is not enough. Lines beyond
/// the caps are dropped and counted; the count is logged when the mapper is dropped.
const MAX_LOG_LINES_PER_BATCH: usize = 100;
const MAX_LOG_BYTES_PER_BATCH: usize = 64 << 10;
const MAX_LOG_LINE_BYTES: usize = 4 << 10;
const MAX_LOG_BYTES_PER_RUN: usize = 8 << 20;
/// Guest stdout/stderr kept per instance, for the message of a trap.
const MAX_CAPTURED_BYTES: usize = 2 << 10;

/// What a mapper may still log in this run, shared by its instances.
#[derive(Debug)]
pub(crate) struct LogBudget {
    bytes_left: std::sync::atomic::AtomicUsize,
    dropped: std::sync::atomic::AtomicU64,
    /// Lines logged at warn or error level, dropped or not.
    warnings: std::sync::atomic::AtomicU64,
    said_run_cap: std::sync::atomic::AtomicBool,
}

impl LogBudget {
    fn new() -> Arc<Self> {
        Arc::new(Self { bytes_left: MAX_LOG_BYTES_PER_RUN.into(), dropped: 0.into(), warnings: 0.into(), said_run_cap: false.into() })
    }

    /// Takes `n` bytes of the run's budget, if there are that many left.
    fn take(&self, n: usize) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        self.bytes_left.fetch_update(Relaxed, Relaxed, |left| left.checked_sub(n)).is_ok()
    }
}
/// Exports every ABI v1 module must have.
const REQUIRED_EXPORTS: &[&str] = &["memory", "trawl_abi_version", "trawl_alloc", "trawl_manifest", "trawl_init", "trawl_map_batch"];

/// Sandbox limits for one mapper.
#[derive(Debug, Clone)]
pub struct MapperLimits {
    /// Linear memory cap per instance, bytes.
    pub memory_bytes: usize,
    /// Wall-clock deadline per batch.
    pub deadline: Duration,
    /// Largest output a call may return, bytes.
    pub max_output_bytes: usize,
    /// Deterministic mode: a batch may use this much fuel (about one unit per wasm
    /// instruction), so the same input always stops at the same point, whatever the machine's
    /// load. Off by default: fuel metering costs speed, and the wall-clock deadline still
    /// applies either way.
    pub fuel: Option<u64>,
    /// Let Cranelift inline small functions within the module. The cloudtrail mapper then
    /// maps ~7% faster (every wasm function entry pays an epoch check, and LLVM leaves many
    /// small functions un-inlined), but compiling it takes ~2× as long and ~2.2 GiB of
    /// memory instead of ~150 MiB. Compiling happens once per module and machine (then the
    /// compile cache answers), yet a first run in a small container would be killed for it,
    /// so it is off unless asked for.
    pub inline: bool,
}

impl Default for MapperLimits {
    fn default() -> Self {
        Self { memory_bytes: 256 << 20, deadline: Duration::from_secs(30), max_output_bytes: 512 << 20, fuel: None, inline: false }
    }
}

/// The process-wide engine for these limits, with its epoch ticker. Fuel metering and
/// inlining are engine settings that change the compiled code, so each combination has its
/// own engine (and its own compile-cache entries, told apart by the engine's compatibility
/// hash).
fn engine(limits: &MapperLimits) -> &'static Engine {
    static ENGINES: [OnceLock<Engine>; 4] = [const { OnceLock::new() }; 4];
    let fuel = limits.fuel.is_some();
    let inline = limits.inline;
    ENGINES[fuel as usize * 2 + inline as usize].get_or_init(|| {
        let mut cfg = super::engine_config::mapper_compile_config(fuel, inline);
        // `TRAWL_WASM_PERFMAP=1` writes /tmp/perf-<pid>.map so `perf report` names the
        // mapper's own functions instead of showing anonymous JIT addresses.
        if std::env::var_os("TRAWL_WASM_PERFMAP").is_some_and(|v| v != "0") {
            cfg.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        // A fresh instance per batch: the pooling allocator keeps instance, table and memory
        // slots (and their copy-on-write images) ready, so setting one up is a few
        // microseconds instead of an mmap/munmap round trip. Slots are address space, not
        // RAM. Where the address space cannot be reserved (a ulimit -v), fall back.
        let mut pooled = cfg.clone();
        pooled.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling_config()));
        let engine = match Engine::new(&pooled) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("pooling allocator unavailable ({e:#}); allocating instances on demand");
                Engine::new(&cfg).expect("wasmtime engine config is valid")
            }
        };
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("trawl-epoch".into())
            .spawn(move || {
                while let Some(e) = ticker.upgrade() {
                    e.increment_epoch();
                    drop(e);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .expect("spawn epoch thread");
        engine
    })
}

/// Instance slots: enough for every worker plus loads and bisection retries running at once.
fn pooling_config() -> wasmtime::PoolingAllocationConfig {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) as u32;
    let slots = (cpus * 8).max(64);
    let mut p = wasmtime::PoolingAllocationConfig::default();
    p.total_core_instances(slots)
        .total_memories(slots)
        .total_tables(slots)
        // Per-mapper caps (pipeline.mapper_memory_mib) are enforced by the store's limiter;
        // the slot only has to hold the largest 32-bit memory.
        .max_memory_size(4 << 30)
        .max_core_instance_size(4 << 20)
        .table_elements(100_000)
        // A 1,024-row batch touches ~15 MiB of guest heap. Keeping it resident and zeroing
        // it with memset when the instance is dropped is far cheaper than madvise plus a page
        // fault per 4 KiB on the next batch (the faults were ~17% of mapping time). Costs at
        // most this much RSS per slot in use (about one per worker).
        .linear_memory_keep_resident(LINEAR_MEMORY_KEEP_RESIDENT)
        .table_keep_resident(64 << 10)
        // Linux ≥ 6.7: reset only the pages the instance wrote (PAGEMAP_SCAN), not the whole
        // kept-resident range; an instance that only ran init then costs microseconds.
        .pagemap_scan(wasmtime::Enabled::Auto)
        // Reuse the least recently used slot of this module rather than a cold one, so the
        // slots (and the memory they keep resident) in use over a run are only as many as the
        // instances alive at once, not all of them: RSS stays flat however long the run.
        .max_unused_warm_slots(0);
    p
}

struct HostState {
    limits: StoreLimits,
    mapper: Arc<str>,
    batch: u64,
    /// The batch being mapped, to name the object and record of a guest log line.
    input: Option<crate::batch::RawBatch>,
    log_lines: usize,
    log_bytes: usize,
    said_batch_cap: bool,
    log: Arc<LogBudget>,
    captured: Vec<u8>,
    panic: Option<String>,
    rng: u64,
}

/// A loaded mapper module.
pub struct WasmMapper {
    pre: InstancePre<HostState>,
    manifest: Manifest,
    name: Arc<str>,
    config_json: Vec<u8>,
    limits: MapperLimits,
    log: Arc<LogBudget>,
}

impl Drop for WasmMapper {
    fn drop(&mut self) {
        let dropped = self.log.dropped.load(std::sync::atomic::Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(mapper = %self.name, "{dropped} log lines of the mapper were dropped over the caps ({MAX_LOG_LINES_PER_BATCH} lines or {} KiB per batch, {} MiB per run)", MAX_LOG_BYTES_PER_BATCH >> 10, MAX_LOG_BYTES_PER_RUN >> 20);
        }
    }
}

impl WasmMapper {
    /// Loads a module: compile (or take it from `cache_dir`), check imports, exports and ABI
    /// version, read the manifest and check that `config` is accepted.
    ///
    /// # Errors
    /// [`MapperError::Load`] naming `display` and what is wrong.
    pub fn load(
        bytes: &[u8],
        display: &str,
        cache_dir: Option<&Path>,
        config: &serde_json::Value,
        limits: MapperLimits,
    ) -> Result<Self, MapperError> {
        let fail = |reason: String| MapperError::Load { path: display.to_string(), reason };
        if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
            return Err(fail("not a WebAssembly module (no \\0asm header)".into()));
        }
        if bytes[4..8] != [1, 0, 0, 0] {
            return Err(fail("a WebAssembly component or unknown binary version; trawl loads core modules (ABI v1)".into()));
        }
        let module = compile_cached(engine(&limits), bytes, cache_dir, limits.fuel.is_none() && !limits.inline).map_err(|e| fail(format!("cannot compile: {e:#}")))?;

        let exports: Vec<String> = module.exports().map(|e| e.name().to_string()).collect();
        let missing: Vec<&str> = REQUIRED_EXPORTS.iter().copied().filter(|r| !exports.iter().any(|e| e == r)).collect();
        if !missing.is_empty() {
            return Err(fail(format!("missing required exports {} — was it built with trawl_guest_sdk::export_mapper!?", missing.join(", "))));
        }
        let linker = linker(engine(&limits)).map_err(|e| fail(format!("{e:#}")))?;
        let mut probe = Store::new(engine(&limits), state("", 0, &limits));
        let refused: Vec<String> = module
            .imports()
            .filter(|i| linker.get_by_import(&mut probe, i).is_none())
            .map(|i| format!("{}::{}", i.module(), i.name()))
            .collect();
        if !refused.is_empty() {
            return Err(fail(format!("imports {} which the trawl sandbox does not grant", refused.join(", "))));
        }
        let pre = linker.instantiate_pre(&module).map_err(|e| fail(format!("cannot link: {e:#}")))?;

        // Read the ABI version and manifest from a throwaway instance. The fuel budget is for
        // batches; loading (init, manifest, config check) is bounded by the deadline only.
        let load_limits = MapperLimits { fuel: limits.fuel.map(|_| u64::MAX), ..limits.clone() };
        let mut store = new_store(&load_limits, "", 0);
        let instance = pre.instantiate(&mut store).map_err(|e| fail(format!("cannot instantiate: {e:#}")))?;
        call_initialize(&mut store, &instance).map_err(|e| fail(format!("_initialize trapped: {e:#}")))?;
        let version = instance
            .get_typed_func::<(), i32>(&mut store, "trawl_abi_version")
            .and_then(|f| f.call(&mut store, ()))
            .map_err(|e| fail(format!("trawl_abi_version: {e:#}")))? as u32;
        let (major, minor) = (version >> 16, version & 0xffff);
        if major != abi::ABI_MAJOR {
            return Err(fail(format!("built for mapper ABI {major}.{minor}; this trawl supports ABI {}.x — rebuild it with a matching trawl-guest-sdk", abi::ABI_MAJOR)));
        }
        let memory = instance.get_memory(&mut store, "memory").ok_or_else(|| fail("export memory is not a memory".into()))?;
        let packed = instance
            .get_typed_func::<(), i64>(&mut store, "trawl_manifest")
            .and_then(|f| f.call(&mut store, ()))
            .map_err(|e| fail(format!("trawl_manifest: {e:#}")))?;
        let buf = read_packed(&memory, &store, packed, 16 << 20).map_err(|e| fail(format!("trawl_manifest: {e}")))?;
        let json = result_payload(&buf).map_err(|e| fail(format!("trawl_manifest failed: {e}")))?;
        let manifest: Manifest = serde_json::from_slice(json).map_err(|e| fail(format!("manifest is not valid: {e}")))?;
        if manifest.classes.is_empty() {
            return Err(fail("manifest declares no output classes".into()));
        }

        let mapper = Self {
            pre,
            name: Arc::from(manifest.name.as_str()),
            manifest,
            config_json: serde_json::to_vec(config).expect("JSON value serializes"),
            limits,
            log: LogBudget::new(),
        };
        // Check the config now, not on the first batch.
        let mut store = mapper.store(0);
        mapper.instantiate(&mut store).map_err(|e| fail(e.to_string()))?;
        Ok(mapper)
    }

    /// Sets up a fresh instance as every batch does (instantiate, `_initialize`, `trawl_init`
    /// with the config) and discards it. For measuring the per-batch setup cost.
    pub fn setup_instance(&self) -> Result<(), MapperError> {
        let mut store = self.store(0);
        self.instantiate(&mut store).map(|_| ())
    }

    fn store(&self, batch: u64) -> Store<HostState> {
        let mut store = new_store(&self.limits, &self.name, batch);
        store.data_mut().log = self.log.clone();
        store
    }

    fn instantiate(&self, store: &mut Store<HostState>) -> Result<(wasmtime::Instance, Memory), MapperError> {
        let instance = self.pre.instantiate(&mut *store).map_err(|e| self.trap_error(store, e))?;
        call_initialize(store, &instance).map_err(|e| self.trap_error(store, e))?;
        let memory = instance.get_memory(&mut *store, "memory").expect("checked at load");
        let ptr = self.write_input(store, &instance, &memory, &self.config_json)?;
        let packed = instance
            .get_typed_func::<(i32, i32), i64>(&mut *store, "trawl_init")
            .and_then(|f| f.call(&mut *store, (ptr, self.config_json.len() as i32)))
            .map_err(|e| self.trap_error(store, e))?;
        let buf = read_packed(&memory, store, packed, 1 << 20).map_err(|reason| self.bad_output(reason))?;
        result_payload(&buf).map_err(|reason| MapperError::Load { path: self.name.to_string(), reason })?;
        Ok((instance, memory))
    }

    fn write_input(&self, store: &mut Store<HostState>, instance: &wasmtime::Instance, memory: &Memory, data: &[u8]) -> Result<i32, MapperError> {
        let ptr = instance
            .get_typed_func::<i32, i32>(&mut *store, "trawl_alloc")
            .and_then(|f| f.call(&mut *store, data.len() as i32))
            .map_err(|e| self.trap_error(store, e))?;
        memory
            .write(&mut *store, ptr as u32 as usize, data)
            .map_err(|_| self.bad_output(format!("trawl_alloc returned {ptr:#x}, outside memory, for {} bytes", data.len())))?;
        Ok(ptr)
    }

    fn bad_output(&self, reason: String) -> MapperError {
        MapperError::BadOutput { mapper: self.name.to_string(), reason }
    }

    fn trap_error(&self, store: &mut Store<HostState>, e: wasmtime::Error) -> MapperError {
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => {
                return MapperError::Deadline { mapper: self.name.to_string(), deadline_ms: self.limits.deadline.as_millis() as u64 };
            }
            Some(Trap::OutOfFuel) => {
                return MapperError::Trap {
                    mapper: self.name.to_string(),
                    message: format!("used all its fuel ({} units, pipeline.mapper_fuel) on a batch", self.limits.fuel.unwrap_or(0)),
                };
            }
            _ => {}
        }
        let data = store.data();
        let mut message = match &data.panic {
            Some(p) => format!("panicked: {p}"),
            None => format!("{e:#}"),
        };
        if !data.captured.is_empty() {
            message.push_str(&format!(" (guest output: {})", String::from_utf8_lossy(&data.captured).trim()));
        }
        MapperError::Trap { mapper: self.name.to_string(), message }
    }
}

impl BatchMapper for WasmMapper {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn warnings(&self) -> u64 {
        self.log.warnings.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn map(&self, batch: &RawBatch) -> Result<MappedBatch, MapperError> {
        let input = ipc_encode(&batch.batch.schema(), std::slice::from_ref(&batch.batch)).map_err(|e| self.bad_output(format!("cannot encode input: {e}")))?;
        let mut store = self.store(batch.seq);
        store.data_mut().input = Some(batch.clone());
        let (instance, memory) = self.instantiate(&mut store)?;
        let ptr = self.write_input(&mut store, &instance, &memory, &input)?;
        let packed = instance
            .get_typed_func::<(i32, i32), i64>(&mut store, "trawl_map_batch")
            .and_then(|f| f.call(&mut store, (ptr, input.len() as i32)))
            .map_err(|e| self.trap_error(&mut store, e))?;
        tracing::debug!(mapper = %self.name, rows = batch.len(), memory_mib = memory.data_size(&store) >> 20, "guest memory after the batch");
        // Decoded straight from guest memory: decoding copies what it keeps anyway.
        let buf = packed_slice(&memory, &store, packed, self.limits.max_output_bytes).map_err(|r| self.bad_output(r))?;
        let payload = result_payload(buf).map_err(|msg| MapperError::Trap { mapper: self.name.to_string(), message: format!("map_batch failed: {msg}") })?;
        output::decode(&self.manifest, batch.len(), payload).map_err(|r| self.bad_output(r))
    }
}

fn state(name: &str, batch: u64, limits: &MapperLimits) -> HostState {
    HostState {
        limits: StoreLimitsBuilder::new().memory_size(limits.memory_bytes).instances(1).tables(4).memories(1).trap_on_grow_failure(true).build(),
        mapper: Arc::from(name),
        batch,
        input: None,
        log_lines: 0,
        log_bytes: 0,
        said_batch_cap: false,
        log: LogBudget::new(),
        captured: Vec::new(),
        panic: None,
        rng: 0x9E37_79B9_7F4A_7C15,
    }
}

fn new_store(limits: &MapperLimits, name: &str, batch: u64) -> Store<HostState> {
    let mut store = Store::new(engine(limits), state(name, batch, limits));
    store.limiter(|s| &mut s.limits);
    if let Some(fuel) = limits.fuel {
        store.set_fuel(fuel).expect("the fuel engine meters fuel");
    }
    store.set_epoch_deadline((limits.deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1);
    store.epoch_deadline_trap();
    store
}

/// Reactor modules built by Rust export `_initialize`, which must run before anything else.
fn call_initialize(store: &mut Store<HostState>, instance: &wasmtime::Instance) -> wasmtime::Result<()> {
    if let Ok(f) = instance.get_typed_func::<(), ()>(&mut *store, "_initialize") {
        f.call(&mut *store, ())?;
    }
    Ok(())
}

/// The buffer a guest call returned as `(ptr << 32) | len`, in guest memory.
fn packed_slice<'m>(memory: &Memory, store: &'m Store<HostState>, packed: i64, max: usize) -> Result<&'m [u8], String> {
    let ptr = ((packed as u64) >> 32) as usize;
    let len = (packed as u64 & 0xffff_ffff) as usize;
    if len > max {
        return Err(format!("returned {len} bytes, over the limit of {max}"));
    }
    memory.data(store).get(ptr..ptr + len).ok_or_else(|| format!("returned buffer {ptr:#x}+{len} lies outside its memory"))
}

fn read_packed(memory: &Memory, store: &Store<HostState>, packed: i64, max: usize) -> Result<Vec<u8>, String> {
    packed_slice(memory, store, packed, max).map(<[u8]>::to_vec)
}

fn result_payload(buf: &[u8]) -> Result<&[u8], String> {
    match buf.split_first() {
        Some((&abi::RESULT_OK, rest)) => Ok(rest),
        Some((&abi::RESULT_ERR, msg)) => Err(String::from_utf8_lossy(msg).into_owned()),
        Some((b, _)) => Err(format!("unknown result byte {b}")),
        None => Err("empty result".into()),
    }
}

fn compile_cached(engine: &Engine, bytes: &[u8], cache_dir: Option<&Path>, default_settings: bool) -> wasmtime::Result<Module> {
    let digest = hex::encode(Sha256::digest(bytes));
    // A standard mapper's code was compiled at build time with the default settings.
    if let Some(code) = default_settings.then(|| super::builtin::precompiled(&digest)).flatten() {
        // SAFETY: the code is what wasmtime's `precompile_module` produced for this module in
        // the build script, embedded in this binary; `deserialize` checks its header against
        // this engine (version, settings, CPU features) and refuses a mismatch.
        match unsafe { Module::deserialize(engine, &code) } {
            Ok(m) => return Ok(m),
            Err(e) => tracing::debug!(error = %e, "the precompiled code of the module does not fit this engine; compiling it"),
        }
    }
    let Some(dir) = cache_dir else { return Module::from_binary(engine, bytes) };
    let mut h = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let path: PathBuf = dir.join(format!("{digest}-{:016x}.cwasm", h.finish()));
    if path.exists() {
        // SAFETY: the file is one this function wrote (named by the module's sha256 and the
        // engine's compatibility hash); wasmtime checks the header and refuses a mismatch.
        match unsafe { Module::deserialize_file(engine, &path) } {
            Ok(m) => return Ok(m),
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "ignoring unusable compile cache entry"),
        }
    }
    let module = Module::from_binary(engine, bytes)?;
    if let Ok(serialized) = module.serialize() {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&tmp, serialized)).and_then(|_| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "cannot write compile cache");
        }
    }
    Ok(module)
}

/// A guest log line to the host's tracing, with the mapper, batch and (when known) row.
fn guest_log(c: &mut Caller<'_, HostState>, level: i32, row: Option<u32>, ptr: i32, len: i32) {
    let mut msg = guest_str(c, ptr, len);
    if msg.len() > MAX_LOG_LINE_BYTES {
        let mut cut = MAX_LOG_LINE_BYTES;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.truncate(cut);
        msg.push_str("…(cut)");
    }
    let s = c.data_mut();
    if level <= 2 {
        s.log.warnings.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    s.log_lines += 1;
    s.log_bytes += msg.len();
    let over_batch = s.log_lines > MAX_LOG_LINES_PER_BATCH || s.log_bytes > MAX_LOG_BYTES_PER_BATCH;
    if over_batch || !s.log.take(msg.len()) {
        s.log.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Say so once per batch while the run's budget lasts, then once for the run.
        if over_batch {
            if !std::mem::replace(&mut s.said_batch_cap, true) && s.log.take(200) {
                tracing::warn!(target: "trawl::mapper", mapper = %s.mapper, batch = s.batch, "the mapper logs more than {MAX_LOG_LINES_PER_BATCH} lines or {} KiB on a batch; the rest of its lines on this batch are dropped", MAX_LOG_BYTES_PER_BATCH >> 10);
            }
        } else if !s.log.said_run_cap.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(target: "trawl::mapper", mapper = %s.mapper, "the mapper logged {} MiB in this run; its further lines are dropped", MAX_LOG_BYTES_PER_RUN >> 20);
        }
        return;
    }
    let (mapper, batch) = (s.mapper.clone(), s.batch);
    // Where the row came from: the object and the record's index in it.
    let at = row.and_then(|r| {
        let input = s.input.as_ref().filter(|b| (r as usize) < b.len())?;
        let (object, index, _) = input.provenance(r as usize);
        Some((object.to_string(), index))
    });
    let (object, record) = (at.as_ref().map(|a| tracing::field::display(&a.0)), at.as_ref().map(|a| a.1));
    let row = row.map(tracing::field::display);
    match level {
        1 => tracing::error!(target: "trawl::mapper", %mapper, batch, row, object, record, "{msg}"),
        2 => tracing::warn!(target: "trawl::mapper", %mapper, batch, row, object, record, "{msg}"),
        3 => tracing::info!(target: "trawl::mapper", %mapper, batch, row, object, record, "{msg}"),
        _ => tracing::debug!(target: "trawl::mapper", %mapper, batch, row, object, record, "{msg}"),
    }
}

/// The imports a mapper may use; everything else is refused at load.
fn linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut l = Linker::new(engine);
    l.func_wrap("trawl", "log", |mut c: Caller<'_, HostState>, level: i32, ptr: i32, len: i32| guest_log(&mut c, level, None, ptr, len))?;
    // ABI 1.1: the same, with the input row being mapped.
    l.func_wrap("trawl", "log_row", |mut c: Caller<'_, HostState>, level: i32, row: i32, ptr: i32, len: i32| {
        guest_log(&mut c, level, u32::try_from(row).ok(), ptr, len)
    })?;
    l.func_wrap("trawl", "panic", |mut c: Caller<'_, HostState>, ptr: i32, len: i32| {
        let msg = guest_str(&mut c, ptr, len);
        c.data_mut().panic = Some(msg);
    })?;
    const W: &str = "wasi_snapshot_preview1";
    const EBADF: i32 = 8;
    const ENOSYS: i32 = 52;
    l.func_wrap(W, "fd_write", |mut c: Caller<'_, HostState>, fd: i32, iovs: i32, n: i32, nwritten: i32| -> i32 {
        if fd != 1 && fd != 2 {
            return EBADF;
        }
        let Some(mem) = c.get_export("memory").and_then(|e| e.into_memory()) else { return EBADF };
        let mut out = Vec::new();
        {
            let data = mem.data(&c);
            for k in 0..n.max(0) as usize {
                let at = iovs as u32 as usize + k * 8;
                let (Some(p), Some(l)) = (data.get(at..at + 4), data.get(at + 4..at + 8)) else { return EBADF };
                let (p, l) = (u32::from_le_bytes(p.try_into().unwrap()) as usize, u32::from_le_bytes(l.try_into().unwrap()) as usize);
                let Some(bytes) = data.get(p..p + l) else { return EBADF };
                out.extend_from_slice(bytes);
            }
        }
        let total = out.len() as u32;
        let s = c.data_mut();
        let room = MAX_CAPTURED_BYTES.saturating_sub(s.captured.len());
        s.captured.extend_from_slice(&out[..out.len().min(room)]);
        if mem.write(&mut c, nwritten as u32 as usize, &total.to_le_bytes()).is_err() {
            return EBADF;
        }
        0
    })?;
    l.func_wrap(W, "random_get", |mut c: Caller<'_, HostState>, buf: i32, len: i32| -> i32 {
        // Deterministic: mappers must not depend on randomness (std only seeds HashMap with it).
        let Some(mem) = c.get_export("memory").and_then(|e| e.into_memory()) else { return EBADF };
        let mut bytes = vec![0u8; len.max(0) as usize];
        let s = c.data_mut();
        for b in bytes.iter_mut() {
            s.rng ^= s.rng << 13;
            s.rng ^= s.rng >> 7;
            s.rng ^= s.rng << 17;
            *b = s.rng as u8;
        }
        if mem.write(&mut c, buf as u32 as usize, &bytes).is_err() { EBADF } else { 0 }
    })?;
    for name in ["environ_sizes_get", "args_sizes_get"] {
        l.func_wrap(W, name, |mut c: Caller<'_, HostState>, count: i32, size: i32| -> i32 {
            let Some(mem) = c.get_export("memory").and_then(|e| e.into_memory()) else { return EBADF };
            let ok = mem.write(&mut c, count as u32 as usize, &0u32.to_le_bytes()).is_ok() && mem.write(&mut c, size as u32 as usize, &0u32.to_le_bytes()).is_ok();
            if ok { 0 } else { EBADF }
        })?;
    }
    for name in ["environ_get", "args_get"] {
        l.func_wrap(W, name, |_: i32, _: i32| -> i32 { 0 })?;
    }
    l.func_wrap(W, "proc_exit", |code: i32| -> wasmtime::Result<()> { Err(wasmtime::format_err!("mapper called proc_exit({code})")) })?;
    l.func_wrap(W, "sched_yield", || -> i32 { 0 })?;
    l.func_wrap(W, "clock_time_get", |_: i32, _: i64, _: i32| -> i32 { ENOSYS })?;
    l.func_wrap(W, "clock_res_get", |_: i32, _: i32| -> i32 { ENOSYS })?;
    l.func_wrap(W, "fd_close", |_: i32| -> i32 { EBADF })?;
    l.func_wrap(W, "fd_fdstat_get", |_: i32, _: i32| -> i32 { EBADF })?;
    l.func_wrap(W, "fd_prestat_get", |_: i32, _: i32| -> i32 { EBADF })?;
    l.func_wrap(W, "fd_prestat_dir_name", |_: i32, _: i32, _: i32| -> i32 { EBADF })?;
    l.func_wrap(W, "fd_seek", |_: i32, _: i64, _: i32, _: i32| -> i32 { EBADF })?;
    Ok(l)
}

fn guest_str(c: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> String {
    let Some(mem) = c.get_export("memory").and_then(|e| e.into_memory()) else { return String::new() };
    let data = mem.data(&*c);
    let (p, l) = (ptr as u32 as usize, (len as u32 as usize).min(64 * 1024));
    data.get(p..p + l).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapper::{BUILTIN_MAPPERS, builtin, builtin_wasm};

    fn precompiled_code(bytes: &[u8]) -> Option<Vec<u8>> {
        builtin::precompiled(&hex::encode(Sha256::digest(bytes)))
    }

    /// The build script precompiled every standard mapper for this machine, and the code fits
    /// the engine runs use by default: a first run on a fresh state dir compiles nothing.
    #[test]
    fn every_standard_mapper_has_precompiled_code_that_fits_the_default_engine() {
        let engine = engine(&MapperLimits::default());
        for (name, bytes) in BUILTIN_MAPPERS {
            let code = precompiled_code(bytes).unwrap_or_else(|| panic!("{name}: no precompiled code (was the binary built with TRAWL_PRECOMPILE=0?)"));
            // SAFETY: code the build script produced with wasmtime for this module.
            let module = unsafe { Module::deserialize(engine, &code) }.unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert!(module.exports().any(|e| e.name() == "trawl_map_batch"), "{name}");
        }
    }

    /// Code compiled with other settings is refused by the compatibility check, and the module
    /// is compiled instead.
    #[test]
    fn precompiled_code_that_does_not_fit_the_engine_falls_back_to_compiling() {
        let fuel = MapperLimits { fuel: Some(1 << 40), ..Default::default() };
        let bytes = builtin_wasm("passthrough").expect("embedded");
        let code = precompiled_code(bytes).expect("precompiled");
        // SAFETY: as above; the check refuses it before anything runs.
        let refused = unsafe { Module::deserialize(engine(&fuel), &code) }.err().expect("the fuel engine refuses code compiled without fuel");
        assert!(format!("{refused:#}").contains("fuel"), "{refused:#}");
        let module = compile_cached(engine(&fuel), bytes, None, true).expect("compiles instead");
        assert!(module.exports().any(|e| e.name() == "trawl_map_batch"));
    }
}
