//! Source `redshift_events` against the DescribeEvents wire fake (moto has no DescribeEvents;
//! the fake speaks awsQuery XML as aws-sdk-redshift does), with moto answering STS: rows land
//! and pass the OCSF check, a throttled reply is retried, `source_types` filters, kill -9 and
//! rerun gives every event once, `since` older than 14 days is clamped with a warning, and
//! `trawl check` names the action when denied.

use std::time::Duration;

use serde_json::Value;

use crate::{
    cloudwatch_alarms::golden_rows_checked,
    common::{
        Scratch,
        aws::Moto,
        fake_redshift::{RedshiftEvent, RedshiftFake},
        runs::{check_row, endpoints, events, kill_at_seeded_moments_then_rerun, moto_config, schema_check, stderr},
    },
};

/// Events of each source type and category, with messages as the Management Guide's event
/// table words them, copied `copies` times at recent times: the copies share their
/// milliseconds (three per millisecond), some on the 30-minute slice boundaries.
pub(crate) fn recent_events(now: i64, copies: usize) -> Vec<RedshiftEvent> {
    let base = (now - 3 * 3600) / 1800 * 1800 * 1000;
    let mut out = Vec::new();
    for c in 0..copies {
        let t = |step: i64| base + step * 450_000 + (c as i64 / 3) * 11;
        let cluster = format!("examplecluster-{c}");
        let ev = |step: i64, source_type: &str, source: String, cats: &[&str], severity: &str, id: &str, message: String| RedshiftEvent {
            source_identifier: source,
            source_type: source_type.into(),
            message,
            categories: cats.iter().map(|c| c.to_string()).collect(),
            severity: severity.into(),
            date_ms: t(step),
            event_id: id.into(),
        };
        out.push(ev(0, "cluster", cluster.clone(), &["management"], "INFO", "REDSHIFT-EVENT-2000", format!("Amazon Redshift cluster '{cluster}' has been created and is ready for use.")));
        out.push(ev(1, "cluster-parameter-group", format!("examplecluster-params-{c}"), &["management"], "INFO", "REDSHIFT-EVENT-1000", format!("The parameter group examplecluster-params-{c} was updated. Changes will be applied to the associated clusters when they are rebooted.")));
        out.push(ev(2, "cluster-security-group", format!("examplecluster-sg-{c}"), &["security"], "INFO", "REDSHIFT-EVENT-3000", format!("The security group examplecluster-sg-{c} was changed. Changes will be automatically applied to all associated clusters.")));
        out.push(ev(4, "cluster", cluster.clone(), &["monitoring"], "ERROR", "REDSHIFT-EVENT-3500", format!("A node on your Amazon Redshift cluster '{cluster}' failed and was automatically replaced.")));
        out.push(ev(5, "cluster-snapshot", format!("rs:{cluster}-2026-12-01-00-00"), &["management"], "INFO", "REDSHIFT-EVENT-2006", format!("Amazon Redshift snapshot 'rs:{cluster}-2026-12-01-00-00' was deleted.")));
        out.push(ev(6, "cluster", cluster.clone(), &["pending"], "INFO", "REDSHIFT-EVENT-3511", format!("A hardware update is required for one of the nodes of Amazon Redshift cluster '{cluster}'. It will be applied during the next maintenance window.")));
    }
    out
}

/// Whether the row is of copy 0's resources (its entity or resource is named `…-0`).
fn copy_zero(e: &Value) -> bool {
    let name = e["entity"]["name"].as_str().or(e["resources"][0]["name"].as_str()).unwrap();
    name.ends_with("-0") || name.contains("cluster-0-")
}

/// A connector on moto (for STS) with one `redshift_events` source routed to the fake.
fn config(moto: &Moto, rs_url: &str, source_extra: &str, pipeline: &str) -> String {
    let source = format!("type = \"redshift_events\"\nsince = \"1d\"\nsettle_seconds = 0\nslice_minutes = 30\nrequests_per_second = 50\n{source_extra}");
    moto_config(moto, "warehouse-account", "us-east-1", &endpoints("redshift", rs_url), &source, pipeline)
}

