//! Source `cloudwatch_logs` against moto (CreateLogGroup, CreateLogStream, PutLogEvents,
//! DescribeLogGroups, FilterLogEvents), with a wire proxy in front of moto for what moto
//! cannot do — throttle, deny, answer slowly — that passes every other call on: a trail
//! delivered to CloudWatch Logs through `builtin:cloudtrail` (schema-checked), a plain group
//! through passthrough, flow logs and Redshift's groups through their mappers, several events
//! per millisecond, the settle window and late events, kill -9 and rerun, throttling, and
//! `trawl check` when denied.

use std::{
    collections::BTreeMap,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use serde_json::Value;
use trawl::aws::runtime;

use crate::common::{
    Scratch,
    aws::{ACCOUNT, Moto},
    fakes::{Reply, Request, WireFake, forward},
    input_records,
    runs::{check_row, endpoints, events as ocsf_rows, moto_config, rows_by, schema_check, stderr},
    sample_trail,
};

fn logs(moto: &Moto) -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::new(&moto.sdk())
}

pub(crate) fn create_group(moto: &Moto, group: &str, streams: &[&str]) {
    let l = logs(moto);
    runtime().block_on(l.create_log_group().log_group_name(group).send()).unwrap();
    for s in streams {
        runtime().block_on(l.create_log_stream().log_group_name(group).log_stream_name(*s).send()).unwrap();
    }
}

