//! The mapper host: load-time checks, the sandbox's deadline and trap handling, and failure
//! isolation by bisection.

use std::time::Duration;

use trawl::mapper::{BatchMapper, MapperError, MapperLimits, NativeMapper, RowStatus, WasmMapper, map_isolating};
use trawl_guest_sdk::{ClassDecl, Emitter, Manifest, MapError, Mapper, RawRecord, ocsf::RawEvent, runtime};

use crate::common::{log_files, raw_batch_of, sample_trail};

fn load(bytes: &[u8], limits: MapperLimits) -> Result<WasmMapper, MapperError> {
    WasmMapper::load(bytes, "test.wasm", None, &serde_json::Value::Null, limits)
}

fn load_err(bytes: &[u8]) -> String {
    match load(bytes, MapperLimits::default()) {
        Ok(_) => panic!("loaded"),
        Err(e) => e.to_string(),
    }
}

/// A hand-written ABI v1 module whose `trawl_map_batch` body is `map_body`; the manifest is
/// a real one (one raw class) placed in a data segment.
fn wat_mapper(abi_version: u32, map_body: &str, extra_imports: &str) -> Vec<u8> {
    wat_mapper_with(abi_version, map_body, extra_imports, |_| {})
}

/// [`wat_mapper`] with the manifest changed by `edit`.
fn wat_mapper_with(abi_version: u32, map_body: &str, extra_imports: &str, edit: impl FnOnce(&mut trawl::mapper::Manifest)) -> Vec<u8> {
    let mut manifest = runtime::manifest::<Raw>();
    manifest.abi_major = abi_version >> 16;
    edit(&mut manifest);
    let json = serde_json::to_vec(&manifest).unwrap();
    let mut data = vec![0u8]; // RESULT_OK, then the manifest
    data.extend_from_slice(&json);
    let escaped: String = data.iter().map(|b| format!("\\{b:02x}")).collect();
    let len = data.len();
    wat::parse_str(format!(
        r#"(module
            {extra_imports}
            (memory (export "memory") 4)
            (data (i32.const 1024) "{escaped}")
            (func (export "trawl_abi_version") (result i32) i32.const {abi_version})
            (func (export "trawl_alloc") (param i32) (result i32) i32.const 65536)
            (func (export "trawl_dealloc") (param i32 i32))
            (func (export "trawl_manifest") (result i64) i64.const {packed_manifest})
            (func (export "trawl_init") (param i32 i32) (result i64) i64.const {packed_ok})
            (func (export "trawl_map_batch") (param i32 i32) (result i64) {map_body})
        )"#,
        packed_manifest = (1024u64 << 32) | len as u64,
        packed_ok = (1024u64 << 32) | 1,
    ))
    .unwrap()
}

