//! Source `guardduty` against the GuardDuty wire fake (moto has no findings), with moto
//! answering STS: schema-valid rows, archived findings left out, an updated finding written
//! again as an Update, a throttled reply absorbed, exact resumption after kill -9, and
//! `trawl check` naming the managed policy when denied.

use std::{sync::atomic::Ordering, time::Duration};

use serde_json::{Value, json};
use trawl::mapper::BatchMapper;

use crate::common::{
    Scratch,
    aws::Moto,
    fake_guardduty::{DETECTOR, GuardDutyFake, sample_batch, sample_findings, updated_ms},
    runs::{check_row, endpoints, events, kill_at_seeded_moments_then_rerun, moto_config, schema_check, stderr},
};

/// RFC 3339 with milliseconds, as GuardDuty writes times.
fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The sample findings moved to recent times (keeping their spacing, so two still share a
/// millisecond), `copies` times with their own ids.
pub(crate) fn recent_findings(now_ms: i64, copies: usize) -> Vec<Value> {
    let samples = sample_findings();
    let last = samples.iter().map(updated_ms).max().unwrap();
    let shift = now_ms - 3_600_000 - last;
    let mut out = Vec::new();
    for copy in 0..copies {
        for f in &samples {
            let mut f = f.clone();
            for path in [&["createdAt"][..], &["updatedAt"], &["service", "eventFirstSeen"], &["service", "eventLastSeen"]] {
                let v = path.iter().fold(&mut f, |v, k| &mut v[*k]);
                let ms = chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().timestamp_millis();
                // Copies a minute apart, each keeping the samples' shared millisecond.
                *v = json!(iso(ms + shift - copy as i64 * 60_000));
            }
            if copy > 0 {
                let id = f["id"].as_str().unwrap().replace("example", &format!("copy{copy:03}"));
                f["arn"] = json!(f["arn"].as_str().unwrap().replace(f["id"].as_str().unwrap(), &id));
                f["id"] = json!(id);
            }
            out.push(f);
        }
    }
    out
}

/// A connector on moto (for STS) with GuardDuty routed to the fake.
fn config(moto: &Moto, gd: &GuardDutyFake, source_extra: &str, pipeline: &str) -> String {
    let source = format!("type = \"guardduty\"\nsince = \"1d\"\nsettle_seconds = 0\nrequests_per_second = 100\n{source_extra}");
    moto_config(moto, "findings-account", "us-east-1", &endpoints("guardduty", &gd.url()), &source, pipeline)
}

fn uid_of(f: &Value) -> String {
    format!("{}/{}", f["id"].as_str().unwrap(), f["updatedAt"].as_str().unwrap())
}

#[test]
fn findings_land_schema_valid_without_archived_and_an_updated_finding_is_written_as_an_update() {
    let moto = Moto::start();
    let now = chrono::Utc::now().timestamp_millis();
    let findings = recent_findings(now, 1);
    let gd = GuardDutyFake::start(findings.clone(), 2);
    // One throttled reply (ListFindings' second page): the SDK's retry absorbs it.
    gd.state.lock().unwrap().throttle = vec![3];
    let sc = Scratch::new();
    sc.config(&config(&moto, &gd, "", ""));
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(gd.throttled.load(Ordering::SeqCst), 1);
    let live: Vec<&Value> = findings.iter().filter(|f| f["service"]["archived"] != true).collect();
    assert_eq!(live.len(), 5, "one sample is archived");
    assert_eq!(summary.counts.records_read, live.len() as u64);
    assert!(summary.counts.reconciles());
    let got = events(&sc.path("out"));
    let want: Vec<String> = live.iter().map(|f| uid_of(f)).collect();
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), { let mut w = want.clone(); w.sort(); w }, "every live finding once, the archived one left out");
    schema_check(got.values());
    assert!(got.values().all(|e| e["class_uid"] == 2004), "every row a Detection Finding: {got:#?}");
    for q in &gd.state.lock().unwrap().seen {
        assert_eq!(q["findingCriteria"]["criterion"]["service.archived"], json!({ "equals": ["false"] }), "the query leaves archived findings out: {q}");
        assert_eq!(q["sortCriteria"], json!({ "attributeName": "updatedAt", "orderBy": "ASC" }), "sorted by updatedAt ascending: {q}");
    }

    // GuardDuty sees the SSH brute force again: same id, count 2, a new updatedAt. And a new
    // finding arrives. The rerun reads just those two, from the cursor.
    std::thread::sleep(Duration::from_millis(20));
    let later = chrono::Utc::now().timestamp_millis() - 5;
    let (updated, new) = {
        let mut st = gd.state.lock().unwrap();
        let f = st.findings.iter_mut().find(|f| f["type"] == "UnauthorizedAccess:EC2/SSHBruteForce").unwrap();
        f["service"]["count"] = json!(2);
        f["updatedAt"] = json!(iso(later));
        f["service"]["eventLastSeen"] = json!(iso(later - 1000));
        let updated = f.clone();
        let mut new = st.findings[0].clone();
        new["id"] = json!("eab92989eaf0e742df4a014d5example");
        new["service"]["count"] = json!(1);
        new["createdAt"] = json!(iso(later));
        new["updatedAt"] = json!(iso(later));
        st.findings.push(new.clone());
        (updated, new)
    };
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary.counts.records_read, 2, "only the update and the new finding are read");
    let got = events(&sc.path("out"));
    assert_eq!(got.len(), live.len() + 2);
    let first = &got[&uid_of(live.iter().find(|f| f["id"] == updated["id"]).unwrap())];
    let again = &got[&uid_of(&updated)];
    assert_eq!((first["activity_name"].as_str(), again["activity_name"].as_str()), (Some("Create"), Some("Update")));
    assert_eq!(first["finding_info"]["uid"], again["finding_info"]["uid"], "one finding, two sightings");
    assert_eq!(again["count"], 2);
    assert_eq!(got[&uid_of(&new)]["activity_name"], "Create");
    let from = gd.state.lock().unwrap().seen.last().unwrap()["findingCriteria"]["criterion"]["updatedAt"]["greaterThanOrEqual"].as_i64().unwrap();
    assert!(from >= now - 3_600_000, "the rerun queried from the cursor, not from since");

    // include_archived reads the archived one too (another source id, so its own cursor).
    let sc = Scratch::new();
    sc.config(&config(&moto, &gd, "include_archived = true", ""));
    let (out, _) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    let got = events(&sc.path("out"));
    let archived = findings.iter().find(|f| f["service"]["archived"] == true).unwrap();
    assert_eq!(got[&uid_of(archived)]["status"], "Suppressed");
}

