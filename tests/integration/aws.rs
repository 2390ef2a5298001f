//! The AWS sources, S3 output and `trawl check`, against a real moto_server (and an IMDSv2
//! stub), through the `trawl` binary with a config as a user would write it.

use crate::common::watchdog::OutputWithin;
use std::{collections::BTreeMap, path::Path};

use serde_json::Value;

use crate::common::{
    Scratch,
    aws::{ACCOUNT, FlakyProxy, ImdsStub, Moto},
    log_files, sample_trail,
};
use trawl::aws::runtime;

/// Uploads the sample trail (digest files included: the sources must skip them) under
/// `prefix/`; returns the number of log files.
fn upload_sample(moto: &Moto, bucket: &str, prefix: &str) -> usize {
    let root = sample_trail();
    let mut n = 0;
    for f in walk(&root) {
        let rel = f.strip_prefix(&root).unwrap().display().to_string();
        if !rel.starts_with("AWSLogs/") {
            continue;
        }
        moto.put(bucket, &format!("{prefix}/{rel}"), std::fs::read(&f).unwrap());
        n += trawl::sources::cloudtrail_files::is_log_file(&f) as usize;
    }
    n
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out.sort();
    out
}

/// A connector table for moto with static keys.
fn connector(name: &str, moto_url: &str, extra: &str) -> String {
    format!(
        r#"
[[connectors]]
name = "{name}"
region = "us-east-1"
endpoint_url = "{moto_url}"
auth = {{ type = "basic", access_key_id = "testing", secret_access_key = "testing" }}
{extra}
"#
    )
}

/// Every NDJSON event under a local output dir, keyed by metadata.uid.
fn local_events(dir: &Path) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for f in walk(dir) {
        if f.components().any(|c| c.as_os_str() == ".tmp") || !f.to_string_lossy().ends_with(".json") {
            continue;
        }
        add_events(&std::fs::read_to_string(&f).unwrap(), &mut out);
    }
    out
}