#[test]
fn load_errors_name_the_file_and_the_problem() {
    assert!(load_err(b"hello, not wasm").contains("test.wasm: not a WebAssembly module"));
    let no_exports = wat::parse_str("(module (memory (export \"memory\") 1))").unwrap();
    let e = load_err(&no_exports);
    assert!(e.contains("missing required exports") && e.contains("trawl_map_batch"), "{e}");
    let e = load_err(&wat_mapper(2 << 16, "unreachable", ""));
    assert!(e.contains("built for mapper ABI 2.0") && e.contains("supports ABI 1.x"), "{e}");
    let e = load_err(&wat_mapper(1 << 16, "unreachable", r#"(import "env" "open_socket" (func (param i32) (result i32)))"#));
    assert!(e.contains("imports env::open_socket") && e.contains("does not grant"), "{e}");
    let e = load_err(&wat_mapper(1 << 16, "unreachable", r#"(import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"#));
    assert!(e.contains("wasi_snapshot_preview1::path_open"), "filesystem access is refused: {e}");
}

#[test]
fn an_endless_loop_hits_the_deadline_and_a_trap_is_reported() {
    let batch = raw_batch_of(&log_files(&sample_trail())[0], "dev");
    let limits = MapperLimits { deadline: Duration::from_millis(200), ..MapperLimits::default() };
    let looping = load(&wat_mapper(1 << 16, "(loop br 0) i64.const 0", ""), limits.clone()).unwrap();
    let t = std::time::Instant::now();
    match looping.map(&batch) {
        Err(MapperError::Deadline { deadline_ms: 200, .. }) => {}
        other => panic!("expected a deadline error, got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(5));

    let trapping = load(&wat_mapper(1 << 16, "unreachable", ""), limits).unwrap();
    match trapping.map(&batch) {
        Err(MapperError::Trap { message, .. }) => assert!(message.contains("unreachable"), "{message}"),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn with_inlining_an_endless_loop_of_calls_still_hits_the_deadline() {
    // pipeline.mapper_inline: the inlined callee loses its entry epoch check; the loop's own
    // check must still end the call.
    let batch = raw_batch_of(&log_files(&sample_trail())[0], "dev");
    let limits = MapperLimits { deadline: Duration::from_millis(200), inline: true, ..MapperLimits::default() };
    let module = wat_mapper(1 << 16, "(loop (br_if 0 (call $always))) i64.const 0", "(func $always (result i32) i32.const 1)");
    let looping = load(&module, limits).unwrap();
    match looping.map(&batch) {
        Err(MapperError::Deadline { deadline_ms: 200, .. }) => {}
        other => panic!("expected a deadline error, got {other:?}"),
    }
}

#[test]
fn fuel_mode_stops_an_endless_loop_deterministically_and_leaves_normal_mappers_alone() {
    let batch = raw_batch_of(&log_files(&sample_trail())[0], "dev");
    let limits = MapperLimits { fuel: Some(1_000_000), ..MapperLimits::default() };
    let looping = load(&wat_mapper(1 << 16, "(loop br 0) i64.const 0", ""), limits).unwrap();
    for _ in 0..2 {
        match looping.map(&batch) {
            Err(MapperError::Trap { message, .. }) => assert!(message.contains("used all its fuel (1000000 units"), "{message}"),
            other => panic!("expected running out of fuel, got {other:?}"),
        }
    }
    // The real cloudtrail mapper fits in a generous budget and maps exactly as without fuel.
    let fueled = trawl::mapper::WasmMapper::load(
        trawl::mapper::builtin_wasm("cloudtrail").unwrap(),
        "builtin:cloudtrail",
        Some(&crate::common::module_cache()),
        &serde_json::Value::Null,
        MapperLimits { fuel: Some(10_000_000_000), ..MapperLimits::default() },
    )
    .unwrap();
    let plain = trawl::mapper::WasmMapper::load(trawl::mapper::builtin_wasm("cloudtrail").unwrap(), "builtin:cloudtrail", Some(&crate::common::module_cache()), &serde_json::Value::Null, MapperLimits::default()).unwrap();
    let (a, b) = (fueled.map(&batch).unwrap(), plain.map(&batch).unwrap());
    assert_eq!(a.to_json(&batch), b.to_json(&batch));
    // A budget too small for the batch fails it, deterministically.
    let starved = trawl::mapper::WasmMapper::load(
        trawl::mapper::builtin_wasm("cloudtrail").unwrap(),
        "builtin:cloudtrail",
        Some(&crate::common::module_cache()),
        &serde_json::Value::Null,
        MapperLimits { fuel: Some(10_000), ..MapperLimits::default() },
    )
    .unwrap();
    assert!(matches!(starved.map(&batch), Err(MapperError::Trap { message, .. }) if message.contains("fuel")));
}

#[test]
fn garbage_output_is_rejected() {
    let batch = raw_batch_of(&log_files(&sample_trail())[0], "dev");
    // Points at the manifest buffer: a valid result byte followed by JSON, not frames.
    let m = load(&wat_mapper(1 << 16, &format!("i64.const {}", (1024u64 << 32) | 40), ""), MapperLimits::default()).unwrap();
    match m.map(&batch) {
        Err(MapperError::BadOutput { reason, .. }) => assert!(!reason.is_empty()),
        other => panic!("expected bad output, got {other:?}"),
    }
    // A buffer outside memory.
    let m = load(&wat_mapper(1 << 16, &format!("i64.const {}", (0xfff0_0000u64 << 32) | 64), ""), MapperLimits::default()).unwrap();
    assert!(matches!(m.map(&batch), Err(MapperError::BadOutput { .. })));
}

/// A module built for ABI 1.2 (before the enrichment column of 1.3) still loads, is handed
/// today's envelope, and its output is taken as it was. The module returns the output the
/// SDK's runtime produced for the batch (as a 1.2 guest reading columns by name would), so the
/// host's side of the contract is what is tested: version check, manifest, output frames.
#[test]
fn a_module_built_for_abi_1_2_loads_and_maps() {
    let batch = raw_batch_of(&log_files(&sample_trail())[1], "dev");
    let input = runtime::ipc_encode(&batch.batch.schema(), std::slice::from_ref(&batch.batch)).unwrap();
    let mut out = vec![trawl_guest_sdk::abi::RESULT_OK];
    runtime::map_ipc(&mut Raw, input, &mut out).unwrap();
    const AT: usize = 3 << 16;
    assert!(out.len() < 1 << 16, "the output fits the module's last page: {} bytes", out.len());
    let escaped: String = out.iter().map(|b| format!("\\{b:02x}")).collect();
    let segment = format!(r#"(data (i32.const {AT}) "{escaped}")"#);
    let v1_2 = (1 << 16) | 2;
    let module = wat_mapper_with(v1_2, &format!("i64.const {}", ((AT as u64) << 32) | out.len() as u64), &segment, |m| m.abi_minor = 2);
    let old = load(&module, MapperLimits::default()).unwrap();
    assert_eq!((old.manifest().abi_major, old.manifest().abi_minor), (1, 2));
    assert_eq!(old.map(&batch).unwrap().to_json(&batch), NativeMapper::<Raw>::new(serde_json::Value::Null).map(&batch).unwrap().to_json(&batch));
}

/// A mapper that panics on records containing POISON and dead-letters records containing BAD.
struct Raw;

impl Mapper for Raw {
    fn new(_: &serde_json::Value) -> Result<Self, MapError> {
        Ok(Raw)
    }
    fn manifest() -> Manifest {
        Manifest::new("raw-test", "0", vec![ClassDecl::of::<RawEvent>()])
    }
    fn map(&mut self, rec: &RawRecord<'_>, out: &mut Emitter) -> Result<(), MapError> {
        let text = rec.text()?;
        if text.contains("POISON") {
            panic!("poisoned record {}", rec.record_index);
        }
        if text.contains("BAD") {
            return Err(MapError::new("bad record"));
        }
        if text.contains("SKIP") {
            return Ok(());
        }
        out.emit(RawEvent::from_record(rec, 0)?);
        Ok(())
    }
}

#[test]
fn a_poison_record_is_isolated_by_bisection() {
    let info = trawl::batch::ObjectInfo {
        connector: "dev".into(),
        source_kind: "test",
        aws_account_id: None,
        region: None,
        object: "mem".into(),
    };
    let mut b = trawl::batch::RawBatchBuilder::new();
    for i in 0..37u64 {
        let body = match i {
            5 | 30 => "POISON",
            11 => "BAD",
            12 => "SKIP",
            _ => "fine",
        };
        b.push(&info, format!("{{\"n\":{i},\"x\":\"{body}\"}}").as_bytes(), i, i * 10, 0);
    }
    let batch = b.finish(1);
    let mapper = NativeMapper::<Raw>::new(serde_json::Value::Null);
    assert!(matches!(mapper.map(&batch), Err(MapperError::Trap { .. })), "the whole batch fails");
    let out = map_isolating(&mapper, &batch, &trawl::mapper::DeadlineBudget::default());
    let status = out.statuses(batch.len());
    for (i, s) in status.iter().enumerate() {
        match i {
            5 | 30 => assert!(matches!(s, RowStatus::Error(m) if m.contains("poisoned record")), "row {i}: {s:?}"),
            11 => assert_eq!(s, &RowStatus::Error("bad record".into())),
            12 => assert_eq!(s, &RowStatus::Skip),
            _ => assert_eq!(s, &RowStatus::Ok, "row {i}"),
        }
    }
    let events: usize = out.pieces.iter().flat_map(|(_, p)| &p.classes).map(|c| c.events.num_rows()).sum();
    assert_eq!(events, 37 - 4);
    // Event rows point back at the right input rows.
    for (_, p) in &out.pieces {
        for c in &p.classes {
            let idx = arrow_array::cast::AsArray::as_primitive::<arrow_array::types::UInt64Type>(c.events.column_by_name("record_index").unwrap());
            for (k, r) in c.rows.values().iter().enumerate() {
                assert_eq!(idx.value(k), *r as u64);
            }
        }
    }
    assert!(out.retries > 0);
}

#[test]
fn allocation_beyond_the_memory_cap_traps() {
    let batch = raw_batch_of(&log_files(&sample_trail())[0], "dev");
    let limits = MapperLimits { memory_bytes: 1 << 20, ..MapperLimits::default() };
    // Grow by 64 pages (4 MiB) past a 1 MiB cap.
    let greedy = load(&wat_mapper(1 << 16, "(drop (memory.grow (i32.const 64))) i64.const 0", ""), limits).unwrap();
    match greedy.map(&batch) {
        Err(MapperError::Trap { message, .. }) => assert!(message.contains("memory"), "{message}"),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn output_over_the_cap_is_refused_before_it_is_copied() {
    let batch = raw_batch_of(&log_files(&sample_trail())[0], "dev");
    let limits = MapperLimits { max_output_bytes: 1000, ..MapperLimits::default() };
    let giant = load(&wat_mapper(1 << 16, &format!("i64.const {}", (1024u64 << 32) | 200_000), ""), limits).unwrap();
    match giant.map(&batch) {
        Err(MapperError::BadOutput { reason, .. }) => assert!(reason.contains("over the limit of 1000"), "{reason}"),
        other => panic!("expected bad output, got {other:?}"),
    }
}

/// Declares raw events in its manifest but emits another shape under the same class id.
struct WrongSchema;

#[derive(serde::Serialize, serde::Deserialize)]
struct NotRaw {
    time: i64,
    surprise: String,
}

impl trawl_guest_sdk::OcsfEvent for NotRaw {
    const CLASS_UID: i32 = 0;
    const CLASS_NAME: &'static str = "raw";
}

impl Mapper for WrongSchema {
    fn new(_: &serde_json::Value) -> Result<Self, MapError> {
        Ok(WrongSchema)
    }
    fn manifest() -> Manifest {
        Raw::manifest()
    }
    fn map(&mut self, _: &RawRecord<'_>, out: &mut Emitter) -> Result<(), MapError> {
        out.emit(NotRaw { time: 0, surprise: "x".into() });
        Ok(())
    }
}

#[test]
fn events_in_an_undeclared_schema_are_refused() {
    let batch = raw_batch_of(&log_files(&sample_trail())[0], "dev");
    match NativeMapper::<WrongSchema>::new(serde_json::Value::Null).map(&batch) {
        Err(MapperError::BadOutput { reason, .. }) => assert!(reason.contains("do not have the schema declared"), "{reason}"),
        other => panic!("expected bad output, got {other:?}"),
    }
}

/// A mapper's manifest names the source kinds it reads; a source of another kind is refused
/// before anything is read, with a message naming the mapper, the source and what it accepts.
#[test]
fn a_mapper_is_refused_for_a_source_kind_its_manifest_does_not_list() {
    let sc = crate::common::Scratch::new();
    crate::common::copy_tree(&crate::common::sample_trail(), &sc.path("trail"));
    let module = wat_mapper_with(1 << 16, "unreachable", "", |m| m.source_kinds = vec!["vpc_flow".into()]);
    std::fs::write(sc.path("flows.wasm"), module).unwrap();
    sc.config(
        r#"
[state]
dir = "state"
[[connectors]]
name = "dev"
region = "us-east-1"
[[connectors.sources]]
type = "cloudtrail_files"
path = "trail"
mapper = "flows.wasm"
[[outputs]]
type = "ndjson"
path = "out"
"#,
    );
    let (out, summary) = sc.run();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let err = summary.sources[0].error.as_deref().unwrap();
    assert!(err.contains("mapper flows.wasm") && err.contains("sources vpc_flow, not of source cloudtrail_files"), "{err}");
    assert_eq!(summary.counts.records_read, 0, "nothing is read for a source without a mapper");
}

/// Runs `trawl run` over `records` sample-like records with the module at `flows.wasm`.
fn run_hostile(module: Vec<u8>, records: usize, pipeline: &str) -> (std::process::Output, trawl::pipeline::RunSummary, std::time::Duration) {
    let sc = crate::common::Scratch::new();
    let sample = crate::common::input_records(&crate::common::sample_trail());
    let recs: Vec<serde_json::Value> = (0..records).map(|i| {
        let mut r = sample[i % sample.len()].clone();
        r["eventID"] = serde_json::json!(format!("hostile-{i}"));
        r
    }).collect();
    let dir = sc.path("trail/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/15");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("111122223333_CloudTrail_us-east-1_20240115T0000Z_x.json"), serde_json::json!({ "Records": recs }).to_string()).unwrap();
    std::fs::write(sc.path("hostile.wasm"), module).unwrap();
    sc.config(&format!(
        r#"
[state]
dir = "state"
[pipeline]
{pipeline}
[[connectors]]
name = "dev"
region = "us-east-1"
[[connectors.sources]]
type = "cloudtrail_files"
path = "trail"
mapper = "hostile.wasm"
[[outputs]]
type = "ndjson"
path = "out"
"#
    ));
    let t0 = std::time::Instant::now();
    let out = sc.trawl(&["run", "--config", "config.toml", "--summary-json", "summary.json", "--quiet"]);
    let took = t0.elapsed();
    let summary = serde_json::from_str(&std::fs::read_to_string(sc.path("summary.json")).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))).unwrap();
    (out, summary, took)
}

/// A mapper that loops forever on every batch: the deadline budget bounds the whole run
/// (bisection alone would make thousands of deadline-long calls), every record is
/// dead-lettered, and the source stops with the reason.
#[test]
fn an_endless_mapper_costs_a_bounded_time_and_fails_its_source() {
    let module = wat_mapper(1 << 16, "(loop br 0) i64.const 0", "");
    let (out, summary, took) = run_hostile(module, 40, "workers = 1\nbatch_rows = 4\nmapper_deadline_ms = 200");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    // At most DEADLINE_HITS_PER_RUN calls reach the deadline; bisection without a budget
    // would make 7 per batch of 4, 70 in all.
    let bound = trawl::mapper::DEADLINE_HITS_PER_RUN as u64 * 200;
    assert!(took < std::time::Duration::from_millis(bound + 20_000), "took {took:?}");
    let c = &summary.counts;
    assert!(c.reconciles());
    assert_eq!(c.records_written, 0);
    assert_eq!(c.records_dead_lettered, c.records_read, "every record read is dead-lettered with the reason");
    let err = summary.sources[0].error.as_deref().unwrap_or("");
    assert!(err.contains("exceeded its deadline 8 times in this run; giving up"), "{err}");
}

/// A mapper that logs 60 KB lines in a loop and traps, on every batch and every bisected
/// half of it: the log caps bound what reaches stderr and count what was dropped.
#[test]
fn a_log_flood_is_capped_per_batch_and_per_run() {
    let body = r#"(local $i i32)
        (loop $l
            (call $log (i32.const 2) (i32.const 0) (i32.const 60000))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))
        unreachable"#;
    let module = wat_mapper(1 << 16, body, r#"(import "trawl" "log" (func $log (param i32 i32 i32)))"#);
    let (out, summary, _) = run_hostile(module, 600, "workers = 2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(summary.counts.reconciles());
    assert_eq!(summary.counts.records_dead_lettered, 600);
    // Without caps: ~1,200 instances × 1,000 lines × 60 KB. With them: 8 MiB for the run.
    assert!(out.stderr.len() < 10 << 20, "stderr is {} bytes", out.stderr.len());
    assert!(stderr.contains("log lines of the mapper were dropped over the caps"), "{}", &stderr[stderr.len().saturating_sub(2000)..]);
}