/// GuardDuty updates a finding between the run's ListFindings and GetFindings: the run must
/// not take its new state (that would move the cursor past findings not listed yet); the next
/// run writes it, once, at its new updatedAt.
#[test]
fn a_finding_updated_while_the_run_pages_costs_nothing_and_is_written_by_the_next_run() {
    let moto = Moto::start();
    let findings: Vec<Value> = recent_findings(chrono::Utc::now().timestamp_millis(), 2).into_iter().filter(|f| f["service"]["archived"] != true).collect();
    let gd = GuardDutyFake::start(findings.clone(), 2);
    let racing = findings.iter().min_by_key(|f| updated_ms(f)).unwrap()["id"].as_str().unwrap().to_string();
    gd.state.lock().unwrap().update_on_get = vec![racing.clone()];
    let sc = Scratch::new();
    sc.config(&config(&moto, &gd, "", ""));
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary.counts.records_read as usize, findings.len() - 1, "every other finding, though the first page's was updated under the run");
    let got = events(&sc.path("out"));
    assert!(got.keys().all(|u| !u.starts_with(&racing)), "the racing finding's new state waits for the next run");
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary.counts.records_read, 1);
    let got = events(&sc.path("out"));
    assert_eq!(got.len(), findings.len());
    let now_state = gd.state.lock().unwrap().findings.iter().find(|f| f["id"] == racing).unwrap().clone();
    assert_eq!(got[&uid_of(&now_state)]["activity_name"], "Update", "its count went up");
}

#[test]
fn a_kill_at_any_moment_then_a_rerun_gives_every_finding_exactly_once() {
    let moto = Moto::start();
    let now = chrono::Utc::now().timestamp_millis();
    let findings: Vec<Value> = recent_findings(now, 6).into_iter().filter(|f| f["service"]["archived"] != true).collect();
    let gd = GuardDutyFake::start(findings.clone(), 3);
    let mut want: Vec<String> = findings.iter().map(uid_of).collect();
    want.sort();
    let config = || config(&moto, &gd, "", "commit_every_records = 3\nbatch_rows = 3");
    kill_at_seeded_moments_then_rerun("guardduty", 0x6d_5eed, Duration::from_millis(1200), findings.len(), config, |d| gd.state.lock().unwrap().delay = d, |trial, after| {
        assert_eq!(after.keys().cloned().collect::<Vec<_>>(), want, "trial {trial}: every finding once, by its uid");
    });
}