#[test]
fn events_land_checked_against_the_schema_and_a_rerun_adds_only_new_events() {
    let moto = Moto::start();
    let now = chrono::Utc::now().timestamp();
    let evs = recent_events(now, 4);
    let rs = RedshiftFake::start(evs.clone(), 3);
    // One throttled reply: the SDK's retry (and the source's backoff) must absorb it.
    rs.state.lock().unwrap().throttle = vec![2];
    let sc = Scratch::new();
    sc.config(&config(&moto, &rs.url(), "", ""));
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(rs.throttled.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(summary.counts.records_read, evs.len() as u64);
    assert!(summary.counts.reconciles());
    let rows = events(&sc.path("out"));
    assert_eq!(rows.len(), evs.len());
    schema_check(rows.values());
    // Per copy: created → Entity Management Create, updated → Update, security and the ERROR
    // → Detection Finding (the ERROR High), deleted → Delete, pending → Other.
    let mut kinds: Vec<(String, i64, i64, i64)> = rows.values().filter(|e| copy_zero(e)).map(|e| (e["metadata"]["event_code"].as_str().unwrap().to_string(), e["class_uid"].as_i64().unwrap(), e["activity_id"].as_i64().unwrap(), e["severity_id"].as_i64().unwrap())).collect();
    kinds.sort();
    let want: Vec<(String, i64, i64, i64)> = [("REDSHIFT-EVENT-1000", 3004, 3, 1), ("REDSHIFT-EVENT-2000", 3004, 1, 1), ("REDSHIFT-EVENT-2006", 3004, 4, 1), ("REDSHIFT-EVENT-3000", 2004, 1, 1), ("REDSHIFT-EVENT-3500", 2004, 1, 4), ("REDSHIFT-EVENT-3511", 3004, 99, 1)].iter().map(|(a, b, c, d)| (a.to_string(), *b, *c, *d)).collect();
    assert_eq!(kinds, want);

    // A rerun reads only what is new: events after the cursor, two on one millisecond.
    std::thread::sleep(Duration::from_millis(1100));
    let later = (chrono::Utc::now().timestamp() - 1) * 1000;
    let mut new = recent_events(now, 2)[..2].to_vec();
    for (i, e) in new.iter_mut().enumerate() {
        e.date_ms = later;
        e.source_identifier = format!("newcluster-{i}");
    }
    rs.state.lock().unwrap().events.extend(new.clone());
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary.counts.records_read, new.len() as u64, "only the new events are read");
    assert_eq!(events(&sc.path("out")).len(), evs.len() + new.len());
}

#[test]
fn a_kill_at_any_moment_then_a_rerun_gives_every_event_exactly_once() {
    let moto = Moto::start();
    let now = chrono::Utc::now().timestamp();
    let evs = recent_events(now, 6);
    let rs = RedshiftFake::start(evs.clone(), 2);
    let config = || config(&moto, &rs.url(), "", "commit_every_records = 4\nbatch_rows = 4");
    kill_at_seeded_moments_then_rerun("redshift_events", 0x7ed5_41f7, Duration::from_millis(1200), evs.len(), config, |d| rs.state.lock().unwrap().delay = d, |_, _| {});
}

#[test]
fn since_older_than_14_days_is_clamped_with_a_warning_and_source_types_filter() {
    let moto = Moto::start();
    let now = chrono::Utc::now().timestamp();
    let evs = recent_events(now, 2);
    let rs = RedshiftFake::start(evs.clone(), 50);
    let sc = Scratch::new();
    // Day-long slices: fourteen days in fifteen requests.
    sc.config(&config(&moto, &rs.url(), "source_types = [\"cluster\"]", "").replace("since = \"1d\"", "since = \"30d\"").replace("slice_minutes = 30", "slice_minutes = 1440"));
    let out = sc.trawl(&["run", "--config", "config.toml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("DescribeEvents keeps 14 days of events; starting 14 days ago instead"), "{}", stderr(&out));
    let first = rs.state.lock().unwrap().seen.iter().map(|s| s.0).min().unwrap();
    let horizon = (now - 14 * 86_400) * 1000;
    assert!(first >= horizon - 1000 && first < horizon + 120_000, "the first StartTime is 14 days ago, not 30: {first} vs {horizon}");
    let rows = events(&sc.path("out"));
    let clusters = evs.iter().filter(|e| e.source_type == "cluster").count();
    assert_eq!(rows.len(), clusters, "only the cluster events: {rows:#?}");
    assert!(rows.values().all(|e| e["unmapped"]["SourceType"] == "cluster"));
    schema_check(rows.values());
}

#[test]
fn check_names_the_redshift_action_when_denied() {
    let moto = Moto::start();
    let rs = RedshiftFake::start(recent_events(chrono::Utc::now().timestamp(), 1), 50);
    let sc = Scratch::new();
    sc.config(&config(&moto, &rs.url(), "", ""));
    let out = sc.trawl(&["check", "--config", "config.toml", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    rs.state.lock().unwrap().deny = true;
    let (code, row) = check_row(&sc, "redshift_events");
    assert_eq!(code, Some(1));
    assert_eq!(row["ok"], false);
    assert!(row["permission"].as_str().unwrap().contains("AmazonRedshiftReadOnlyAccess: redshift:DescribeEvents denied"), "{row}");
    let (out, summary) = sc.run();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(summary.counts.objects_retry_later, 1);
    assert!(summary.sources[0].error.as_deref().unwrap().contains("AccessDenied"), "{:?}", summary.sources[0].error);
}

/// Every event of the mapper's golden (`tests/golden/redshift_events/`, from the sample)
/// passes the strict OCSF check too.
#[test]
fn the_goldens_pass_the_schema_check() {
    assert_eq!(golden_rows_checked("redshift_events").len(), 7);
}
