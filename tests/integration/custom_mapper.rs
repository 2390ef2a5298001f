//! The mapper authoring loop: `trawl mapper new` makes a crate whose tests pass, and the
//! example user mapper (`examples/custom-mapper`, built by tests/run.sh) matches its golden
//! file through `trawl mapper test` and runs inside `trawl run`.

use std::path::PathBuf;

use crate::common::{Scratch, copy_tree, parquet_files, read_parquet, repo, sample_trail};

fn fresh_module(name: &str) -> Option<PathBuf> {
    match std::env::var_os("TRAWL_FRESH_MAPPERS") {
        Some(d) => Some(PathBuf::from(d).join(format!("{name}.wasm"))),
        None => {
            eprintln!("TRAWL_FRESH_MAPPERS not set; tests/run.sh builds {name}.wasm and sets it");
            None
        }
    }
}

const POLICY_CONFIG: &str = r#"{"privileged_roles":["RoleToBeAssumed"]}"#;

#[test]
fn example_mapper_matches_its_golden_through_the_real_host() {
    let Some(wasm) = fresh_module("custom-mapper") else { return };
    let s = Scratch::new();
    let ex = repo().join("examples/custom-mapper/samples");
    let out = s.trawl(&[
        "mapper", "test", wasm.to_str().unwrap(),
        "--input", ex.join("trail.json").to_str().unwrap(),
        "--golden", ex.join("trail.golden.json").to_str().unwrap(),
        "--config", POLICY_CONFIG,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("11 records: 11 mapped, 0 skipped, 0 errors") && err.contains("matches"), "{err}");

    // Guest log lines reach the host's log with the row, object and record they were logged at.
    let out = s.trawl(&[
        "-v", "mapper", "test", wasm.to_str().unwrap(),
        "--input", ex.join("trail.json").to_str().unwrap(),
        "--config", POLICY_CONFIG,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.contains("root account used")).unwrap_or_else(|| panic!("no guest log line: {err}"));
    assert!(line.contains("mapper=policy") && line.contains("row=") && line.contains("record=") && line.contains("trail.json"), "{line}");

    // A different config gives a different result, and the diff is shown.
    let out = s.trawl(&[
        "mapper", "test", wasm.to_str().unwrap(),
        "--input", ex.join("trail.json").to_str().unwrap(),
        "--golden", ex.join("trail.golden.json").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DIFFERS"));
}

#[test]
fn example_mapper_runs_in_trawl_run() {
    let Some(wasm) = fresh_module("custom-mapper") else { return };
    let s = Scratch::new();
    copy_tree(&sample_trail(), &s.path("trail"));
    s.config(&format!(
        r#"
[state]
dir = "state"
[[connectors]]
name = "dev"
region = "us-east-1"
[[connectors.sources]]
type = "cloudtrail_files"
path = "trail"
mapper = "{}"
mapper_config = {{ privileged_roles = ["RoleToBeAssumed"] }}
[[outputs]]
type = "parquet"
path = "lake"
"#,
        wasm.display()
    ));
    let (out, summary) = s.run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let c = &summary.counts;
    // The one unprivileged read-only call of the sample (AssumeRole by EC2) is Authentication
    // now, and sign-ins are always kept; dropping reads is covered by the mapper's own tests.
    assert_eq!((c.records_read, c.records_written, c.records_skipped, c.records_dead_lettered), (11, 11, 0, 0));
    let mut labelled = 0;
    for f in parquet_files(&s.path("lake")) {
        let rel = f.strip_prefix(s.path("lake")).unwrap();
        assert!(["policy_api_activity", "policy_authentication", "policy_account_change"].iter().any(|d| rel.starts_with(d)), "{}", rel.display());
        for b in read_parquet(&f) {
            let labels = crate::common::column_at(&b, "metadata.labels").unwrap();
            labelled += b.num_rows() - arrow_array::Array::null_count(&labels);
        }
    }
    // RoleToBeAssumed sessions (DescribeInstances, AttachRolePolicy, GetObject, PutObject) and
    // root (DeleteBucket, the root console login); the golden file shows each.
    assert_eq!(labelled, 6);

    // A config the mapper rejects fails the source at load, with the mapper's reason.
    std::fs::write(s.path("config.toml"), std::fs::read_to_string(s.path("config.toml")).unwrap().replace("privileged_roles", "privileged_rolez")).unwrap();
    std::fs::remove_dir_all(s.path("state")).unwrap();
    let (out, summary) = s.run();
    assert_eq!(out.status.code(), Some(1));
    let err = summary.sources[0].error.clone().unwrap();
    assert!(err.contains("mapper config rejected") && err.contains("privileged_rolez"), "{err}");
}

#[test]
fn mapper_new_creates_a_crate_whose_tests_pass() {
    let s = Scratch::new();
    let out = s.trawl(&["mapper", "new", "acme-mapper"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in ["Cargo.toml", "rust-toolchain.toml", "src/lib.rs", "samples/sample.json"] {
        assert!(s.path("acme-mapper").join(f).exists(), "{f}");
    }
    assert!(std::fs::read_to_string(s.path("acme-mapper/rust-toolchain.toml")).unwrap().contains("wasm32-wasip1"));
    assert_eq!(s.trawl(&["mapper", "new", "acme-mapper"]).status.code(), Some(2), "refuses to overwrite");
    // Its unit tests pass natively (share this workspace's target dir for speed). The
    // template's rust-toolchain.toml asks rustup for a target it cannot download here, so
    // use the toolchain running these tests.
    let status = std::process::Command::new(env!("CARGO"))
        .args(["test", "--offline", "-q"])
        .current_dir(s.path("acme-mapper"))
        .env("CARGO_TARGET_DIR", repo().join("target/template-test"))
        .env("RUSTUP_TOOLCHAIN", std::env::var("RUSTUP_TOOLCHAIN").unwrap_or_else(|_| "stable".into()))
        .status()
        .unwrap();
    assert!(status.success(), "cargo test of the template crate failed");
}
