//! The fault suite: kill -9 at seeded moments and rerun, two runs on one output. Every check
//! reads the whole output back: every input record exactly once.

use std::{collections::BTreeMap, path::Path, process::Command, time::Duration};

use serde_json::{Value, json};

use crate::common::{
    Scratch, input_records,
    runs::{Kills, kill_and_rerun, spawn_run, wait_for},
    sample_trail,
};

/// A trail of `files` log files of `per_file` records each, from the sample's records (each
/// with its own eventID), under `dir/AWSLogs/…`; returns the event ids.
fn write_trail(dir: &Path, files: usize, per_file: usize) -> Vec<String> {
    let sample = input_records(&sample_trail());
    let mut ids = Vec::new();
    for f in 0..files {
        let day = format!("2024/01/{:02}", 10 + f % 5);
        let d = dir.join(format!("AWSLogs/111122223333/CloudTrail/us-east-1/{day}"));
        std::fs::create_dir_all(&d).unwrap();
        let records: Vec<Value> = (0..per_file)
            .map(|i| {
                let mut r = sample[(f * per_file + i) % sample.len()].clone();
                let id = format!("fault-{f:04}-{i:04}");
                r["eventID"] = json!(id);
                ids.push(id);
                r
            })
            .collect();
        let name = format!("111122223333_CloudTrail_us-east-1_{}T0000Z_{f:04}.json.gz", day.replace('/', ""));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, json!({ "Records": records }).to_string().as_bytes()).unwrap();
        std::fs::write(d.join(name), gz.finish().unwrap()).unwrap();
    }
    ids.sort();
    ids
}

use crate::common::ndjson_uids as ndjson_ids;

/// Event ids in every Parquet file under `dir`, with how often each appears.
fn parquet_ids(dir: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for f in crate::common::parquet_files(dir) {
        for b in crate::common::read_parquet(&f) {
            for id in crate::common::strings_at(&b, "metadata.uid") {
                *out.entry(id.unwrap()).or_default() += 1;
            }
        }
    }
    out
}

fn config(pipeline: &str, outputs: &str) -> String {
    config_with(pipeline, "[[connectors.sources]]\ntype = \"cloudtrail_files\"\npath = \"trail\"\n", outputs)
}

fn config_with(pipeline: &str, source: &str, outputs: &str) -> String {
    format!(
        r#"
[state]
dir = "state"
[pipeline]
{pipeline}
[[connectors]]
name = "faults"
region = "us-east-1"
{source}
{outputs}
"#
    )
}

const OUTPUTS: &str = "[[outputs]]\ntype = \"parquet\"\npath = \"lake\"\n[[outputs]]\ntype = \"ndjson\"\npath = \"siem\"\n";