/// Puts `(timestamp ms, message)` events into a stream, in one PutLogEvents call (which wants
/// them in time order).
pub(crate) fn put(moto: &Moto, group: &str, stream: &str, events: &[(i64, String)]) {
    let mut events = events.to_vec();
    events.sort_by_key(|e| e.0);
    let l = logs(moto);
    let mut req = l.put_log_events().log_group_name(group).log_stream_name(stream);
    for (t, m) in events {
        req = req.log_events(InputLogEvent::builder().timestamp(t).message(m).build().unwrap());
    }
    let out = runtime().block_on(req.send()).unwrap();
    assert!(out.rejected_log_events_info().is_none(), "moto rejected some events: {:?}", out.rejected_log_events_info());
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What the proxy in front of moto does besides passing calls on.
#[derive(Default)]
struct ProxyState {
    /// FilterLogEvents calls (1-based) answered with a ThrottlingException.
    throttle: Vec<usize>,
    /// Operations answered with an AccessDeniedException.
    deny: Vec<&'static str>,
    /// Added before each FilterLogEvents answer.
    delay: Duration,
}

/// A wire proxy in front of moto: CloudWatch Logs speaks JSON 1.1 (`X-Amz-Target:
/// Logs_20140328.<Operation>`), and throttling and denials are answered in it the way the
/// service does (HTTP 400, `__type` naming the error).
struct LogsProxy {
    fake: WireFake,
    state: Arc<Mutex<ProxyState>>,
    filter_calls: Arc<AtomicUsize>,
    throttled: Arc<AtomicUsize>,
}

impl LogsProxy {
    fn start(moto: &Moto) -> Self {
        let port = moto.port;
        let state: Arc<Mutex<ProxyState>> = Arc::default();
        let (filter_calls, throttled) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (st, calls, thr) = (state.clone(), filter_calls.clone(), throttled.clone());
        let fake = WireFake::start(move |req: &Request| {
            let op = req.header("x-amz-target").and_then(|t| t.strip_prefix("Logs_20140328.")).unwrap_or("").to_string();
            let (deny, delay, throttle) = {
                let s = st.lock().unwrap();
                let n = if op == "FilterLogEvents" { calls.fetch_add(1, Ordering::SeqCst) + 1 } else { 0 };
                (s.deny.contains(&op.as_str()), s.delay, n > 0 && s.throttle.contains(&n))
            };
            let error = |kind: &str, message: String| Reply::new("400 Bad Request", "application/x-amz-json-1.1", serde_json::json!({ "__type": kind, "message": message }).to_string());
            if deny {
                return error("AccessDeniedException", format!("User: arn:aws:iam::{ACCOUNT}:user/reader is not authorized to perform: logs:{op} because no identity-based policy allows the logs:{op} action"));
            }
            if throttle {
                thr.fetch_add(1, Ordering::SeqCst);
                return error("ThrottlingException", "Rate exceeded".into());
            }
            if op == "FilterLogEvents" {
                std::thread::sleep(delay);
            }
            forward(port, req)
        });
        LogsProxy { fake, state, filter_calls, throttled }
    }

    fn url(&self) -> String {
        self.fake.url()
    }
}

/// A connector on moto with one `cloudwatch_logs` source, its calls routed to `logs_url` (the
/// proxy in front of moto) when given.
fn config(moto: &Moto, logs_url: Option<&str>, source: &str, pipeline: &str) -> String {
    let routed = logs_url.map(|u| endpoints("cloudwatch_logs", u)).unwrap_or_default();
    moto_config(moto, "logs-account", "us-east-1", &routed, &format!("type = \"cloudwatch_logs\"\nrequests_per_second = 50\n{source}"), pipeline)
}

/// Passthrough rows, by object (which names the event).
fn raw_rows(dir: &Path) -> BTreeMap<String, Value> {
    rows_by(dir, |v| v["object"].as_str().unwrap().to_string())
}

/// The sample trail's records as a trail delivers them to CloudWatch Logs (one record JSON per
/// event, in the stream `<account>_CloudTrail_<region>`), three to a millisecond.
pub(crate) fn trail_events(base: i64) -> Vec<(i64, String)> {
    input_records(&sample_trail()).iter().enumerate().map(|(i, r)| (base + i as i64 / 3, r.to_string())).collect()
}

#[test]
fn a_trail_in_cloudwatch_logs_lands_as_ocsf_through_paged_throttled_reads_and_a_rerun_reads_only_new_events() {
    let moto = Moto::start();
    let group = "aws-cloudtrail-logs-123456789012-trail";
    let stream = format!("{ACCOUNT}_CloudTrail_us-east-1");
    create_group(&moto, group, &[&stream]);
    let events = trail_events(now_ms() - 3_600_000);
    put(&moto, group, &stream, &events);
    let proxy = LogsProxy::start(&moto);
    // One throttled reply: the source's backoff (after the SDK's own retries) absorbs it.
    proxy.state.lock().unwrap().throttle = vec![2];
    let sc = Scratch::new();
    // Pages of 4 split the milliseconds (3 events each) across pages.
    let source = "log_groups = [\"aws-cloudtrail-logs-*\"]\nmapper = \"builtin:cloudtrail\"\nsettle_seconds = 0\npage_events = 4";
    sc.config(&config(&moto, Some(&proxy.url()), source, ""));
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(proxy.throttled.load(Ordering::SeqCst) >= 1, "the throttled reply was sent");
    assert!(proxy.filter_calls.load(Ordering::SeqCst) > events.len() / 4, "paged by 4");
    assert_eq!(summary.counts.records_read, events.len() as u64);
    assert!(summary.counts.reconciles());
    let got = ocsf_rows(&sc.path("out"));
    let mut want: Vec<String> = input_records(&sample_trail()).iter().map(|r| r["eventID"].as_str().unwrap().to_string()).collect();
    want.sort();
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), want, "every record once, by its eventID");
    schema_check(got.values());
    // The same rows as the same records in a trail file give through cloudtrail_files.
    let files = Scratch::new();
    let dir = files.path(&format!("trail/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/01/15"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{ACCOUNT}_CloudTrail_us-east-1_20240115T1000Z_x.json")), serde_json::json!({ "Records": input_records(&sample_trail()) }).to_string()).unwrap();
    files.config("[state]\ndir = \"state\"\n[[connectors]]\nname = \"logs-account\"\nregion = \"us-east-1\"\n[[connectors.sources]]\ntype = \"cloudtrail_files\"\npath = \"trail\"\n[[outputs]]\ntype = \"ndjson\"\npath = \"out\"\n");
    let (out, _) = files.run();
    assert!(out.status.success(), "{}", stderr(&out));
    let by_file = ocsf_rows(&files.path("out"));
    assert_eq!(got.keys().collect::<Vec<_>>(), by_file.keys().collect::<Vec<_>>());
    for (uid, e) in &got {
        let differ: Vec<&String> = e.as_object().unwrap().keys().chain(by_file[uid].as_object().unwrap().keys()).filter(|k| e[k.as_str()] != by_file[uid][k.as_str()]).collect();
        assert!(differ.is_empty(), "{uid}: CloudWatch Logs and the trail file give other {differ:?}: {} / {}", e, by_file[uid]);
    }

    // A rerun reads only what is new: an event after the cursor; one put now with an old
    // timestamp (before the cursor: ingested later than the settle window) is not read.
    std::thread::sleep(Duration::from_millis(1100));
    let mut late = input_records(&sample_trail())[0].clone();
    late["eventID"] = "00000000-0000-4000-8000-00000000late".into();
    let mut new = input_records(&sample_trail())[1].clone();
    new["eventID"] = "00000000-0000-4000-8000-000000000new".into();
    put(&moto, group, &stream, &[(now_ms() - 500, new.to_string())]);
    put(&moto, group, &stream, &[(events[0].0, late.to_string())]);
    std::thread::sleep(Duration::from_millis(1100));
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary.counts.records_read, 1, "only the new event is read");
    let got = ocsf_rows(&sc.path("out"));
    assert!(got.contains_key("00000000-0000-4000-8000-000000000new"));
    assert!(!got.contains_key("00000000-0000-4000-8000-00000000late"), "an event ingested after the cursor passed its timestamp is not read");
    assert_eq!(got.len(), want.len() + 1);
}

