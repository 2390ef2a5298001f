//! Golden tests: each standard mapper, run as the embedded wasm module through the real host,
//! on every sample file; the output is compared with `tests/golden/<mapper>/<file>.json`.
//! The goldens were checked by hand against the input records. To regenerate after an
//! intended change: `TRAWL_UPDATE_GOLDEN=1 cargo test -p trawl --test integration golden`,
//! then read the diff.

use std::path::Path;

use trawl::mapper::{BatchMapper, MapperLimits, MapperRef, WasmMapper};

use crate::common::{Refused, files_where, log_files, raw_batch_of, raw_log_batch, redshift_samples, repo, sample_inventory, sample_trail, vpc_flow_samples};

pub const CONNECTOR: &str = "AWS IaaS for US development";

pub fn load_builtin(name: &str) -> WasmMapper {
    let (bytes, display) = MapperRef::parse(&format!("builtin:{name}")).load_bytes().unwrap();
    WasmMapper::load(&bytes, &display, Some(&crate::common::module_cache()), &serde_json::Value::Null, MapperLimits::default()).unwrap()
}

/// The CloudTrail variations sample (`examples/data/cloudtrail-variations`): every container
/// and the real-world variations of the reference notes' §7.
pub fn variations() -> std::path::PathBuf {
    repo().join("examples/data/cloudtrail-variations")
}

fn check_golden(mapper_name: &str, file: &Path) {
    check_golden_in(mapper_name, mapper_name, file)
}

/// The VPC Flow Logs sample files, as the `vpc_flow` source finds them.
pub fn vpc_flow_files() -> Vec<std::path::PathBuf> {
    files_where(&vpc_flow_samples(), |p| trawl::sources::vpc_flow::is_flow_file(&p.display().to_string()))
}

/// The Redshift audit log sample files, as the `redshift_audit` source finds them.
pub fn redshift_files() -> Vec<std::path::PathBuf> {
    files_where(&redshift_samples(), |p| trawl::sources::redshift_audit::parse_name(&p.display().to_string()).is_some())
}

/// The sample's raw batch as its source reads it (flow logs enriched from
/// [`sample_inventory`]).
pub fn sample_log_batch(file: &Path) -> (trawl::batch::RawBatch, Vec<Refused>) {
    raw_log_batch(file, CONNECTOR, Some(sample_inventory()))
}

/// Runs `mapper` over every sample file through its golden, and checks that only the
/// deliberately bad records (`bad`: file name part, record index, words of the reason) fail,
/// each dead-lettered — by the reader or the mapper — with a reason naming the field.
fn check_log_samples(mapper: &str, dir: &str, files: &[std::path::PathBuf], bad: &[(&str, u64, &str)]) -> std::collections::BTreeSet<i32> {
    let mut classes = std::collections::BTreeSet::new();
    let mut failed = Vec::new();
    for f in files {
        let (batch, refused) = sample_log_batch(f);
        let mapped = check_golden_batch(mapper, dir, f, &batch);
        let name = f.file_name().unwrap().to_str().unwrap().to_string();
        failed.extend(refused.into_iter().map(|(index, why)| (name.clone(), index, why)));
        for (r, st) in mapped.status.iter().enumerate() {
            if let trawl::mapper::RowStatus::Error(why) = st {
                failed.push((name.clone(), batch.provenance(r).1, why.clone()));
            }
        }
        classes.extend(mapped.classes.iter().map(|c| c.class_uid));
    }
    failed.sort();
    let matches = |(name, index, why): &(String, u64, String), (part, i, words): &(&str, u64, &str)| name.contains(part) && index == i && why.contains(words);
    for b in bad {
        assert!(failed.iter().any(|f| matches(f, b)), "{b:?} is not dead-lettered as expected; failures: {failed:#?}");
    }
    for f in &failed {
        assert!(bad.iter().any(|b| matches(f, b)), "a sample record failed: {f:?}");
    }
    classes
}

/// Compares the mapper's output on `file` with `tests/golden/<dir>/<file stem>.json`.
fn check_golden_in(mapper_name: &str, dir: &str, file: &Path) {
    check_golden_batch(mapper_name, dir, file, &raw_batch_of(file, CONNECTOR));
}