fn add_events(text: &str, out: &mut BTreeMap<String, Value>) {
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let uid = v["metadata"]["uid"].as_str().unwrap().to_string();
        assert!(out.insert(uid.clone(), v).is_none(), "event {uid} written twice");
    }
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn s3_backfill_and_sqs_land_exactly_the_records_of_the_local_path() {
    let moto = Moto::start();
    let m = moto.url();
    moto.create_bucket("trail");
    moto.create_bucket("lake");
    let queue = moto.create_queue("cloudtrail-data-events");
    // Notifications first, so every upload below is announced on the queue (after S3's test event).
    moto.notify_queue("trail", &queue);
    let files = upload_sample(&moto, "trail", "org");
    let expected_records = crate::common::input_records(&sample_trail()).len() as u64;

    // The reference: the same files from the local directory.
    let local = Scratch::new();
    local.config(&format!(
        "[state]\ndir = \"state\"\n[[connectors]]\nname = \"prod\"\nregion = \"us-east-1\"\n[[connectors.sources]]\ntype = \"cloudtrail_files\"\npath = \"{}\"\n[[outputs]]\ntype = \"ndjson\"\npath = \"out\"\n",
        sample_trail().display()
    ));
    let (o, s) = local.run();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(s.counts.records_read, expected_records);
    let reference = local_events(&local.path("out"));
    assert_eq!(reference.len() as u64, expected_records);

    // Backfill from the bucket, written to S3 (every file as a multipart upload) and locally.
    let backfill = Scratch::new();
    let cfg = format!(
        "[state]\ndir = \"state\"\n{}[[outputs]]\ntype = \"ndjson\"\npath = \"s3://lake/ocsf\"\ns3 = {{ connector = \"prod\", multipart_threshold_mib = 0 }}\n[[outputs]]\ntype = \"ndjson\"\npath = \"out\"\n",
        connector(
            "prod",
            &m,
            "[[connectors.sources]]\ntype = \"cloudtrail_s3\"\nbucket = \"trail\"\nprefix = \"org\"\nsince = \"2024-01-14\"\nuntil = \"2024-01-20\"\n"
        )
    );
    backfill.config(&cfg);
    let (o, s) = backfill.run();
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert_eq!((s.counts.objects_read, s.counts.records_read, s.counts.records_written), (files as u64, expected_records, expected_records));
    assert_eq!(local_events(&backfill.path("out")), reference, "S3 backfill differs from the local path");
    let mut in_s3 = BTreeMap::new();
    let keys = moto.keys("lake", "ocsf/");
    assert!(!keys.is_empty() && keys.iter().all(|k| k.contains("/region=us-east-1/accountId=111122223333/eventDay=")), "{keys:?}");
    for k in &keys {
        add_events(&String::from_utf8(moto.get("lake", k)).unwrap(), &mut in_s3);
    }
    assert_eq!(in_s3, reference, "the S3 output differs from the local output");
    // A re-run reads nothing again and writes no duplicate.
    let (o, s) = backfill.run();
    assert!(o.status.success());
    assert_eq!((s.counts.records_read, s.counts.objects_already_done), (0, files as u64));
    assert_eq!(moto.keys("lake", "ocsf/"), keys);
    // --since after the data: nothing listed.
    let o = backfill.trawl(&["run", "--config", "config.toml", "--quiet", "--since", "2024-01-17", "--until", "2024-01-20"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // The same objects through the queue.
    let sqs = Scratch::new();
    sqs.config(&format!(
        "[state]\ndir = \"state\"\n{}[[outputs]]\ntype = \"ndjson\"\npath = \"out\"\n",
        connector("prod", &m, &format!("sqs_url = \"{queue}\"\n[[connectors.sources]]\ntype = \"sqs\"\nwait_seconds = 1\n"))
    ));
    let (o, s) = sqs.run();
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert_eq!((s.counts.objects_read, s.counts.records_read, s.counts.records_dead_lettered), (files as u64, expected_records, 0));
    assert_eq!(local_events(&sqs.path("out")), reference, "the SQS path differs from the local path");
    assert_eq!(moto.queue_depth(&queue), 0, "messages must be deleted once their records are durable");
    // Nothing left: a re-run reads nothing.
    let (_, s) = sqs.run();
    assert_eq!(s.counts.records_read, 0);
    // A duplicate notification of a done object is deleted without reading it again.
    let first_log = log_files(&sample_trail()).remove(0);
    let rel = first_log.strip_prefix(sample_trail()).unwrap().display().to_string();
    moto.put("trail", &format!("org/{rel}"), std::fs::read(&first_log).unwrap());
    let (_, s) = sqs.run();
    assert_eq!((s.counts.records_read, s.counts.objects_already_done), (0, 1));
    assert_eq!(moto.queue_depth(&queue), 0);
}

fn send(moto: &Moto, queue: &str, body: &str) {
    runtime().block_on(moto.sqs().send_message().queue_url(queue).message_body(body).send()).unwrap();
}

fn s3_event(bucket: &str, key: &str) -> String {
    // moto and S3 form-encode keys: '/' arrives as %2F.
    let enc: String = key.replace('/', "%2F");
    serde_json::json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2024-01-15T10:05:00.000Z",
        "eventName": "ObjectCreated:Put", "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
        "object": {"key": enc, "size": 1}}}]})
    .to_string()
}