/// A subscription's control message (the shape CloudWatch Logs sends to check a destination).
const CONTROL: &str = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1432826855000,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}"#;

#[test]
fn a_plain_group_lands_raw_with_its_provenance_and_the_settle_window_holds_back_what_may_still_arrive() {
    let moto = Moto::start();
    let group = "/app/web";
    create_group(&moto, group, &["web-1", "web-2"]);
    create_group(&moto, "/app/web-canary", &["x"]);
    let t0 = now_ms();
    let old = t0 - 600_000;
    // Two streams sharing milliseconds, and a control message.
    put(&moto, group, "web-1", &[(old, "GET /index.html 200".into()), (old, "GET /a 404".into()), (old + 1, "POST /login 302".into()), (old + 1, CONTROL.into())]);
    put(&moto, group, "web-2", &[(old, "GET /b 200".into()), (old + 1, "GET /c 500".into())]);
    // Inside the settle window (6 s): left for a later run.
    put(&moto, group, "web-1", &[(t0 - 1000, "GET /settling 200".into())]);
    put(&moto, "/app/web-canary", "x", &[(old, "not in the named group".into())]);
    let sc = Scratch::new();
    sc.config(&config(&moto, None, "log_groups = [\"/app/web\"]\nsettle_seconds = 6", ""));
    let t1 = now_ms();
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary.counts.records_read, 5, "the control message is not data: {:?}", summary.counts);
    assert!(summary.counts.reconciles());
    let got = raw_rows(&sc.path("out"));
    let mut raws: Vec<&str> = got.values().map(|v| v["raw"].as_str().unwrap()).collect();
    raws.sort();
    assert_eq!(raws, ["GET /a 404", "GET /b 200", "GET /c 500", "GET /index.html 200", "POST /login 302"]);
    for (object, v) in &got {
        // cloudwatch-logs://<account>/<region>/<group>:<stream>#<event id>
        let (stream, id) = object.strip_prefix(&format!("cloudwatch-logs://{ACCOUNT}/us-east-1/{group}:")).unwrap_or_else(|| panic!("{object}")).split_once('#').unwrap();
        assert!(["web-1", "web-2"].contains(&stream) && !id.is_empty(), "{object}");
        assert_eq!((v["source_kind"].as_str(), v["aws_account_id"].as_str(), v["region"].as_str()), (Some("cloudwatch_logs"), Some(ACCOUNT), Some("us-east-1")));
        let t = if ["GET /index.html 200", "GET /a 404", "GET /b 200"].contains(&v["raw"].as_str().unwrap()) { old } else { old + 1 };
        assert_eq!(v["time"].as_i64(), Some(t), "placed by the event's timestamp: {v}");
    }

    // After the first run: an event ingested 6.5 s after its timestamp (later than the settle
    // window) but still after the cursor, so read, and warned about; one with a timestamp the
    // cursor has passed (not read); and time for the settling event to settle.
    std::thread::sleep(Duration::from_millis((t1 + 5500 - now_ms()).max(0) as u64));
    put(&moto, group, "web-2", &[(t1 - 1000, "GET /late-but-after-the-cursor 200".into())]);
    put(&moto, group, "web-2", &[(old + 1, "GET /too-late 200".into())]);
    std::thread::sleep(Duration::from_millis((t0 + 6000 + 1500 - now_ms()).max(0) as u64));
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary.counts.records_read, 2, "{:?}", summary.counts);
    let got = raw_rows(&sc.path("out"));
    let raws: Vec<&str> = got.values().map(|v| v["raw"].as_str().unwrap()).collect();
    assert!(raws.contains(&"GET /settling 200") && raws.contains(&"GET /late-but-after-the-cursor 200"), "{raws:?}");
    assert!(!raws.contains(&"GET /too-late 200"));
    assert_eq!(got.len(), 7);
    assert!(stderr(&out).contains("raise settle_seconds") && stderr(&out).contains(group), "the late event is warned about: {}", stderr(&out));
    // And a third run has nothing new.
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary.counts.records_read, 0);
}

