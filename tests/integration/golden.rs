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