/// Kills `trawl run` at seeded moments after its first commit and reruns (`kill_and_rerun`),
/// `trials` times, on the input `setup` writes into a fresh scratch dir (returning the config's
/// source table and the metadata.uid of every record it wrote, each once; the source table may
/// start with keys of the connector, `name = "faults"`). Every check reads the whole output
/// back, the NDJSON and the Parquet one.
pub(crate) fn kill_trials(name: &str, trials: usize, setup: impl Fn(&Scratch) -> (String, Vec<String>)) {
    let kills = Kills { name, trials, seed: 0x0dd_f00d, within: Duration::from_millis(150), out: "siem", mid_run: trials / 2 };
    let prepare = |_, sc: &Scratch| {
        let (source, ids) = setup(sc);
        // The standard mappers' code is precompiled: no trial waits for a compile.
        sc.config(&config_with("workers = 2\nbatch_rows = 100\ncommit_every_records = 500", &source, OUTPUTS));
        (ids.len(), ids)
    };
    kill_and_rerun(&kills, prepare, |trial, sc, _, ids| {
        let (out, summary) = sc.run();
        assert!(out.status.success(), "{name} trial {trial}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(summary.counts.reconciles());
        for (sink, got) in [("NDJSON", ndjson_ids(&sc.path("siem"))), ("Parquet", parquet_ids(&sc.path("lake")))] {
            assert_eq!(got.keys().cloned().collect::<Vec<_>>(), ids, "{name} trial {trial}: {sink} holds every record");
            assert!(got.values().all(|n| *n == 1), "{name} trial {trial}: {sink} holds no record twice");
        }
        // Readers globbing the lake never meet a staged file.
        let staged: Vec<_> = walkdir::WalkDir::new(sc.path("lake")).into_iter().map(|e| e.unwrap().into_path()).filter(|p| p.to_string_lossy().ends_with(".parquet") && p.components().any(|c| c.as_os_str() == ".tmp")).collect();
        assert!(staged.is_empty(), "{staged:?}");
    });
}

#[test]
fn kill_9_at_seeded_moments_then_a_rerun_writes_every_record_exactly_once() {
    kill_trials("cloudtrail", 5, |sc| ("[[connectors.sources]]\ntype = \"cloudtrail_files\"\npath = \"trail\"\n".into(), write_trail(&sc.path("trail"), 60, 200)));
}

/// Gzipped `lines` at `dir/rel`.
fn write_gz(dir: &Path, rel: &str, lines: &[String]) {
    let f = dir.join(rel);
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for l in lines {
        std::io::Write::write_all(&mut gz, l.as_bytes()).unwrap();
        std::io::Write::write_all(&mut gz, b"\n").unwrap();
    }
    std::fs::write(f, gz.finish().unwrap()).unwrap();
}

/// The metadata.uid the standard mappers give a line-per-record format's record: what
/// `RawRecord::position_uid` computes from its object, index and offset (the host's values for
/// a local file: its path, the line's number from 0 and the byte offset of its start).
fn position_uids(object: &Path, lines: &[String], first_is_header: bool) -> Vec<String> {
    let mut offset = 0u64;
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if !(first_is_header && i == 0) {
            out.push(trawl_guest_sdk::position_uid(&object.display().to_string(), (i - first_is_header as usize) as u64, offset));
        }
        offset += l.len() as u64 + 1;
    }
    out
}

#[test]
fn kill_9_on_vpc_flow_logs_then_a_rerun_writes_every_record_exactly_once() {
    kill_trials("vpc_flow", 3, |sc| {
        let tree = sc.path("flows");
        let mut ids = Vec::new();
        for f in 0..80 {
            let rel = format!("AWSLogs/111122223333/vpcflowlogs/us-east-1/2024/10/08/111122223333_vpcflowlogs_us-east-1_fl-0123456789abcdef0_20241008T{:02}{:02}Z_{f:08x}.log.gz", 10 + f / 12, f % 12 * 5);
            let mut lines = vec!["version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status".to_string()];
            lines.extend((0..200).map(|i| format!("2 111122223333 eni-0a1b2c3d4e5f6{f:05} 10.0.1.{} 10.0.2.30 {} 443 6 {} {} 1728403800 1728403860 ACCEPT OK", i % 250, 30000 + i, 1 + i, 40 * (i + 1))));
            write_gz(&tree, &rel, &lines);
            ids.extend(position_uids(&tree.join(&rel), &lines, true));
        }
        ids.sort();
        (format!("[[connectors.sources]]\ntype = \"vpc_flow\"\npath = \"{}\"\nenrich = false\n", tree.display()), ids)
    });
}

#[test]
fn kill_9_on_redshift_audit_logs_then_a_rerun_writes_every_record_exactly_once() {
    kill_trials("redshift_audit", 3, |sc| {
        let tree = sc.path("audit");
        let mut ids = Vec::new();
        for f in 0..40 {
            let rel = format!("AWSLogs/111122223333/redshift/us-east-1/2024/10/08/111122223333_redshift_us-east-1_mycluster_connectionlog_2024-10-08T{:02}:{:02}.gz", 10 + f / 12, f % 12 * 5);
            let lines: Vec<String> = (0..200)
                .map(|i| format!("authenticated |Tue, 8 Oct 2024 16:{:02}:{:02}:{:03}|10.0.12.7 |{}|{}|dev |analyst |password |0|TLSv1.2 |ECDHE-RSA-AES256-GCM-SHA384 |1500| | | |psql |Linux |PostgreSQL 14.12 | |2|c1a5e8f2-6b7d-4c3e-9a0f-1b2c3d4e5f60 |off |", f, i % 60, i, 40000 + i, 1073815552 + f * 1000 + i))
                .collect();
            write_gz(&tree, &rel, &lines);
            ids.extend(position_uids(&tree.join(&rel), &lines, false));
        }
        ids.sort();
        (format!("[[connectors.sources]]\ntype = \"redshift_audit\"\npath = \"{}\"\n", tree.display()), ids)
    });
}

