//! Bad input: each bad file gets a clear error naming the file (and offset where known), its
//! bad records are dead-lettered, and the rest of the run completes with counts reconciled.

use std::io::Write;

use trawl::sinks::DeadLetterEntry;

use crate::common::Scratch;

const DAY: &str = "trail/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/15";

fn rec(id: &str) -> String {
    format!(r#"{{"eventVersion":"1.09","eventTime":"2024-01-15T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","awsRegion":"us-east-1","readOnly":true,"eventID":"{id}","userIdentity":{{"type":"IAMUser","userName":"a"}},"sourceIPAddress":"192.0.2.1"}}"#)
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn bad_files_are_reported_dead_lettered_and_the_run_completes() {
    let s = Scratch::new();
    let day = s.path(DAY);
    std::fs::create_dir_all(&day).unwrap();
    let put = |name: &str, bytes: &[u8]| std::fs::write(day.join(name), bytes).unwrap();

    // Good: 2 records.
    put("a_good.json.gz", &gz(format!(r#"{{"Records":[{},{}]}}"#, rec("good-1"), rec("good-2")).as_bytes()));
    // Corrupt gzip: valid header, then garbage.
    let mut corrupt = gz(format!(r#"{{"Records":[{}]}}"#, rec("lost")).as_bytes());
    let n = corrupt.len();
    corrupt[12..n - 8].iter_mut().for_each(|b| *b ^= 0x5a);
    put("b_corrupt.json.gz", &corrupt);
    // Truncated JSON: one whole record, then one cut off.
    let trunc = format!(r#"{{"Records":[{},{}"#, rec("trunc-1"), rec("trunc-2"));
    put("c_truncated.json", &trunc.as_bytes()[..trunc.len() - 30]);
    // JSON that is not a CloudTrail log (a digest-like object).
    put("d_not_cloudtrail.json", br#"{"digestStartTime":"2024-01-15T10:00:00Z","logFiles":[]}"#);
    // Empty file.
    put("e_empty.json.gz", b"");
    // Invalid UTF-8 inside one record; its neighbour is fine.
    let mut bad_utf8 = format!(r#"{{"Records":[{},"#, rec("utf8-ok")).into_bytes();
    let mut broken = rec("utf8-bad").into_bytes();
    let at = broken.len() - 5;
    broken[at] = 0xff;
    bad_utf8.extend_from_slice(&broken);
    bad_utf8.extend_from_slice(b"]}");
    put("f_bad_utf8.json", &bad_utf8);
    // A record that is valid JSON but not a CloudTrail event.
    put("g_odd_record.json", format!(r#"{{"Records":[{},{{"hello":"world"}}]}}"#, rec("odd-ok")).as_bytes());

    s.config(
        r#"
[state]
dir = "state"
[[connectors]]
name = "dev"
region = "us-east-1"
[[connectors.sources]]
type = "cloudtrail_files"
path = "trail"
[[outputs]]
type = "parquet"
path = "lake"
"#,
    );
    let (out, summary) = s.run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "finished, with errors; stderr: {stderr}");

    let c = &summary.counts;
    // Records: good 2, truncated 1 + 1 partial, utf8 2, odd 2.
    assert_eq!(c.records_read, 8, "{c:?}");
    assert_eq!(c.records_written, 5, "{c:?}");
    assert_eq!(c.records_dead_lettered, 3, "{c:?}");
    assert!(c.reconciles());
    assert_eq!(c.objects_read, 7);
    assert_eq!(c.objects_failed, 4, "corrupt, truncated, not-cloudtrail, empty");

    let dl = summary.dead_letter_file.clone().expect("a dead-letter file");
    let entries: Vec<DeadLetterEntry> = std::fs::read_to_string(s.path(dl.to_str().unwrap()))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let find = |file: &str| -> Vec<&DeadLetterEntry> { entries.iter().filter(|e| e.object.ends_with(file)).collect() };

    let corrupt = find("b_corrupt.json.gz");
    assert_eq!(corrupt.len(), 1);
    assert!(corrupt[0].reason.contains("cannot read the stream") && corrupt[0].record_index.is_none(), "{:?}", corrupt[0]);

    let trunc = find("c_truncated.json");
    assert_eq!(trunc.len(), 1);
    assert_eq!(trunc[0].record_index, Some(1));
    assert!(trunc[0].reason.contains("ends inside a record"), "{}", trunc[0].reason);
    assert!(trunc[0].raw.as_deref().unwrap().contains("trunc-2"));
    assert_eq!(trunc[0].byte_offset as usize, format!(r#"{{"Records":[{},"#, rec("trunc-1")).len(), "offset of the cut-off record");

    let not_ct = find("d_not_cloudtrail.json");
    assert!(not_ct[0].reason.contains("no \"Records\" array"), "{}", not_ct[0].reason);
    let empty = find("e_empty.json.gz");
    assert!(empty[0].reason.contains("empty"), "{}", empty[0].reason);

    let utf8 = find("f_bad_utf8.json");
    assert_eq!(utf8.len(), 1);
    assert_eq!(utf8[0].record_index, Some(1));
    assert!(utf8[0].raw_base64.is_some(), "non-UTF-8 bytes are kept exactly, in base64");
    assert!(utf8[0].reason.to_lowercase().contains("utf-8"), "{}", utf8[0].reason);

    let odd = find("g_odd_record.json");
    assert_eq!(odd.len(), 1);
    assert!(odd[0].reason.contains("no eventName"), "{}", odd[0].reason);

    // The log names the file and offset for each bad object.
    assert!(stderr.contains("b_corrupt.json.gz") && stderr.contains("c_truncated.json"), "{stderr}");

    // Bad objects are not read again; their dead letters are already kept.
    let (out2, again) = s.run();
    assert_eq!(again.counts.records_read, 0);
    assert_eq!(out2.status.code(), Some(0));
}

#[test]
fn max_error_ratio_fails_the_run() {
    let s = Scratch::new();
    let day = s.path(DAY);
    std::fs::create_dir_all(&day).unwrap();
    // 1 good record, 2 that are not CloudTrail events: 2/3 dead-lettered.
    std::fs::write(day.join("x.json"), format!(r#"{{"Records":[{},{{"a":1}},{{"b":2}}]}}"#, rec("ok"))).unwrap();
    let cfg = |ratio: &str| format!(
        "[state]\ndir = \"state\"\n[pipeline]\nmax_error_ratio = {ratio}\n[[connectors]]\nname = \"dev\"\nregion = \"us-east-1\"\n[[connectors.sources]]\ntype = \"cloudtrail_files\"\npath = \"trail\"\n[[outputs]]\ntype = \"parquet\"\npath = \"lake\"\n"
    );
    s.config(&cfg("0.5"));
    let out = s.trawl(&["run", "--config", "config.toml", "-q"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 of 3 records dead-lettered, over pipeline.max_error_ratio = 0.5"), "{err}");
    // Nothing was recorded as done: the file is read again once the ratio allows it.
    s.config(&cfg("0.9"));
    let (out, summary) = s.run();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!((summary.counts.records_read, summary.counts.records_dead_lettered), (3, 2));
}

fn config_files() -> &'static str {
    r#"
[state]
dir = "state"
[[connectors]]
name = "dev"
region = "us-east-1"
[[connectors.sources]]
type = "cloudtrail_files"
path = "trail"
[[outputs]]
type = "ndjson"
path = "out"
"#
}

/// Symlinked files and day folders are read; a link looping back up the tree is reported, not
/// followed forever; a BOM before a log file's JSON is not content; an unreadable file is not
/// checkpointed and the next run reads it.
#[test]
fn symlinks_a_bom_and_an_unreadable_file_are_handled_not_skipped() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    let day = s.path(DAY);
    std::fs::create_dir_all(&day).unwrap();
    let elsewhere = s.path("elsewhere/2024/01/16");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(day.join("a.json"), format!("\u{feff}{{\"Records\":[{}]}}", rec("bom-1"))).unwrap();
    std::fs::write(s.path("elsewhere/linked.json"), format!(r#"{{"Records":[{}]}}"#, rec("file-link-1"))).unwrap();
    std::os::unix::fs::symlink(s.path("elsewhere/linked.json"), day.join("b_link.json")).unwrap();
    std::fs::write(elsewhere.join("c.json"), format!(r#"{{"Records":[{}]}}"#, rec("dir-link-1"))).unwrap();
    std::os::unix::fs::symlink(&elsewhere, s.path("trail/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/16")).unwrap();
    std::os::unix::fs::symlink(s.path("trail/AWSLogs"), day.join("loop")).unwrap();
    let locked = day.join("d_locked.json");
    std::fs::write(&locked, format!(r#"{{"Records":[{}]}}"#, rec("locked-1"))).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads a mode-000 file anyway: run trawl without the capabilities that allow it.
    let root = std::fs::File::open(&locked).is_ok();
    let setpriv = root && std::process::Command::new("setpriv").arg("--version").output().is_ok_and(|o| o.status.success());
    s.config(config_files());
    let run = || {
        let args = ["run", "--config", "config.toml", "--summary-json", "summary.json", "--quiet"];
        let out = if setpriv {
            std::process::Command::new("setpriv").args(["--bounding-set=-dac_override,-dac_read_search", env!("CARGO_BIN_EXE_trawl")]).args(args).current_dir(s.dir.path()).output().unwrap()
        } else {
            s.trawl(&args)
        };
        let summary: trawl::pipeline::RunSummary = serde_json::from_str(&std::fs::read_to_string(s.path("summary.json")).unwrap()).unwrap();
        (out, summary)
    };
    let (out, summary) = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("symlink loops back"), "{err}");
    let ids = |dir: &std::path::Path| -> Vec<String> { crate::common::ndjson_uids(dir).into_keys().collect() };
    if root && !setpriv {
        eprintln!("running as root without setpriv: the unreadable-file case cannot be made here; checked the rest");
        assert!(out.status.success(), "{err}");
        assert_eq!(ids(&s.path("out")), ["bom-1", "dir-link-1", "file-link-1", "locked-1"]);
        return;
    }
    assert_eq!(out.status.code(), Some(1), "the unreadable file is left for the next run: {err}");
    assert_eq!(summary.counts.objects_retry_later, 1);
    assert_eq!(ids(&s.path("out")), ["bom-1", "dir-link-1", "file-link-1"]);
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (out, summary) = run();
    assert!(out.status.success());
    assert_eq!(summary.counts.records_read, 1, "only the file that could not be read");
    assert_eq!(ids(&s.path("out")), ["bom-1", "dir-link-1", "file-link-1", "locked-1"]);
}

/// A record without an eventID still gets a uid — derived from its bytes, the same on every
/// run — and is counted and logged as a warning, not written silently with a null uid.
#[test]
fn a_record_without_an_event_id_gets_a_derived_uid_and_a_warning() {
    let s = Scratch::new();
    let day = s.path(DAY);
    std::fs::create_dir_all(&day).unwrap();
    let no_id = rec("x").replace(r#""eventID":"x","#, "");
    std::fs::write(day.join("a.json"), format!(r#"{{"Records":[{},{no_id}]}}"#, rec("with-id"))).unwrap();
    s.config(config_files());
    let (out, summary) = s.run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(summary.mapper_warnings, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("record has no eventID"), "{}", String::from_utf8_lossy(&out.stderr));
    let uids: Vec<String> = crate::common::ndjson_uids(&s.path("out")).into_keys().collect();
    assert_eq!(uids.len(), 2);
    assert!(uids.contains(&"with-id".to_string()));
    let derived = uids.iter().find(|u| u.starts_with("sha256:")).expect("a derived uid");
    use sha2::Digest;
    let want: String = sha2::Sha256::digest(no_id.as_bytes())[..16].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(derived, &format!("sha256:{want}"), "the SHA-256 of the record's exact bytes");
}