/// [`check_golden_in`] with the raw batch read already.
fn check_golden_batch(mapper_name: &str, dir: &str, file: &Path, batch: &trawl::batch::RawBatch) -> trawl::mapper::MappedBatch {
    let mapper = load_builtin(mapper_name);
    let batch = batch.clone();
    let mapped = mapper.map(&batch).unwrap();
    let got = serde_json::to_string_pretty(&mapped.to_json(&batch)).unwrap() + "\n";
    let stem = file.file_name().unwrap().to_str().unwrap().trim_end_matches(".gz").trim_end_matches(".json");
    let golden = repo().join("tests/golden").join(dir).join(format!("{stem}.json"));
    if std::env::var_os("TRAWL_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &got).unwrap();
        return mapped;
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_else(|e| panic!("{}: {e} (set TRAWL_UPDATE_GOLDEN=1 to create it)", golden.display()));
    if got != want {
        let diff: Vec<String> = got.lines().zip(want.lines()).enumerate().filter(|(_, (g, w))| g != w).take(5).map(|(i, (g, w))| format!("line {}:\n  got  {g}\n  want {w}", i + 1)).collect();
        panic!("{} differs from {}:\n{}", mapper_name, golden.display(), diff.join("\n"));
    }
    mapped
}

#[test]
fn cloudtrail_mapper_matches_goldens() {
    let files = log_files(&sample_trail());
    assert_eq!(files.len(), 3, "sample trail changed? {files:?}");
    for f in files {
        check_golden("cloudtrail", &f);
    }
}

/// Every record of every variation maps (none is an error), and the goldens were read against
/// the samples' README.
#[test]
fn cloudtrail_mapper_matches_goldens_on_the_variations() {
    let files = log_files(&variations());
    assert_eq!(files.len(), 12, "variations sample changed? {files:?}");
    let mapper = load_builtin("cloudtrail");
    let mut classes = std::collections::BTreeSet::new();
    for f in &files {
        check_golden_in("cloudtrail", "cloudtrail-variations", f);
        let batch = raw_batch_of(f, CONNECTOR);
        let mapped = mapper.map(&batch).unwrap();
        for (r, st) in mapped.status.iter().enumerate() {
            assert_eq!(*st, trawl::mapper::RowStatus::Ok, "{} record {r}", f.display());
        }
        classes.extend(mapped.classes.iter().map(|c| c.class_uid));
    }
    assert_eq!(classes.into_iter().collect::<Vec<_>>(), vec![2004, 3001, 3002, 6003], "every class the mapper emits is exercised");
}

/// Every VPC Flow Logs sample through `builtin:vpc_flow`, enriched as the source enriches it:
/// the goldens were read against `examples/data/vpc-flow/README.md`, and only the bad file's
/// three bad records fail.
#[test]
fn vpc_flow_mapper_matches_goldens() {
    let files = vpc_flow_files();
    assert_eq!(files.len(), 6, "VPC Flow samples changed? {files:?}");
    let bad = [
        ("bad0bad1", 1, "srcport: \"https\" is not a port"),
        ("bad0bad1", 2, "the record has 13 fields, its header names 14"),
        ("bad0bad1", 3, "srcaddr: \"10.0.1.300\" is not an IP address"),
    ];
    assert_eq!(check_log_samples("vpc_flow", "vpc-flow", &files, &bad).into_iter().collect::<Vec<_>>(), [4001]);
}

/// Every Redshift audit log sample through `builtin:redshift`: the goldens were read against
/// `examples/data/redshift/README.md`; only the bad file's bad records fail (the short line
/// refused by the reader, the others by the mapper naming the field).
#[test]
fn redshift_mapper_matches_goldens() {
    let files = redshift_files();
    assert_eq!(files.len(), 4, "Redshift samples changed? {files:?}");
    let bad = [
        ("connectionlog_2024-10-08T16:40", 1, "recordtime: \"yesterday at noon\" is not a time"),
        ("connectionlog_2024-10-08T16:40", 2, "remoteport: \"ssh\" is not a number"),
        ("connectionlog_2024-10-08T16:40", 3, "a connectionlog line has 6 fields, at least 16 expected"),
    ];
    assert_eq!(check_log_samples("redshift", "redshift", &files, &bad).into_iter().collect::<Vec<_>>(), [3001, 3002, 6005]);
}

/// Every Inspector sample finding through `builtin:inspector`, with the source's full-mode
/// context: the golden was read against `examples/data/inspector/README.md`.
#[test]
fn inspector_mapper_matches_goldens() {
    let f = crate::inspector::sample_file();
    let mapped = check_golden_batch("inspector", "inspector", &f, &crate::inspector::sample_batch(&f, CONNECTOR));
    assert!(mapped.status.iter().all(|s| *s == trawl::mapper::RowStatus::Ok), "{:?}", mapped.status);
}

/// The GuardDuty sample findings through `builtin:guardduty`, one record per finding as the
/// `guardduty` source reads them; the golden was read against `examples/data/guardduty`.
#[test]
fn guardduty_mapper_matches_goldens() {
    let file = repo().join("examples/data/guardduty/get-findings.json");
    let batch = crate::common::fake_guardduty::sample_batch(CONNECTOR);
    let mapped = check_golden_batch("guardduty", "guardduty", &file, &batch);
    assert!(mapped.status.iter().all(|s| *s == trawl::mapper::RowStatus::Ok), "{:?}", mapped.status);
}

/// The CloudWatch alarm samples (`examples/data/cloudwatch-alarms`, see its README) as the
/// `cloudwatch_alarms` source hands them on: history items oldest first with `HistoryData`
/// decoded and each episode's start attached as it follows them, then the alarms in ALARM.
pub fn cloudwatch_alarms_batch() -> trawl::batch::RawBatch {
    use serde_json::{Value, json};
    let dir = repo().join("examples/data/cloudwatch-alarms");
    let read = |f: &str| -> Value { serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap() };
    let info = |f: &str| trawl::batch::ObjectInfo { connector: CONNECTOR.into(), source_kind: "cloudwatch_alarms", aws_account_id: Some("111122223333".into()), region: Some("us-east-1".into()), object: format!("examples/data/cloudwatch-alarms/{f}") };
    let mut items = read("describe-alarm-history.json")["AlarmHistoryItems"].as_array().unwrap().clone();
    items.sort_by(|a, b| a["Timestamp"].as_str().cmp(&b["Timestamp"].as_str()));
    let mut episodes = trawl::sources::cloudwatch_alarms::Episodes::default();
    let mut b = trawl::batch::RawBatchBuilder::new();
    let history = info("describe-alarm-history.json");
    for (i, mut item) in items.into_iter().enumerate() {
        item["HistoryData"] = serde_json::from_str(item["HistoryData"].as_str().unwrap()).unwrap();
        let enrichment = episodes.follow(&item).map(|s| json!({ "episode_started_ms": s }).to_string());
        b.push_full(&history, item.to_string().as_bytes(), i as u64, 0, 1_700_000_000_000, None, enrichment.as_deref().map(str::as_bytes));
    }
    let current = info("describe-alarms.json");
    for (i, a) in read("describe-alarms.json")["MetricAlarms"].as_array().unwrap().iter().enumerate() {
        let open = episodes.0.get(a["AlarmName"].as_str().unwrap()).filter(|e| e.ended.is_none()).map(|e| e.started);
        let started = open.or_else(|| chrono::DateTime::parse_from_rfc3339(a["StateTransitionedTimestamp"].as_str().unwrap()).ok().map(|t| t.timestamp_millis()));
        let enrichment = started.map(|s| json!({ "episode_started_ms": s }).to_string());
        b.push_full(&current, json!({ "MetricAlarm": a }).to_string().as_bytes(), i as u64, 0, 1_700_000_000_000, None, enrichment.as_deref().map(str::as_bytes));
    }
    b.finish(1)
}

/// Every CloudWatch alarm sample through `builtin:cloudwatch_alarms`: the goldens were read
/// against `examples/data/cloudwatch-alarms/README.md`; every record maps, into both classes.
#[test]
fn cloudwatch_alarms_mapper_matches_goldens() {
    let batch = cloudwatch_alarms_batch();
    let mapped = check_golden_batch("cloudwatch_alarms", "cloudwatch_alarms", Path::new("alarms.json"), &batch);
    assert!(mapped.status.iter().all(|s| *s == trawl::mapper::RowStatus::Ok), "{:?}", mapped.status);
    assert_eq!(mapped.status.len(), 7);
    let classes: std::collections::BTreeSet<i32> = mapped.classes.iter().map(|c| c.class_uid).collect();
    assert_eq!(classes.into_iter().collect::<Vec<_>>(), [2004, 3004]);
}

/// The Shield Advanced sample attacks through `builtin:shield`, one record per
/// `DescribeAttack` reply as the `shield` source reads them (the re-described attack with its
/// update context); the golden was read against `examples/data/shield`.
#[test]
fn shield_mapper_matches_goldens() {
    let file = repo().join("examples/data/shield/describe-attack.json");
    let batch = crate::common::fake_shield::sample_batch(CONNECTOR);
    let mapped = check_golden_batch("shield", "shield", &file, &batch);
    assert!(mapped.status.iter().all(|s| *s == trawl::mapper::RowStatus::Ok), "{:?}", mapped.status);
}

/// The Macie sample events' findings through `builtin:macie`: the goldens were read against
/// `examples/data/macie/README.md`.
#[test]
fn macie_mapper_matches_goldens() {
    for f in crate::macie::sample_files() {
        let mapped = check_golden_batch("macie", "macie", &f, &crate::macie::sample_batch(&f, CONNECTOR));
        assert!(mapped.status.iter().all(|s| *s == trawl::mapper::RowStatus::Ok), "{}: {:?}", f.display(), mapped.status);
    }
}

/// The IAM sample entity records through `builtin:iam`, as the `iam` source hands them on:
/// the golden was read against `examples/data/iam/README.md`; every record maps.
#[test]
fn iam_mapper_matches_goldens() {
    let batch = crate::iam::sample_batch(&repo().join("examples/data/iam/entities.ndjson"), CONNECTOR);
    let mapped = check_golden_batch("iam", "iam", Path::new("entities.json"), &batch);
    assert!(mapped.status.iter().all(|s| *s == trawl::mapper::RowStatus::Ok), "{:?}", mapped.status);
}

/// Every Redshift event sample through `builtin:redshift_events`: the golden was read against
/// `examples/data/redshift-events/README.md`; every record maps, into both classes.
#[test]
fn redshift_events_mapper_matches_goldens() {
    let file = repo().join("examples/data/redshift-events/describe-events.json");
    let sample: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let info = trawl::batch::ObjectInfo { connector: CONNECTOR.into(), source_kind: "redshift_events", aws_account_id: Some("111122223333".into()), region: Some("us-east-1".into()), object: "examples/data/redshift-events/describe-events.json".into() };
    let mut b = trawl::batch::RawBatchBuilder::new();
    for (i, e) in sample["Events"].as_array().unwrap().iter().enumerate() {
        b.push(&info, e.to_string().as_bytes(), i as u64, 0, 1_700_000_000_000);
    }
    let batch = b.finish(1);
    let mapped = check_golden_batch("redshift_events", "redshift_events", &file, &batch);
    assert!(mapped.status.iter().all(|s| *s == trawl::mapper::RowStatus::Ok), "{:?}", mapped.status);
    let classes: std::collections::BTreeSet<i32> = mapped.classes.iter().map(|c| c.class_uid).collect();
    assert_eq!(classes.into_iter().collect::<Vec<_>>(), [2004, 3004]);
}

#[test]
fn passthrough_mapper_matches_goldens() {
    for f in log_files(&sample_trail()) {
        check_golden("passthrough", &f);
    }
}

#[test]
fn wasm_and_native_builds_agree() {
    // The same mapper code compiled natively must map exactly as the wasm module does.
    let wasm = load_builtin("cloudtrail");
    let native = trawl::mapper::NativeMapper::<trawl_mapper_cloudtrail::CloudTrail>::new(serde_json::Value::Null);
    assert_eq!(wasm.manifest(), native.manifest());
    for f in log_files(&sample_trail()) {
        let batch = raw_batch_of(&f, CONNECTOR);
        let (a, b) = (wasm.map(&batch).unwrap(), native.map(&batch).unwrap());
        assert_eq!(a.to_json(&batch), b.to_json(&batch), "{}", f.display());
    }
    let vpc = (load_builtin("vpc_flow"), trawl::mapper::NativeMapper::<trawl_mapper_vpc_flow::VpcFlow>::new(serde_json::Value::Null));
    let redshift = (load_builtin("redshift"), trawl::mapper::NativeMapper::<trawl_mapper_redshift::Redshift>::new(serde_json::Value::Null));
    assert_eq!(vpc.0.manifest(), vpc.1.manifest());
    assert_eq!(redshift.0.manifest(), redshift.1.manifest());
    for f in vpc_flow_files().into_iter().chain(redshift_files()) {
        let (batch, _) = sample_log_batch(&f);
        let (wasm, native): (&dyn BatchMapper, &dyn BatchMapper) = if f.to_string_lossy().contains("vpcflowlogs") { (&vpc.0, &vpc.1) } else { (&redshift.0, &redshift.1) };
        assert_eq!(wasm.map(&batch).unwrap().to_json(&batch), native.map(&batch).unwrap().to_json(&batch), "{}", f.display());
    }
}