#[test]
fn sqs_faults_are_dead_lettered_with_reasons_and_the_queue_drains() {
    let moto = Moto::start();
    moto.create_bucket("trail");
    let queue = moto.create_queue("faults");
    let logs = log_files(&sample_trail());
    let key = |i: usize| format!("AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/15/f{i}.json.gz");
    moto.put("trail", &key(0), std::fs::read(&logs[0]).unwrap());
    moto.put("trail", &key(1), std::fs::read(&logs[1]).unwrap());

    // A message that has been received (and not deleted) three times already.
    send(&moto, &queue, &s3_event("trail", &key(9)));
    for _ in 0..3 {
        let got = runtime().block_on(moto.sqs().receive_message().queue_url(&queue).visibility_timeout(0).send()).unwrap();
        assert_eq!(got.messages().len(), 1);
    }
    send(&moto, &queue, "this is not a notification");
    send(&moto, &queue, &s3_event("trail", "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/15/deleted-before-read.json.gz"));
    send(&moto, &queue, r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-01-15T10:00:00.000Z","Bucket":"trail"}"#);
    // EventBridge delivery (key not encoded) and an SNS-wrapped S3 notification.
    send(
        &moto,
        &queue,
        &serde_json::json!({"version": "0", "id": "e1", "detail-type": "Object Created", "source": "aws.s3", "region": "us-east-1",
            "resources": ["arn:aws:s3:::trail"], "detail": {"version": "0", "bucket": {"name": "trail"}, "object": {"key": key(0), "size": 1}, "reason": "PutObject"}})
        .to_string(),
    );
    send(&moto, &queue, &serde_json::json!({"Type": "Notification", "MessageId": "m1", "TopicArn": format!("arn:aws:sns:us-east-1:{ACCOUNT}:t"), "Message": s3_event("trail", &key(1))}).to_string());

    let sc = Scratch::new();
    sc.config(&format!(
        "[state]\ndir = \"state\"\n{}[[outputs]]\ntype = \"parquet\"\npath = \"out\"\n",
        connector("prod", &moto.url(), &format!("sqs_url = \"{queue}\"\n[[connectors.sources]]\ntype = \"sqs\"\nwait_seconds = 1\nmax_receive_count = 3\n"))
    ));
    let (o, s) = sc.run();
    assert_eq!(o.status.code(), Some(1), "dead letters make exit code 1: {}", stderr(&o));
    let two_files: u64 = logs[..2].iter().map(|f| records_in(f)).sum();
    assert_eq!(s.counts.records_written, two_files);
    // The unparseable body and the over-received message count as records: their bodies are the raw data.
    assert_eq!(s.counts.records_dead_lettered, 2);
    assert_eq!(s.counts.objects_failed, 3, "unparseable message, over-received message, deleted object");
    assert!(s.counts.reconciles());
    assert_eq!(moto.queue_depth(&queue), 0, "every message is deleted once settled");
    let dl = std::fs::read_to_string(sc.dir.path().join(s.dead_letter_file.as_ref().unwrap())).unwrap();
    let entries: Vec<Value> = dl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let reason_for = |needle: &str| entries.iter().find(|e| e["reason"].as_str().unwrap().contains(needle)).unwrap_or_else(|| panic!("no dead letter saying {needle:?}: {dl}"));
    assert_eq!(reason_for("not JSON")["raw"], "this is not a notification");
    assert!(reason_for("received 4 times")["object"].as_str().unwrap().starts_with(&queue));
    assert_eq!(reason_for("deleted before it could be read")["object"], "s3://trail/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/15/deleted-before-read.json.gz");
}

fn records_in(f: &Path) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(f, dir.path().join(f.file_name().unwrap())).unwrap();
    crate::common::input_records(dir.path()).len() as u64
}

fn check_json(sc: &Scratch, extra: &[&str]) -> (std::process::Output, Vec<Value>) {
    let mut args = vec!["check", "--config", "config.toml", "--json"];
    args.extend_from_slice(extra);
    let o = sc.trawl(&args);
    let v: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", String::from_utf8_lossy(&o.stdout), stderr(&o)));
    (o, v)
}

fn row<'a>(rows: &'a [Value], connector: &str, target_prefix: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["connector"] == connector && r["target"].as_str().unwrap().starts_with(target_prefix))
        .unwrap_or_else(|| panic!("no check row {connector} / {target_prefix}: {rows:#?}"))
}

