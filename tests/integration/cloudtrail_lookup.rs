//! Source `cloudtrail_lookup` against the LookupEvents wire fake (moto has no LookupEvents),
//! with moto answering STS: the same rows as the trail-file path, exact resumption after
//! kill -9, throttling, routing by `endpoints` and by `AWS_ENDPOINT_URL_CLOUDTRAIL`, and
//! `trawl check`.

use crate::common::watchdog::OutputWithin;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{
    Scratch,
    aws::{ACCOUNT, Moto},
    fakes::{CloudTrailFake, LookupEvent},
    input_records,
    runs::{check_row, endpoints, events, kill_at_seeded_moments_then_rerun, moto_config, stderr},
    sample_trail,
};

/// Management events built from the sample trail's records (which follow the CloudTrail User
/// Guide's examples), five copies each with their own eventID, at recent times: three per
/// second, some exactly on the 30-minute slice boundaries the configs below use.
pub(crate) fn recent_records(now: i64) -> Vec<Value> {
    let base = (now - 3 * 3600) / 1800 * 1800;
    let mut out = Vec::new();
    let management: Vec<Value> = input_records(&sample_trail()).into_iter().filter(|r| r["managementEvent"].as_bool().unwrap_or(true)).collect();
    for _copy in 0..5 {
        for r in &management {
            let mut r = r.clone();
            let i = out.len() as i64;
            let t = chrono::DateTime::from_timestamp(base + (i / 3) * 450, 0).unwrap();
            r["eventTime"] = json!(t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            let id = r["eventID"].as_str().unwrap();
            r["eventID"] = json!(format!("{}{i:04}", &id[..id.len() - 4]));
            out.push(r);
        }
    }
    out
}

/// A connector on moto (for STS) with the given source and extra connector keys.
fn config(moto: &Moto, connector_extra: &str, source_extra: &str, pipeline: &str) -> String {
    let source = format!("type = \"cloudtrail_lookup\"\nsince = \"1d\"\nsettle_seconds = 0\nslice_minutes = 30\nrequests_per_second = 50\n{source_extra}");
    moto_config(moto, "lookup-account", "us-east-1", connector_extra, &source, pipeline)
}

#[test]
fn lookup_events_land_the_same_rows_as_the_trail_file_and_a_rerun_adds_only_new_events() {
    let moto = Moto::start();
    let now = chrono::Utc::now().timestamp();
    let records = recent_records(now);
    let ct = CloudTrailFake::start(records.iter().map(LookupEvent::from_record).collect(), 7);
    // One throttled reply: the SDK's retry (and the source's backoff) must absorb it.
    ct.state.lock().unwrap().throttle = vec![2];
    let sc = Scratch::new();
    sc.config(&config(&moto, &endpoints("cloudtrail", &ct.url()), "", ""));
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ct.throttled.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(summary.counts.records_read, records.len() as u64);
    assert!(summary.counts.reconciles());
    let via_api = events(&sc.path("out"));
    assert_eq!(via_api.len(), records.len());

    // The same records in a trail file, read by cloudtrail_files: identical rows.
    let files = Scratch::new();
    let day = chrono::DateTime::from_timestamp(now, 0).unwrap().format("%Y/%m/%d");
    let dir = files.path(&format!("trail/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/{day}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{ACCOUNT}_CloudTrail_us-east-1_x.json")), json!({ "Records": records }).to_string()).unwrap();
    files.config(
        r#"
[state]
dir = "state"
[[connectors]]
name = "lookup-account"
region = "us-east-1"
[[connectors.sources]]
type = "cloudtrail_files"
path = "trail"
[[outputs]]
type = "ndjson"
path = "out"
"#,
    );
    let (out, _) = files.run();
    assert!(out.status.success(), "{}", stderr(&out));
    let via_file = events(&files.path("out"));
    assert_eq!(via_api, via_file, "LookupEvents and the trail file give the same OCSF rows");

    // A rerun reads only what is new: events after the cursor, one at the cursor's second.
    std::thread::sleep(Duration::from_millis(1100));
    let later = chrono::Utc::now().timestamp() - 1;
    let mut new = recent_records(now)[..4].to_vec();
    for (i, r) in new.iter_mut().enumerate() {
        r["eventTime"] = json!(chrono::DateTime::from_timestamp(later, 0).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string());
        r["eventID"] = json!(format!("11111111-2222-4333-8444-5555555555{i:02}"));
    }
    ct.state.lock().unwrap().events.extend(new.iter().map(LookupEvent::from_record));
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary.counts.records_read, new.len() as u64, "only the new events are read");
    assert_eq!(events(&sc.path("out")).len(), records.len() + new.len());
    // Resumed from the cursor, not from `since`: no query starts before the first run's end.
    let first_start = ct.state.lock().unwrap().seen.iter().map(|s| s.0).min().unwrap();
    assert!(first_start < now - 3 * 3600, "the first run started at since");
}

#[test]
fn a_kill_at_any_moment_then_a_rerun_gives_every_event_exactly_once() {
    let moto = Moto::start();
    let now = chrono::Utc::now().timestamp();
    let records = recent_records(now);
    let ct = CloudTrailFake::start(records.iter().map(LookupEvent::from_record).collect(), 3);
    // Seeded kill points: after the first commit (the compile of the mapper comes first), then
    // somewhere in the rest of the run (about 35 requests × 60 ms).
    let config = || config(&moto, &endpoints("cloudtrail", &ct.url()), "", "commit_every_records = 4\nbatch_rows = 4");
    kill_at_seeded_moments_then_rerun("cloudtrail_lookup", 0x5eed_1234, Duration::from_millis(1500), records.len(), config, |d| ct.state.lock().unwrap().delay = d, |_, _| {});
}

#[test]
fn the_environment_routes_cloudtrail_and_check_names_the_policy_when_denied() {
    let moto = Moto::start();
    let now = chrono::Utc::now().timestamp();
    let records = recent_records(now);
    let ct = CloudTrailFake::start(records.iter().map(LookupEvent::from_record).collect(), 50);
    let sc = Scratch::new();
    sc.config(&config(&moto, "", "", ""));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trawl"))
        .args(["run", "--config", "config.toml", "--quiet"])
        .current_dir(sc.dir.path())
        .env("AWS_ENDPOINT_URL_CLOUDTRAIL", ct.url())
        .output_within_limit();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(events(&sc.path("out")).len(), records.len());
    assert!(ct.requests.load(std::sync::atomic::Ordering::SeqCst) > 0, "the calls went to the fake");

    let sc = Scratch::new();
    sc.config(&config(&moto, &endpoints("cloudtrail", &ct.url()), "", ""));
    let out = sc.trawl(&["check", "--config", "config.toml", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    ct.state.lock().unwrap().deny = true;
    let (code, row) = check_row(&sc, "cloudtrail_lookup");
    assert_eq!(code, Some(1));
    assert_eq!(row["ok"], false);
    assert!(row["permission"].as_str().unwrap().contains("AWSCloudTrailReadOnlyAccess: cloudtrail:LookupEvents denied"), "{row}");
    // A denied run keeps the lane where it was and says so.
    let (out, summary) = sc.run();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(summary.counts.objects_retry_later, 1);
    assert!(summary.sources[0].error.as_deref().unwrap().contains("AccessDenied"), "{:?}", summary.sources[0].error);
}