#[test]
fn a_kill_at_any_moment_then_a_rerun_gives_every_event_exactly_once() {
    let moto = Moto::start();
    let group = "aws-cloudtrail-logs-busy";
    create_group(&moto, group, &["a", "b"]);
    // 2000 CloudTrail records (each its own eventID), six to a millisecond, three in each
    // stream: commits (batches of 100, every 500 records) and pages (50 events) fall inside
    // milliseconds.
    let sample = input_records(&sample_trail());
    let base = now_ms() - 1_800_000;
    let mut ids = Vec::new();
    for s in ["a", "b"] {
        let events: Vec<(i64, String)> = (0..1000)
            .map(|i| {
                let mut r = sample[i % sample.len()].clone();
                let id = format!("cwl-{s}-{i:04}");
                r["eventID"] = id.clone().into();
                ids.push(id);
                (base + (i as i64) / 3, r.to_string())
            })
            .collect();
        for chunk in events.chunks(250) {
            put(&moto, group, s, chunk);
        }
    }
    ids.sort();
    let proxy = LogsProxy::start(&moto);
    // Slow pages, so the seeded kills land inside the run.
    proxy.state.lock().unwrap().delay = Duration::from_millis(30);
    let source = format!(
        "endpoint_url = \"{}\"\nauth = {{ type = \"basic\", access_key_id = \"testing\", secret_access_key = \"testing\" }}\nendpoints = {{ cloudwatch_logs = \"{}\" }}\n[[connectors.sources]]\ntype = \"cloudwatch_logs\"\nlog_groups = [\"{group}\"]\nmapper = \"builtin:cloudtrail\"\nsettle_seconds = 0\npage_events = 50\nrequests_per_second = 100\n",
        moto.url(),
        proxy.url()
    );
    crate::faults::kill_trials("cloudwatch_logs", 4, |_| (source.clone(), ids.clone()));
}

#[test]
fn check_names_the_managed_policy_when_denied_and_a_denied_run_is_read_again_by_the_next() {
    let moto = Moto::start();
    create_group(&moto, "/app/api", &["s"]);
    put(&moto, "/app/api", "s", &[(now_ms() - 60_000, "hello".into()), (now_ms() - 60_000, "world".into())]);
    let proxy = LogsProxy::start(&moto);
    let sc = Scratch::new();
    sc.config(&config(&moto, Some(&proxy.url()), "log_groups = [\"/app/api\", \"/app/none-*\"]\nsettle_seconds = 0", ""));
    let check = || check_row(&sc, "cloudwatch_logs");
    let (code, row) = check();
    assert_eq!((code, &row["ok"]), (Some(0), &Value::Bool(true)), "{row}");
    assert!(row["warning"] == true && row["detail"].as_str().unwrap().contains("/app/none-*"), "a pattern matching no group is named: {row}");
    for (deny, named) in [(vec!["DescribeLogGroups", "FilterLogEvents"], "logs:DescribeLogGroups"), (vec!["FilterLogEvents"], "logs:FilterLogEvents")] {
        proxy.state.lock().unwrap().deny = deny;
        let (code, row) = check();
        assert_eq!((code, &row["ok"]), (Some(1), &Value::Bool(false)), "{row}");
        assert!(row["permission"].as_str().unwrap().contains(&format!("CloudWatchLogsReadOnlyAccess: {named} denied")), "{row}");
    }
    // A run denied FilterLogEvents leaves the lane for the next run.
    let (out, summary) = sc.run();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!((summary.counts.objects_retry_later, summary.counts.records_read), (1, 0), "{:?}", summary.counts);
    assert!(summary.sources[0].error.as_deref().unwrap().contains("AccessDenied"), "{:?}", summary.sources[0].error);
    proxy.state.lock().unwrap().deny.clear();
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary.counts.records_read, 2);
    assert_eq!(raw_rows(&sc.path("out")).len(), 2);
}