#[test]
fn a_second_run_on_the_same_output_fails_fast_and_harms_nothing() {
    let first = Scratch::new();
    let ids = write_trail(&first.path("trail"), 40, 200);
    first.config(&config("workers = 1\nbatch_rows = 50\ncommit_every_records = 200", OUTPUTS));
    let second = Scratch::new();
    write_trail(&second.path("trail"), 2, 10);
    let shared = first.path("siem").display().to_string();
    second.config(&config("", &format!("[[outputs]]\ntype = \"ndjson\"\npath = \"{shared}\"\n")));

    let mut child = spawn_run(&first);
    wait_for(&mut child, || std::fs::read_to_string(first.path("siem/.trawl.lock")).is_ok_and(|s| !s.is_empty()));
    let out = second.trawl(&["run", "--config", "config.toml", "--quiet"]);
    let finished_first = child.try_wait().unwrap().is_some();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    if !finished_first {
        assert!(err.contains(&format!("is in use by another trawl process (pid {})", child.id())), "{err}");
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "the first run is unharmed");
    let got = ndjson_ids(&first.path("siem"));
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), ids);
    assert!(got.values().all(|n| *n == 1));
    // The state dir is locked too.
    let third = Scratch::new();
    third.config(&config("", OUTPUTS));
    let _held = trawl::state::lock::DirLock::acquire(&third.path("state"), "lock", "state dir").unwrap();
    let out = third.trawl(&["run", "--config", "config.toml", "--quiet"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("state dir state is in use by another trawl process"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Uploads every file under `dir` to `bucket` at the same relative key.
fn upload_tree(moto: &crate::common::aws::Moto, dir: &Path, bucket: &str) {
    for e in walkdir::WalkDir::new(dir).into_iter().map(|e| e.unwrap()).filter(|e| e.file_type().is_file()) {
        let key = e.path().strip_prefix(dir).unwrap().display().to_string();
        moto.put(bucket, &key, std::fs::read(e.path()).unwrap());
    }
}

/// A `cloudtrail_s3` backfill of `bucket` (Jan 10–14, 2024) through `url`, into NDJSON `siem`.
fn backfill_config(url: &str, bucket: &str) -> String {
    format!(
        r#"
[state]
dir = "state"
[[connectors]]
name = "faults"
region = "us-east-1"
endpoint_url = "{url}"
auth = {{ type = "basic", access_key_id = "testing", secret_access_key = "testing" }}
[[connectors.sources]]
type = "cloudtrail_s3"
bucket = "{bucket}"
since = "2024-01-10"
until = "2024-01-14"
concurrency = 4
[[outputs]]
type = "ndjson"
path = "siem"
"#
    )
}

/// A trail bucket read through a proxy that cuts off object bodies or resets connections:
/// the run fetches again what broke, and lands every record once.
#[test]
fn s3_backfill_through_cut_bodies_and_resets_loses_nothing() {
    use crate::common::aws::{Fault, FlakyProxy, Moto};
    let moto = Moto::start();
    for (fault, nth) in [(Fault::CutFirstBody, 3), (Fault::Reset, 5)] {
        let sc = Scratch::new();
        let ids = write_trail(&sc.path("local"), 24, 25);
        let bucket = format!("trail-{}", format!("{fault:?}").to_lowercase());
        moto.create_bucket(&bucket);
        upload_tree(&moto, &sc.path("local"), &bucket);
        let proxy = FlakyProxy::start_with(moto.port, nth, fault);
        sc.config(&backfill_config(&proxy.url(), &bucket));
        let (out, summary) = sc.run();
        assert!(out.status.success(), "{fault:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(proxy.failed() >= 3, "{fault:?}: the proxy injected {} faults", proxy.failed());
        let got = ndjson_ids(&sc.path("siem"));
        assert_eq!(got.keys().cloned().collect::<Vec<_>>(), ids, "{fault:?}");
        assert!(got.values().all(|n| *n == 1), "{fault:?}");
        assert_eq!((summary.counts.objects_failed, summary.counts.objects_retry_later), (0, 0), "{fault:?}");
    }
}

/// A fault that outlasts the retries leaves the object unchecked: the run says so (exit 1),
/// and the next run reads it.
#[test]
fn an_object_that_cannot_be_fetched_now_is_read_by_the_next_run() {
    use crate::common::aws::{Fault, FlakyProxy, Moto};
    let moto = Moto::start();
    let sc = Scratch::new();
    let ids = write_trail(&sc.path("local"), 6, 10);
    moto.create_bucket("trail");
    upload_tree(&moto, &sc.path("local"), "trail");
    // Every object GET is cut off: no retry can succeed.
    let broken = FlakyProxy::start_with(moto.port, 1, Fault::CutEveryBody);
    let cfg = |url: &str| backfill_config(url, "trail");
    sc.config(&cfg(&broken.url()));
    let (out, summary) = sc.run();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(summary.counts.objects_retry_later, 6);
    assert!(String::from_utf8_lossy(&out.stdout).contains("retry later"), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(ndjson_ids(&sc.path("siem")).is_empty());
    sc.config(&cfg(&moto.url()));
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(summary.counts.objects_read, 6, "nothing was checkpointed by the failed run");
    assert_eq!(ndjson_ids(&sc.path("siem")).keys().cloned().collect::<Vec<_>>(), ids);
}

/// The queue path and the S3 output, killed mid-run: after the messages left in flight become
/// visible again, a rerun completes and every record is in the S3 output once.
#[test]
fn kill_9_on_the_queue_path_with_an_s3_output_then_a_rerun_writes_every_record_once() {
    use crate::common::aws::Moto;
    let moto = Moto::start();
    moto.create_bucket("trail");
    moto.create_bucket("lake");
    let queue = moto.create_queue("data-events");
    moto.notify_queue("trail", &queue);
    let sc = Scratch::new();
    let ids = write_trail(&sc.path("local"), 30, 60);
    upload_tree(&moto, &sc.path("local"), "trail");
    sc.config(&format!(
        r#"
[state]
dir = "state"
[pipeline]
batch_rows = 60
workers = 2
[[connectors]]
name = "faults"
region = "us-east-1"
endpoint_url = "{m}"
sqs_url = "{queue}"
auth = {{ type = "basic", access_key_id = "testing", secret_access_key = "testing" }}
[[connectors.sources]]
type = "sqs"
wait_seconds = 1
visibility_timeout_seconds = 10
commit_every_messages = 3
concurrency = 2
[[outputs]]
type = "ndjson"
path = "s3://lake/ocsf"
s3 = {{ connector = "faults" }}
"#,
        m = moto.url()
    ));
    let in_s3 = || -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for k in moto.keys("lake", "ocsf/") {
            for line in String::from_utf8(moto.get("lake", &k)).unwrap().lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                *out.entry(v["metadata"]["uid"].as_str().unwrap().to_string()).or_default() += 1;
            }
        }
        out
    };
    let mut child = spawn_run(&sc);
    wait_for(&mut child, || !moto.keys("lake", "ocsf/").is_empty());
    std::thread::sleep(Duration::from_millis(150));
    child.kill().unwrap();
    child.wait().unwrap();
    let before = in_s3();
    eprintln!("killed with {} of {} records in S3", before.len(), ids.len());
    assert!(before.values().all(|n| *n == 1));
    // Messages received by the killed run come back after their visibility timeout.
    std::thread::sleep(Duration::from_secs(11));
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(summary.counts.reconciles());
    let after = in_s3();
    assert_eq!(after.keys().cloned().collect::<Vec<_>>(), ids, "every record in S3");
    assert!(after.values().all(|n| *n == 1), "none twice");
    assert_eq!(moto.queue_depth(&queue), 0, "every message deleted once its records were durable");
}

/// The output's disk fills up: the run fails (exit 2) without checkpointing what it could
/// not write; with room again, a rerun completes, and neither output nor dead letters hold a
/// line twice. Needs root for a small tmpfs; skipped with a reason otherwise.
#[test]
fn a_full_output_disk_fails_the_run_and_the_rerun_completes_exactly_once() {
    let sc = Scratch::new();
    let mount = sc.path("small");
    std::fs::create_dir_all(&mount).unwrap();
    // Room for a few commits, not for all of them.
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"]).arg(&mount).output();
    if !mounted.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: cannot mount a tmpfs here (needs root): {:?}", mounted.map(|o| String::from_utf8_lossy(&o.stderr).into_owned()));
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mount.clone());
    let ids = write_trail(&sc.path("trail"), 20, 100);
    // One bad file too: its dead letter must not be written twice across the two runs.
    std::fs::write(sc.path("trail/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/10/111122223333_CloudTrail_us-east-1_20240110T0000Z_bad.json"), b"{\"Records\":[{\"a\":").unwrap();
    sc.config(&config("commit_every_records = 400\nbatch_rows = 100", "[[outputs]]\ntype = \"ndjson\"\npath = \"small/siem\"\n"));
    let out = sc.trawl(&["run", "--config", "config.toml", "--quiet"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    let partial = ndjson_ids(&sc.path("small/siem"));
    assert!(partial.values().all(|n| *n == 1));
    assert!(!partial.is_empty() && partial.len() < ids.len(), "{} of {} records were committed before the disk filled", partial.len(), ids.len());
    let dead_letters = || -> Vec<String> {
        if !sc.path("state/dead-letter").exists() {
            return Vec::new();
        }
        walkdir::WalkDir::new(sc.path("state/dead-letter")).max_depth(1).into_iter().map(|e| e.unwrap()).filter(|e| e.file_type().is_file())
            .flat_map(|e| std::fs::read_to_string(e.path()).unwrap().lines().map(str::to_string).collect::<Vec<_>>())
            .collect()
    };
    let bad_committed = dead_letters().len();
    // Room again: the same tmpfs, remounted bigger (what it holds stays).
    assert!(Command::new("mount").args(["-o", "remount,size=64m"]).arg(&mount).status().unwrap().success());
    let (out, summary) = sc.run();
    assert!(out.status.success() || out.status.code() == Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let got = ndjson_ids(&sc.path("small/siem"));
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), ids, "every record once the disk has room");
    assert!(got.values().all(|n| *n == 1), "none twice");
    assert_eq!(summary.counts.records_read as usize, ids.len() - partial.len() + 1 - bad_committed, "the rerun reads only what was not committed");
    // Dead letters over both runs: the bad file's one line, once.
    let lines = dead_letters();
    assert_eq!(lines.len(), 1, "{lines:?}");
}

/// The queue path and the S3 output behind a proxy answering 5xx and resetting connections:
/// the SDK's retries absorb them, every record lands in S3 once, and the queue drains.
#[test]
fn the_queue_path_and_the_s3_output_through_5xx_and_resets_lose_nothing() {
    use crate::common::aws::{Fault, FlakyProxy, Moto};
    let moto = Moto::start();
    for (fault, nth) in [(Fault::ErrorReply, 4), (Fault::Reset, 6)] {
        let name = format!("{fault:?}").to_lowercase();
        let (trail, lake) = (format!("trail-{name}"), format!("lake-{name}"));
        moto.create_bucket(&trail);
        moto.create_bucket(&lake);
        let queue = moto.create_queue(&format!("events-{name}"));
        moto.notify_queue(&trail, &queue);
        let sc = Scratch::new();
        let ids = write_trail(&sc.path("local"), 12, 20);
        upload_tree(&moto, &sc.path("local"), &trail);
        let proxy = FlakyProxy::start_with(moto.port, nth, fault);
        sc.config(&format!(
            r#"
[state]
dir = "state"
[[connectors]]
name = "faults"
region = "us-east-1"
endpoint_url = "{p}"
sqs_url = "{queue}"
max_attempts = 8
auth = {{ type = "basic", access_key_id = "testing", secret_access_key = "testing" }}
[[connectors.sources]]
type = "sqs"
wait_seconds = 1
commit_every_messages = 4
[[outputs]]
type = "ndjson"
path = "s3://{lake}/ocsf"
s3 = {{ connector = "faults" }}
"#,
            p = proxy.url()
        ));
        let (out, summary) = sc.run();
        assert!(out.status.success(), "{fault:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(proxy.failed() > 0, "{fault:?}: no fault injected");
        assert!(summary.counts.reconciles());
        let mut got: BTreeMap<String, usize> = BTreeMap::new();
        for k in moto.keys(&lake, "ocsf/") {
            for line in String::from_utf8(moto.get(&lake, &k)).unwrap().lines() {
                *got.entry(serde_json::from_str::<Value>(line).unwrap()["metadata"]["uid"].as_str().unwrap().to_string()).or_default() += 1;
            }
        }
        assert_eq!(got.keys().cloned().collect::<Vec<_>>(), ids, "{fault:?}");
        assert!(got.values().all(|n| *n == 1), "{fault:?}");
        assert_eq!(moto.queue_depth(&queue), 0, "{fault:?}");
    }
}