#[test]
fn auth_modes_basic_assume_role_and_instance_profile() {
    let moto = Moto::start();
    let m = moto.url();
    moto.create_bucket("trail");
    let imds = ImdsStub::start("trawl-collector");
    let source = "[[connectors.sources]]\ntype = \"cloudtrail_s3\"\nbucket = \"trail\"\n";
    let sc = Scratch::new();
    sc.config(&format!(
        r#"[state]
dir = "state"
{basic}
[[connectors]]
name = "role"
region = "us-east-1"
endpoint_url = "{m}"
auth = {{ type = "assume_role", role_arn = "arn:aws:iam::{ACCOUNT}:role/trawl-reader", session_name = "trawl-test", external_id = "ext-1234", account_id = "{ACCOUNT}", access_key_id = "testing", secret_access_key = "testing" }}
{source}
[[connectors]]
name = "wrong-account"
region = "us-east-1"
endpoint_url = "{m}"
auth = {{ type = "assume_role", role_arn = "arn:aws:iam::{ACCOUNT}:role/trawl-reader", account_id = "999999999999", access_key_id = "testing", secret_access_key = "testing" }}
{source}
[[connectors]]
name = "instance"
region = "us-east-1"
endpoint_url = "{m}"
auth = {{ type = "instance_profile", account_id = "{ACCOUNT}", imds_endpoint = "{imds}" }}
{source}
[[connectors]]
name = "no-queue"
region = "us-east-1"
endpoint_url = "{m}"
sqs_url = "{m}/{ACCOUNT}/missing-queue"
auth = {{ type = "basic", access_key_id = "testing", secret_access_key = "testing" }}
[[connectors.sources]]
type = "sqs"
[[connectors.sources]]
type = "cloudtrail_s3"
bucket = "no-such-bucket"
[[outputs]]
type = "parquet"
path = "out"
"#,
        basic = connector("keys", &m, source),
        imds = imds.url(),
    ));
    let (o, rows) = check_json(&sc, &[]);
    assert_eq!(o.status.code(), Some(1), "failures make check exit 1");
    for c in ["keys", "role", "instance"] {
        let cred = row(&rows, c, "credentials");
        assert_eq!(cred["ok"], true, "{c}: {cred}");
        assert!(cred["detail"].as_str().unwrap().contains(ACCOUNT), "{cred}");
        assert_eq!(row(&rows, c, "cloudtrail_s3")["ok"], true);
    }
    assert!(row(&rows, "role", "credentials")["detail"].as_str().unwrap().contains("assumed-role/trawl-reader/trawl-test"), "{rows:#?}");
    assert!(imds.token_requests.load(std::sync::atomic::Ordering::Relaxed) > 0, "the instance profile went through IMDSv2");
    let wrong = row(&rows, "wrong-account", "credentials");
    assert_eq!((wrong["ok"].clone(), wrong["code"].clone()), (Value::Bool(false), Value::from("AccountMismatch")));
    assert!(wrong["detail"].as_str().unwrap().contains("999999999999"));
    assert_eq!(row(&rows, "wrong-account", "cloudtrail_s3")["ok"], false, "sources of a failed connector are not OK");
    let q = row(&rows, "no-queue", "sqs");
    assert!(q["ok"] == false && q["detail"].as_str().unwrap().contains("does not exist"), "{q}");
    let b = row(&rows, "no-queue", "cloudtrail_s3");
    assert!(b["ok"] == false && b["code"] == "NoSuchBucket" && b["detail"].as_str().unwrap().contains("no-such-bucket"), "{b}");
    assert_eq!(row(&rows, "output", "out")["ok"], true);

    // One connector only: all OK, exit 0, a readable table.
    let o = sc.trawl(&["check", "--config", "config.toml", "--connector", "instance"]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{table}{}", stderr(&o));
    assert!(table.contains("CONNECTOR") && table.contains("OK") && table.contains("All 2 checks passed"), "{table}");

    // `run` says the same things plainly and still runs the healthy connectors.
    let (o, s) = sc.run();
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("FAILED source wrong-account") && out.contains("999999999999"), "{out}");
    assert!(out.contains("does not exist"), "{out}");
    assert_eq!(s.sources.iter().filter(|x| x.error.is_none()).count(), 3, "{:#?}", s.sources);
}