/// A flow log record in a custom format and that format, from the VPC User Guide's flow log
/// record examples.
const FLOW_FORMAT: &str = "${version} ${vpc-id} ${subnet-id} ${instance-id} ${interface-id} ${account-id} ${type} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${pkt-srcaddr} ${pkt-dstaddr} ${protocol} ${bytes} ${packets} ${start} ${end} ${action} ${tcp-flags} ${log-status}";
const FLOW_RECORD: &str = "3 vpc-12345678 subnet-012345678 i-07890123456789012 eni-23456789012345678 123456789010 IPv4 52.213.180.42 10.0.0.62 43416 5001 52.213.180.42 10.0.0.62 6 568 8 1566848875 1566848933 ACCEPT 2 OK";
/// Connection log lines as the Redshift Management Guide documents them.
const CONNECTION_LINES: [&str; 2] = [
    "authenticated |Mon, 7 Dec 2020 20:01:55:177|[local] | |5108|dev |rdsdb |Ident |0| | |0| | | | | | |",
    "disconnecting session |Mon, 7 Dec 2020 20:01:55:304|[local] | |5108|dev |rdsdb |Ident |127304| | |0| | | | | | |",
];

#[test]
fn flow_logs_and_redshift_audit_logs_in_cloudwatch_logs_map_through_their_mappers() {
    let moto = Moto::start();
    create_group(&moto, "/vpc/flow-logs", &["eni-23456789012345678-all"]);
    // The record, and a line that is none: dead-lettered, named by its page and index.
    put(&moto, "/vpc/flow-logs", "eni-23456789012345678-all", &[(now_ms() - 60_000, FLOW_RECORD.into()), (now_ms() - 59_000, "3 vpc-12345678 truncated".into())]);
    let redshift = "/aws/redshift/cluster/analytics/connectionlog";
    create_group(&moto, redshift, &["analytics"]);
    put(&moto, redshift, "analytics", &CONNECTION_LINES.map(|l| (now_ms() - 60_000, l.to_string())));

    // The flow log's LogFormat as given to it; `$${` is a literal `${` in the config.
    let sc = Scratch::new();
    sc.config(&config(&moto, None, &format!("log_groups = [\"/vpc/*\"]\nsettle_seconds = 0\nmapper = \"builtin:vpc_flow\"\nlog_format = \"{}\"", FLOW_FORMAT.replace("${", "$${")), ""));
    let (out, summary) = sc.run();
    assert_eq!(out.status.code(), Some(1), "a dead letter makes exit code 1: {}", stderr(&out));
    assert_eq!((summary.counts.records_written, summary.counts.records_dead_lettered), (1, 1), "{:?}", summary.counts);
    let dl: Value = serde_json::from_str(std::fs::read_to_string(sc.dir.path().join(summary.dead_letter_file.as_ref().unwrap())).unwrap().lines().next().unwrap()).unwrap();
    assert!(dl["object"].as_str().unwrap().starts_with(&format!("cloudwatch-logs://{ACCOUNT}/us-east-1//vpc/flow-logs?from=")), "{dl}");
    assert_eq!((dl["record_index"].as_u64(), dl["raw"].as_str()), (Some(1), Some("3 vpc-12345678 truncated")), "{dl}");
    let flows = ocsf_rows(&sc.path("out"));
    schema_check(flows.values());
    let e = flows.values().next().unwrap();
    assert_eq!(e["class_uid"], 4001);
    assert_eq!((e["src_endpoint"]["ip"].as_str(), e["dst_endpoint"]["port"].as_i64(), e["traffic"]["bytes"].as_i64()), (Some("52.213.180.42"), Some(5001), Some(568)), "read by the format given: {e}");

    let sc = Scratch::new();
    sc.config(&config(&moto, None, "log_groups = [\"/aws/redshift/cluster/*\"]\nsettle_seconds = 0\nmapper = \"builtin:redshift\"", ""));
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary.counts.records_written, 2, "{:?}", summary.counts);
    let auth = ocsf_rows(&sc.path("out"));
    schema_check(auth.values());
    let mut activities: Vec<i64> = auth.values().map(|e| e["activity_id"].as_i64().unwrap()).collect();
    activities.sort();
    assert_eq!(activities, [1, 2], "logon and logoff");
    for e in auth.values() {
        assert_eq!((e["class_uid"].as_i64(), e["dst_endpoint"]["name"].as_str()), (Some(3002), Some("analytics")), "the log type and cluster from the group: {e}");
    }
}