#[test]
fn check_names_the_managed_policy_when_denied_and_a_denied_run_keeps_its_cursor() {
    let moto = Moto::start();
    let gd = GuardDutyFake::start(recent_findings(chrono::Utc::now().timestamp_millis(), 1), 50);
    let sc = Scratch::new();
    sc.config(&config(&moto, &gd, "", ""));
    let (code, row) = check_row(&sc, "guardduty");
    assert_eq!(code, Some(0), "{row}");
    assert!(row["detail"].as_str().unwrap().contains(DETECTOR), "check names the detector it found: {row}");
    gd.state.lock().unwrap().deny = true;
    let (code, row) = check_row(&sc, "guardduty");
    assert_eq!(code, Some(1));
    assert_eq!(row["ok"], false);
    assert!(row["permission"].as_str().unwrap().contains("AmazonGuardDutyReadOnlyAccess: guardduty:ListDetectors denied"), "{row}");

    // Named detector: the run's ListFindings is denied; the page is left for the next run.
    let sc = Scratch::new();
    sc.config(&config(&moto, &gd, &format!("detectors = [\"{DETECTOR}\"]"), ""));
    let (out, summary) = sc.run();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(summary.counts.objects_retry_later, 1);
    assert!(summary.sources[0].error.as_deref().unwrap().contains("AmazonGuardDutyReadOnlyAccess"), "{:?}", summary.sources[0].error);
    gd.state.lock().unwrap().deny = false;
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary.counts.records_read, 5, "the next run reads what the denied one could not");
}

/// The samples through the embedded mapper: every row passes the strict schema check, and
/// the mapping of each action and resource type is the documented one.
#[test]
fn the_mapper_maps_every_sample_by_the_schema() {
    let batch = sample_batch("findings-account");
    let mapped = crate::golden::load_builtin("guardduty").map(&batch).unwrap();
    let rows = mapped.to_json(&batch);
    let events: Vec<&Value> = rows.as_array().unwrap().iter().map(|r| {
        assert_eq!(r["status"], "ok", "{r}");
        &r["events"][0]
    }).collect();
    assert_eq!(events.len(), sample_findings().len());
    schema_check(events.iter().copied());
    let by_type = |t: &str| *events.iter().find(|e| e["finding_info"]["types"][0] == t).unwrap();
    let api = by_type("Recon:IAMUser/UserPermissions");
    assert_eq!((api["severity"].as_str(), api["activity_name"].as_str()), (Some("Medium"), Some("Update")), "severity 5, count 5");
    assert_eq!(api["api"]["operation"], "ListPolicyVersions");
    assert_eq!(api["evidences"][0]["src_endpoint"]["ip"], "198.51.100.0");
    assert_eq!(api["resources"][0]["type"], "AwsIamAccessKey");
    let ssh = by_type("UnauthorizedAccess:EC2/SSHBruteForce");
    assert_eq!((ssh["severity"].as_str(), ssh["activity_name"].as_str()), (Some("Low"), Some("Create")));
    assert_eq!(ssh["evidences"][0]["src_endpoint"]["ip"], "198.51.100.23", "inbound: the remote address is the source");
    assert_eq!(ssh["evidences"][0]["dst_endpoint"]["port"], 22);
    assert_eq!(ssh["resources"][0]["uid"], "arn:aws:ec2:us-east-1:111122223333:instance/i-99999999");
    assert_eq!(by_type("Recon:EC2/PortProbeUnprotectedPort")["evidences"].as_array().unwrap().len(), 2, "one evidence per probe");
    let dns = by_type("CryptoCurrency:EC2/BitcoinTool.B!DNS");
    assert_eq!((dns["severity"].as_str(), dns["evidences"][0]["query"]["hostname"].as_str()), (Some("High"), Some("pool.bitcoin.example.com")));
    let s3 = by_type("Discovery:S3/MaliciousIPCallerCustom");
    let types: Vec<&str> = s3["resources"].as_array().unwrap().iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["AwsIamAccessKey", "AwsS3Bucket"]);
    assert_eq!(by_type("Policy:Kubernetes/AnonymousAccessGranted")["status"], "Suppressed");
}
