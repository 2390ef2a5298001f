//! Golden tests: each standard mapper, run as the embedded wasm module through the real host,
//! on every sample file; the output is compared with `tests/golden/<mapper>/<file>.json`.
//! The goldens were checked by hand against the input records. To regenerate after an
//! intended change: `TRAWL_UPDATE_GOLDEN=1 cargo test -p trawl --test integration golden`,
//! then read the diff.

use std::path::Path;

use trawl::mapper::{BatchMapper, MapperLimits, MapperRef, WasmMapper};

use crate::common::{log_files, raw_batch_of, repo, sample_trail};

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

/// Compares the mapper's output on `file` with `tests/golden/<dir>/<file stem>.json`.
fn check_golden_in(mapper_name: &str, dir: &str, file: &Path) {
    let mapper = load_builtin(mapper_name);
    let batch = raw_batch_of(file, CONNECTOR);
    let mapped = mapper.map(&batch).unwrap();
    let got = serde_json::to_string_pretty(&mapped.to_json(&batch)).unwrap() + "\n";
    let stem = file.file_name().unwrap().to_str().unwrap().trim_end_matches(".gz").trim_end_matches(".json");
    let golden = repo().join("tests/golden").join(dir).join(format!("{stem}.json"));
    if std::env::var_os("TRAWL_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_else(|e| panic!("{}: {e} (set TRAWL_UPDATE_GOLDEN=1 to create it)", golden.display()));
    if got != want {
        let diff: Vec<String> = got.lines().zip(want.lines()).enumerate().filter(|(_, (g, w))| g != w).take(5).map(|(i, (g, w))| format!("line {}:\n  got  {g}\n  want {w}", i + 1)).collect();
        panic!("{} differs from {}:\n{}", mapper_name, golden.display(), diff.join("\n"));
    }
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
}