#[test]
fn check_names_the_denied_permission_and_rejected_keys_without_printing_secrets() {
    // moto enforces IAM once INITIAL_NO_AUTH_ACTION_COUNT requests have been made: the setup
    // below uses exactly those, then every request is checked against the user's policy.
    let moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "5")]);
    let sdk = moto.sdk();
    let iam = aws_sdk_iam::Client::new(&sdk);
    moto.create_bucket("trail");
    let queue = moto.create_queue("events");
    runtime().block_on(iam.create_user().user_name("collector").send()).unwrap();
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": ["s3:ListBucket", "s3:GetObject", "sts:GetCallerIdentity"], "Resource": "*"}]});
    runtime().block_on(iam.put_user_policy().user_name("collector").policy_name("read-trail").policy_document(policy.to_string()).send()).unwrap();
    let key = runtime().block_on(iam.create_access_key().user_name("collector").send()).unwrap();
    let key = key.access_key().unwrap();

    let secret_value = "NotARealSecretButNeverPrintIt1234";
    let sc = Scratch::new();
    let m = moto.url();
    sc.config(&format!(
        r#"[state]
dir = "state"
[[connectors]]
name = "collector"
region = "us-east-1"
endpoint_url = "{m}"
sqs_url = "{queue}"
auth = {{ type = "basic", access_key_id = "${{TRAWL_TEST_KEY_ID}}", secret_access_key = "${{TRAWL_TEST_SECRET}}" }}
[[connectors.sources]]
type = "cloudtrail_s3"
bucket = "trail"
[[connectors.sources]]
type = "sqs"
[[connectors]]
name = "bad-keys"
region = "us-east-1"
endpoint_url = "{m}"
auth = {{ type = "basic", access_key_id = "AKIAUNKNOWNKEY000000", secret_access_key = "${{TRAWL_TEST_BAD_SECRET}}" }}
[[connectors.sources]]
type = "cloudtrail_s3"
bucket = "trail"
[[outputs]]
type = "parquet"
path = "out"
"#
    ));
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_trawl"))
            .args(args)
            .current_dir(sc.dir.path())
            .env("TRAWL_TEST_KEY_ID", key.access_key_id())
            .env("TRAWL_TEST_SECRET", key.secret_access_key())
            .env("TRAWL_TEST_BAD_SECRET", secret_value)
            .env("TRAWL_LOG", "debug")
            .output_within_limit()
    };
    let o = run(&["check", "--config", "config.toml", "--json"]);
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(row(&rows, "collector", "credentials")["ok"], true, "{rows:#?}");
    assert_eq!(row(&rows, "collector", "cloudtrail_s3")["ok"], true, "{rows:#?}");
    let denied = row(&rows, "collector", "sqs");
    assert_eq!(denied["ok"], false);
    assert!(denied["permission"].as_str().unwrap_or("").contains("sqs:GetQueueAttributes denied"), "{denied}");
    let bad = row(&rows, "bad-keys", "credentials");
    assert!(bad["ok"] == false && bad["detail"].as_str().unwrap().contains("credentials were rejected"), "{bad}");

    let table = run(&["check", "--config", "config.toml"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("FAILED") && text.contains("AmazonSQS") && text.contains("sqs:GetQueueAttributes denied"), "{text}");
    let r = run(&["-vv", "run", "--config", "config.toml", "--quiet"]);
    let all = format!("{}{}{}{}{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o), text, stderr(&table), String::from_utf8_lossy(&r.stdout), stderr(&r));
    assert!(String::from_utf8_lossy(&r.stdout).contains("credentials were rejected"), "{all}");
    for secret in [secret_value, key.secret_access_key()] {
        assert!(!all.contains(secret), "a secret was printed");
    }
    // Nor anything that identifies a credential, at any log level (the SDK's signing logs
    // name the access key id).
    let traced = std::process::Command::new(env!("CARGO_BIN_EXE_trawl"))
        .args(["run", "--config", "config.toml", "--quiet"])
        .current_dir(sc.dir.path())
        .env("TRAWL_TEST_KEY_ID", key.access_key_id())
        .env("TRAWL_TEST_SECRET", key.secret_access_key())
        .env("TRAWL_TEST_BAD_SECRET", secret_value)
        .env("TRAWL_LOG", "trace")
        .output_within_limit();
    let all = format!("{all}{}{}", String::from_utf8_lossy(&traced.stdout), stderr(&traced));
    assert!(all.contains("(redacted)"), "the trace logs did carry key ids, now redacted");
    for id in [key.access_key_id(), "AKIAUNKNOWNKEY000000"] {
        assert!(!all.contains(id), "an access key id was printed");
    }
}

#[test]
fn throttling_and_5xx_are_retried_and_nothing_is_lost() {
    let moto = Moto::start();
    moto.create_bucket("trail");
    let files = upload_sample(&moto, "trail", "org");
    let expected = crate::common::input_records(&sample_trail()).len() as u64;
    // Every third request gets 503 SlowDown or 500 InternalError before reaching moto.
    let proxy = FlakyProxy::start(moto.port, 3);
    let sc = Scratch::new();
    sc.config(&format!(
        "[state]\ndir = \"state\"\n{}[[outputs]]\ntype = \"parquet\"\npath = \"out\"\n",
        connector(
            "prod",
            &proxy.url(),
            "max_attempts = 6\n[[connectors.sources]]\ntype = \"cloudtrail_s3\"\nbucket = \"trail\"\nprefix = \"org\"\nsince = \"2024-01-15\"\nuntil = \"2024-01-16\"\n"
        )
    ));
    let (o, s) = sc.run();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(proxy.failed() > 0, "the proxy failed no request");
    assert_eq!((s.counts.objects_read, s.counts.records_written, s.counts.records_dead_lettered), (files as u64, expected, 0));
}
