//! Source `cloudwatch_alarms` against the CloudWatch wire fake (moto has no alarm history;
//! the fake speaks RPC v2 CBOR as aws-sdk-cloudwatch does), with moto answering STS: rows
//! land and pass the OCSF check, one finding uid per alarm episode, a throttled reply is
//! retried, kill -9 and rerun gives every item once, and `trawl check` names the policy.

use std::{collections::BTreeMap, time::Duration};

use serde_json::{Value, json};

use crate::common::{
    Scratch,
    aws::Moto,
    fake_cloudwatch::{Alarm, CloudWatchFake, HistoryItem},
    runs::{check_row, endpoints, events, kill_at_seeded_moments_then_rerun, moto_config, schema_check, stderr},
};

/// The CLI reference's `describe-alarm-history` example (alarm `myalarm` going to ALARM and
/// back to OK), with an action and a configuration update in the API's documented shapes,
/// copied for `alarms` alarms at recent times: three items per millisecond across alarms,
/// some on half-hour boundaries.
pub fn history(now: i64, alarms: usize) -> Vec<HistoryItem> {
    let base = (now - 3 * 3600) / 1800 * 1800 * 1000;
    let mut out = Vec::new();
    for a in 0..alarms {
        let name = format!("myalarm-{a}");
        // Alarms a, a+1, a+2 share their milliseconds; the fourth step lands on a boundary.
        let t = |step: i64| base + step * 450_000 + (a as i64 / 3) * 7;
        let (alarm, ok) = (t(1), t(4));
        let data_alarm = json!({"version":"1.0","oldState":{"stateValue":"OK","stateReason":"Threshold Crossed: 2 datapoints were not greater than the threshold (70.0). The most recent datapoints: [38.839999999999996, 39.714]."},"newState":{"stateValue":"ALARM","stateReason":"testing purposes"}});
        let data_ok = json!({"version":"1.0","oldState":{"stateValue":"ALARM","stateReason":"testing purposes"},"newState":{"stateValue":"OK","stateReason":"Threshold Crossed: 2 datapoints were not greater than the threshold (70.0). The most recent datapoints: [38.958, 40.292].","stateReasonData":{"version":"1.0","queryDate":"2014-04-09T18:59:06.419+0000","startDate":"2014-04-09T18:44:00.000+0000","statistic":"Average","period":300,"recentDatapoints":[38.958,40.292],"threshold":70.0}}});
        let topic = "arn:aws:sns:us-east-1:123456789012:myHighCpuAlarm";
        let data_action = json!({"actionState":"Succeeded","stateUpdateTimestamp":alarm,"notificationResource":topic,"publishedMessage":format!("{{\"AlarmName\":\"{name}\",\"NewStateValue\":\"ALARM\"}}")});
        let alarm_cfg = json!({"alarmName":name,"alarmArn":format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"),"namespace":"AWS/EC2","metricName":"CPUUtilization","statistic":"AVERAGE","period":300,"evaluationPeriods":2,"threshold":70.0,"comparisonOperator":"GREATER_THAN_THRESHOLD","alarmActions":[topic]});
        let data_cfg = json!({"version":"1.0","type":"Update","updatedAlarm":alarm_cfg,"originalUpdatedAlarm":alarm_cfg});
        let item = |time_ms, item_type: &str, summary: String, data: Value| HistoryItem { alarm_name: name.clone(), alarm_type: "MetricAlarm".into(), time_ms, item_type: item_type.into(), summary, data: data.to_string() };
        out.push(item(t(0), "ConfigurationUpdate", format!("Alarm \"{name}\" updated"), data_cfg));
        out.push(item(alarm, "StateUpdate", "Alarm updated from OK to ALARM".into(), data_alarm));
        out.push(item(alarm + 25, "Action", format!("Successfully executed action {topic}"), data_action));
        out.push(item(ok, "StateUpdate", "Alarm updated from ALARM to OK".into(), data_ok));
    }
    out
}

/// A connector on moto (for STS) with one `cloudwatch_alarms` source routed to the fake.
pub fn config(moto: &Moto, cw_url: &str, source_extra: &str, pipeline: &str) -> String {
    let source = format!("type = \"cloudwatch_alarms\"\nsince = \"1d\"\nsettle_seconds = 0\nrequests_per_second = 50\n{source_extra}");
    moto_config(moto, "alarm-account", "us-east-1", &endpoints("cloudwatch", cw_url), &source, pipeline)
}

#[test]
fn alarm_history_lands_as_findings_and_changes_checked_against_the_schema_and_a_rerun_adds_only_new_items() {
    let moto = Moto::start();
    let now = chrono::Utc::now().timestamp();
    let items = history(now, 5);
    let cw = CloudWatchFake::start(items.clone(), 3);
    // One throttled reply: the SDK's retry (and the source's backoff) must absorb it.
    cw.state.lock().unwrap().throttle = vec![2];
    let sc = Scratch::new();
    sc.config(&config(&moto, &cw.url(), "", ""));
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(cw.throttled.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(summary.counts.records_read, items.len() as u64);
    assert!(summary.counts.reconciles());
    let seen = cw.state.lock().unwrap().seen.clone();
    assert!(seen.iter().all(|s| s.3.as_deref() == Some("TimestampAscending")), "oldest first: {seen:?}");
    let rows = events(&sc.path("out"));
    assert_eq!(rows.len(), items.len());
    schema_check(rows.values());

    // Per alarm: a configuration change (Entity Management, Update), the episode opened
    // (Detection Finding, Create, New), its action (Update), then closed (Close, Resolved),
    // the three findings under one uid.
    let of = |alarm: &str| -> Vec<&Value> {
        let mut v: Vec<&Value> = rows.values().filter(|e| e["unmapped"]["AlarmName"] == alarm || e["finding_info"]["title"].as_str().is_some_and(|t| t.contains(&format!("\"{alarm}\""))) || e["entity"]["name"] == alarm).collect();
        v.sort_by_key(|e| e["time"].as_i64());
        v
    };
    for a in 0..5 {
        let name = format!("myalarm-{a}");
        let ev = of(&name);
        let kinds: Vec<(i64, i64)> = ev.iter().map(|e| (e["class_uid"].as_i64().unwrap(), e["activity_id"].as_i64().unwrap())).collect();
        assert_eq!(kinds, vec![(3004, 3), (2004, 1), (2004, 2), (2004, 3)], "{name}: {ev:#?}");
        let uids: Vec<&str> = ev[1..].iter().map(|e| e["finding_info"]["uid"].as_str().unwrap()).collect();
        assert!(uids.iter().all(|u| *u == uids[0]), "{name}: one finding uid per episode: {uids:?}");
        assert_eq!((ev[1]["status"].as_str(), ev[3]["status"].as_str()), (Some("New"), Some("Resolved")));
        assert_eq!(ev[0]["entity"]["uid"], format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"));
    }

    // A rerun reads only what is new: a second episode of one alarm, one item on the
    // cursor's millisecond. Its finding uid is another.
    std::thread::sleep(Duration::from_millis(1100));
    let later = (chrono::Utc::now().timestamp() - 1) * 1000;
    let mut new = history(now, 1);
    new.retain(|i| i.item_type == "StateUpdate");
    for (k, i) in new.iter_mut().enumerate() {
        i.time_ms = later + k as i64;
    }
    cw.state.lock().unwrap().items.extend(new.clone());
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary.counts.records_read, new.len() as u64, "only the new items are read");
    let after = events(&sc.path("out"));
    assert_eq!(after.len(), items.len() + new.len());
    let episodes: std::collections::BTreeSet<&str> = after.values().filter(|e| e["class_uid"] == 2004 && e["finding_info"]["uid"].as_str().unwrap().contains("myalarm-0@")).map(|e| e["finding_info"]["uid"].as_str().unwrap()).collect();
    assert_eq!(episodes.len(), 2, "a second episode is a second finding: {episodes:?}");
}

#[test]
fn a_kill_at_any_moment_then_a_rerun_gives_every_item_exactly_once() {
    let moto = Moto::start();
    let now = chrono::Utc::now().timestamp();
    let items = history(now, 9);
    let cw = CloudWatchFake::start(items.clone(), 2);
    let config = || config(&moto, &cw.url(), "", "commit_every_records = 4\nbatch_rows = 4");
    kill_at_seeded_moments_then_rerun("cloudwatch_alarms", 0x0a1a_2b3c, Duration::from_millis(1200), items.len(), config, |d| cw.state.lock().unwrap().delay = d, |trial, after| {
        // The episodes survive the kill: each alarm's findings still share one uid.
        let mut by_alarm: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        for e in after.values().filter(|e| e["class_uid"] == 2004) {
            let uid = e["finding_info"]["uid"].as_str().unwrap();
            by_alarm.entry(uid.split('@').next().unwrap().to_string()).or_default().insert(uid.to_string());
        }
        assert!(by_alarm.values().all(|u| u.len() == 1), "trial {trial}: {by_alarm:#?}");
    });
}

#[test]
fn item_types_filter_current_alarms_and_check_names_the_policy_when_denied() {
    let moto = Moto::start();
    let now = chrono::Utc::now().timestamp();
    let items = history(now, 2);
    let cw = CloudWatchFake::start(items.clone(), 50);
    let opened = items.iter().find(|i| i.summary.contains("to ALARM")).unwrap().time_ms;
    cw.state.lock().unwrap().alarms = vec![Alarm { name: "myalarm-0".into(), arn: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:myalarm-0".into(), reason: "testing purposes".into(), transitioned_ms: opened }];
    let sc = Scratch::new();
    sc.config(&config(&moto, &cw.url(), "history_item_types = [\"StateUpdate\"]\ncurrent_alarms = true", ""));
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = events(&sc.path("out"));
    schema_check(rows.values());
    let states = items.iter().filter(|i| i.item_type == "StateUpdate").count();
    assert_eq!(rows.len(), states + 1, "the state updates and the one alarm in ALARM now: {rows:#?}");
    assert_eq!(summary.counts.records_read, states as u64 + 1);
    let current: Vec<&Value> = rows.values().filter(|e| e["class_uid"] == 2004 && e["activity_id"] == 2).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["status"], "New");
    let created = rows.values().find(|e| e["activity_id"] == 1 && e["finding_info"]["uid"] == current[0]["finding_info"]["uid"]);
    assert!(created.is_some(), "the alarm now in ALARM is the finding its history opened: {current:#?}");

    let out = sc.trawl(&["check", "--config", "config.toml", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    cw.state.lock().unwrap().deny = true;
    // The history lane reads up to the last whole second; in the second its cursor stands at
    // (the first run's end) there is nothing to ask for yet.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, row) = check_row(&sc, "cloudwatch_alarms");
    assert_eq!(code, Some(1));
    assert_eq!(row["ok"], false);
    assert!(row["permission"].as_str().unwrap().contains("CloudWatchReadOnlyAccess: cloudwatch:DescribeAlarmHistory denied"), "{row}");
    let (out, summary) = sc.run();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(summary.counts.objects_retry_later, 2, "the history page and the current alarms, each left for the next run");
    let error = summary.sources[0].error.as_deref().unwrap();
    assert!(error.contains("DescribeAlarmHistory") && error.contains("DescribeAlarms in") && error.contains("AccessDenied"), "{error}");
}

/// The wire format is what the SDK parses: a passthrough run writes every item's fields.
#[test]
fn the_sdk_reads_the_fakes_cbor() {
    let moto = Moto::start();
    let now = chrono::Utc::now().timestamp();
    let items = history(now, 1);
    let cw = CloudWatchFake::start(items.clone(), 3);
    let sc = Scratch::new();
    sc.config(&config(&moto, &cw.url(), "mapper = \"builtin:passthrough\"", ""));
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary.counts.records_read, items.len() as u64);
    let mut raws: Vec<Value> = Vec::new();
    for f in walkdir::WalkDir::new(sc.path("out")).into_iter().map(|e| e.unwrap()).filter(|f| f.file_type().is_file() && f.path().to_string_lossy().ends_with(".json")) {
        for line in std::fs::read_to_string(f.path()).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            raws.push(serde_json::from_str(v["raw"].as_str().unwrap()).unwrap());
        }
    }
    raws.sort_by_key(|r| r["Timestamp"].as_str().unwrap().to_string());
    let first = &raws[0];
    assert_eq!(first["AlarmName"], "myalarm-0");
    assert_eq!(first["HistoryItemType"], "ConfigurationUpdate");
    assert_eq!(first["HistoryData"]["type"], "Update", "HistoryData decoded: {first}");
    let t = chrono::DateTime::from_timestamp_millis(items[0].time_ms).unwrap().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    assert_eq!(first["Timestamp"], t);
}

/// The events of the goldens in `dir` (under `tests/golden/`), by metadata.uid, each passing
/// the strict OCSF check.
pub fn golden_rows_checked(dir: &str) -> BTreeMap<String, Value> {
    let mut rows = BTreeMap::new();
    for g in std::fs::read_dir(crate::common::repo().join("tests/golden").join(dir)).unwrap() {
        let golden: Value = serde_json::from_str(&std::fs::read_to_string(g.unwrap().path()).unwrap()).unwrap();
        for e in golden.as_array().unwrap().iter().flat_map(|r| r["events"].as_array().unwrap()) {
            rows.insert(e["metadata"]["uid"].as_str().unwrap().to_string(), e.clone());
        }
    }
    schema_check(rows.values());
    rows
}

/// Every event of the mapper's goldens (`tests/golden/cloudwatch_alarms/`, from the samples)
/// passes the strict OCSF check too.
#[test]
fn the_goldens_pass_the_schema_check() {
    assert_eq!(golden_rows_checked("cloudwatch_alarms").len(), 7);
}
