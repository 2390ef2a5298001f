//! Source `macie` and mapper `builtin:macie` against moto's SQS, SNS and EventBridge: finding
//! events delivered directly, through a real SNS subscription, and through an EventBridge rule
//! with an SQS target (PutEvents); duplicate deliveries collapsed; non-Macie and malformed
//! messages dead-lettered with the reason and deleted; messages deleted only once their rows
//! are durable (kill -9, then a rerun after the visibility timeout); `trawl check` denied;
//! every row against the OCSF 1.1.0 schema.

use crate::common::watchdog::OutputWithin;
use std::{path::Path, time::Duration};

use serde_json::{Value, json};
use trawl::{
    aws::runtime,
    batch::{ObjectInfo, RawBatch, RawBatchBuilder},
};

use crate::{
    common::{
        Scratch,
        aws::{ACCOUNT, Moto},
        repo,
    },
    inspector::{events, moto_request, schema_check, stderr, uids},
};

/// The sample events (`examples/data/macie/`, see its README).
pub fn sample_files() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(repo().join("examples/data/macie")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    v.sort();
    v
}

pub(crate) fn sample_event(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo().join("examples/data/macie").join(name)).unwrap()).unwrap()
}

/// A sample event's finding as the source pushes it.
pub fn sample_batch(file: &Path, connector: &str) -> RawBatch {
    let event: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let info = ObjectInfo {
        connector: connector.into(),
        source_kind: "macie",
        aws_account_id: Some("111122223333".into()),
        region: Some("us-east-1".into()),
        object: file.strip_prefix(repo()).unwrap_or(file).display().to_string(),
    };
    let mut b = RawBatchBuilder::new();
    b.push(&info, event["detail"].to_string().as_bytes(), 0, 0, 1_700_000_000_000);
    b.finish(1)
}

/// One call to moto in a protocol the test has no SDK client for (SNS's query protocol,
/// EventBridge's JSON 1.1), signed for `service` so moto routes it.
fn moto_call(moto: &Moto, service: &str, headers: &[(&str, &str)], body: &str) -> String {
    let auth = format!("AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0");
    let mut all = vec![("Authorization", auth.as_str())];
    all.extend_from_slice(headers);
    moto_request(moto, "/", &all, body)
}

fn events_call(moto: &Moto, action: &str, body: Value) -> String {
    moto_call(moto, "events", &[("X-Amz-Target", &format!("AWSEvents.{action}")), ("Content-Type", "application/x-amz-json-1.1")], &body.to_string())
}

fn sns_call(moto: &Moto, params: &[(&str, &str)]) -> String {
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
    let body = params.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect::<Vec<_>>().join("&") + "&Version=2010-03-31";
    moto_call(moto, "sns", &[("Content-Type", "application/x-www-form-urlencoded")], &body)
}

fn queue_arn(url: &str) -> String {
    format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{}", url.rsplit('/').next().unwrap())
}

pub(crate) fn send(moto: &Moto, queue: &str, body: &str) {
    runtime().block_on(moto.sqs().send_message().queue_url(queue).message_body(body).send()).unwrap();
}

fn config(moto: &Moto, queue: &str, connector_extra: &str, source_extra: &str) -> String {
    let connector = format!("macie_sqs_url = \"{queue}\"\n{connector_extra}");
    crate::common::runs::moto_config(moto, "findings-account", "us-east-1", &connector, &format!("type = \"macie\"\nwait_seconds = 1\n{source_extra}"), "")
}

/// The sensitive data finding direct, twice, and once more through SNS (one row); the policy
/// finding through SNS and a later version of it through EventBridge PutEvents → rule → SQS
/// (two rows: Create, then Update); a GuardDuty event, a body that is not JSON and a message
/// received too often (dead-lettered, with the reason and the body); the queue drained. A rerun with one more
/// duplicate writes nothing and deletes it.
#[test]
fn macie_findings_direct_through_sns_and_eventbridge_duplicates_collapsed_bad_messages_dead_lettered() {
    let moto = Moto::start();
    let queue = moto.create_queue("macie-findings");
    let sensitive = sample_event("sensitive-data-finding.json");
    let policy = sample_event("policy-finding.json");

    // SNS: a topic with the queue subscribed (moto wraps each message in the SNS envelope).
    let topic = sns_call(&moto, &[("Action", "CreateTopic"), ("Name", "macie-findings")]);
    let topic_arn = topic.split("<TopicArn>").nth(1).unwrap().split("</TopicArn>").next().unwrap().to_string();
    sns_call(&moto, &[("Action", "Subscribe"), ("TopicArn", &topic_arn), ("Protocol", "sqs"), ("Endpoint", &queue_arn(&queue))]);
    // EventBridge: the rule a user creates for Macie findings, the queue its target.
    events_call(&moto, "PutRule", json!({ "Name": "macie-to-sqs", "EventPattern": json!({ "source": ["aws.macie"], "detail-type": ["Macie Finding"] }).to_string() }));
    events_call(&moto, "PutTargets", json!({ "Rule": "macie-to-sqs", "Targets": [{ "Id": "queue", "Arn": queue_arn(&queue) }] }));

    // A finding message already received (and not deleted) three times.
    let mut stuck = sensitive.clone();
    stuck["detail"]["id"] = json!("over-received-finding");
    send(&moto, &queue, &stuck.to_string());
    for _ in 0..3 {
        let got = runtime().block_on(moto.sqs().receive_message().queue_url(&queue).visibility_timeout(0).send()).unwrap();
        assert_eq!(got.messages().len(), 1);
    }
    send(&moto, &queue, &sensitive.to_string());
    send(&moto, &queue, &sensitive.to_string());
    sns_call(&moto, &[("Action", "Publish"), ("TopicArn", &topic_arn), ("Message", &sensitive.to_string())]);
    sns_call(&moto, &[("Action", "Publish"), ("TopicArn", &topic_arn), ("Message", &policy.to_string())]);
    let mut later = policy["detail"].clone();
    later["count"] = json!(3);
    later["updatedAt"] = json!("2024-10-01T08:00:00.000Z");
    events_call(&moto, "PutEvents", json!({ "Entries": [{ "Source": "aws.macie", "DetailType": "Macie Finding", "Detail": later.to_string() }] }));
    send(&moto, &queue, &json!({"version": "0", "id": "g1", "detail-type": "GuardDuty Finding", "source": "aws.guardduty", "detail": {"id": "x"}}).to_string());
    send(&moto, &queue, "this is not an event");
    assert_eq!(moto.queue_depth(&queue), 8, "every delivery reached the queue");

    let sc = Scratch::new();
    sc.config(&config(&moto, &queue, "", "max_receive_count = 3"));
    let (out, s) = sc.run();
    assert_eq!(out.status.code(), Some(1), "dead letters make exit code 1: {}", stderr(&out));
    let rows = events(&sc.path("out"));
    let counts = uids(&rows);
    let sensitive_id = sensitive["detail"]["id"].as_str().unwrap();
    let policy_id = policy["detail"]["id"].as_str().unwrap();
    assert_eq!(
        counts.keys().cloned().collect::<Vec<_>>(),
        [format!("{sensitive_id}@2024-09-30T19:54:15.055Z"), format!("{policy_id}@2024-09-30T20:09:58.000Z"), format!("{policy_id}@2024-10-01T08:00:00.000Z")].into_iter().collect::<std::collections::BTreeSet<_>>().into_iter().collect::<Vec<_>>(),
        "{counts:?}"
    );
    assert!(counts.values().all(|n| *n == 1), "no duplicate row: {counts:?}");
    let activity = |uid: &str| rows.iter().find(|e| e["metadata"]["uid"] == uid).unwrap()["activity_name"].as_str().unwrap().to_string();
    assert_eq!(activity(&format!("{policy_id}@2024-10-01T08:00:00.000Z")), "Update", "the EventBridge-delivered later version is an update");
    assert_eq!(rows.iter().filter(|e| e["finding_info"]["uid"] == policy_id).count(), 2, "finding_info.uid is the finding id, stable across versions");
    assert_eq!((s.counts.records_written, s.counts.records_dead_lettered), (3, 3), "{:?}", s.counts);
    assert!(s.counts.reconciles());
    assert_eq!(moto.queue_depth(&queue), 0, "every message deleted, duplicates and dead letters too");
    let dl = std::fs::read_to_string(sc.dir.path().join(s.dead_letter_file.as_ref().unwrap())).unwrap();
    let entries: Vec<Value> = dl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let reason_for = |needle: &str| entries.iter().find(|e| e["reason"].as_str().unwrap().contains(needle)).unwrap_or_else(|| panic!("no dead letter saying {needle:?}: {dl}"));
    assert_eq!(reason_for("not a JSON event")["raw"], "this is not an event");
    assert!(reason_for("not a Macie finding event: source \"aws.guardduty\"")["object"].as_str().unwrap().starts_with(&queue));
    assert!(reason_for("received 4 times, over max_receive_count = 3")["raw"].as_str().unwrap().contains("over-received-finding"));
    schema_check(&rows, "findings-account");
    let bucket = rows.iter().find(|e| e["finding_info"]["uid"] == sensitive_id).unwrap();
    assert_eq!(bucket["resources"][1]["uid"], "arn:aws:s3:::amzn-s3-demo-bucket/2024/Sept/Employee-Records.csv");
    assert_eq!(bucket["unmapped"]["sensitiveData.PERSONAL_INFORMATION"], "65");

    // The same event delivered once more, in a later run: deleted, nothing written.
    send(&moto, &queue, &sensitive.to_string());
    let (out, s) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!((s.counts.records_read, s.counts.records_written), (0, 0), "{:?}", s.counts);
    assert_eq!(moto.queue_depth(&queue), 0);
    assert_eq!(events(&sc.path("out")).len(), 3);
}

/// Killed at seeded moments mid-run: no message whose row is not durable has been deleted
/// (each one is still on the queue or its row is in the output), and a rerun after the
/// visibility timeout writes every finding exactly once and drains the queue.
#[test]
fn messages_are_deleted_only_after_their_rows_are_durable_across_a_kill() {
    let moto = Moto::start();
    let base = sample_event("sensitive-data-finding.json");
    // Enough messages that the run outlasts the kill window on a fast machine too.
    let n = 120;
    let mut seed: u64 = 0x3ac1_e5ee;
    let mut mid_run = 0;
    for trial in 0..2 {
        let queue = moto.create_queue(&format!("macie-kill-{trial}"));
        for i in 0..n {
            let mut ev = base.clone();
            ev["detail"]["id"] = json!(format!("{trial}-finding-{i:03}"));
            send(&moto, &queue, &ev.to_string());
        }
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let kill_after = Duration::from_millis((seed >> 33) % 80);
        let sc = Scratch::new();
        sc.config(&config(&moto, &queue, "", "visibility_timeout_seconds = 10\ncommit_every_messages = 2").replace("workers = 2", "workers = 2\nbatch_rows = 2\ncommit_every_records = 2"));
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_trawl"))
            .args(["run", "--config", "config.toml", "--quiet"])
            .current_dir(sc.dir.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let t0 = std::time::Instant::now();
        while events(&sc.path("out")).is_empty() && child.try_wait().unwrap().is_none() {
            assert!(t0.elapsed() < Duration::from_secs(120), "no commit within 2 minutes");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(kill_after);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let written = uids(&events(&sc.path("out"))).len();
        let on_queue = moto.queue_depth(&queue) as usize;
        eprintln!("trial {trial}: killed {kill_after:?} after the first commit: {written} rows durable, {on_queue} messages on the queue");
        assert!(written + on_queue >= n, "trial {trial}: a message was deleted before its row was durable ({written} rows, {on_queue} messages of {n})");
        mid_run += (written < n) as usize;
        std::thread::sleep(Duration::from_secs(11));
        let (out, summary) = sc.run();
        assert!(out.status.success(), "trial {trial}: {}", stderr(&out));
        assert!(summary.counts.reconciles());
        let counts = uids(&events(&sc.path("out")));
        assert_eq!(counts.len(), n, "trial {trial}: every finding");
        assert!(counts.values().all(|c| *c == 1), "trial {trial}: none twice");
        assert_eq!(moto.queue_depth(&queue), 0, "trial {trial}");
    }
    assert!(mid_run >= 1, "a kill must land mid-run: {mid_run} of 2 did");
}

/// `trawl check` with moto enforcing IAM: a principal without the SQS actions is told which.
#[test]
fn check_names_the_sqs_actions_when_denied() {
    let moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "4")]);
    let queue = moto.create_queue("macie-findings");
    let iam = aws_sdk_iam::Client::new(&moto.sdk());
    runtime().block_on(iam.create_user().user_name("collector").send()).unwrap();
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": "*"}]});
    runtime().block_on(iam.put_user_policy().user_name("collector").policy_name("nothing-else").policy_document(policy.to_string()).send()).unwrap();
    let key = runtime().block_on(iam.create_access_key().user_name("collector").send()).unwrap();
    let key = key.access_key().unwrap();
    let sc = Scratch::new();
    sc.config(&config(&moto, &queue, "", "").replace(
        r#"auth = { type = "basic", access_key_id = "testing", secret_access_key = "testing" }"#,
        &format!(r#"auth = {{ type = "basic", access_key_id = "{}", secret_access_key = "${{TRAWL_TEST_SECRET}}" }}"#, key.access_key_id()),
    ));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trawl"))
        .args(["check", "--config", "config.toml", "--json"])
        .current_dir(sc.dir.path())
        .env("TRAWL_TEST_SECRET", key.secret_access_key())
        .output_within_limit();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let row = rows.iter().find(|r| r["target"].as_str().unwrap().starts_with("macie")).unwrap_or_else(|| panic!("{rows:#?}"));
    assert_eq!(row["ok"], false, "{row}");
    let p = row["permission"].as_str().unwrap();
    assert!(p.contains("sqs:GetQueueAttributes denied") && p.contains("sqs:ReceiveMessage, sqs:DeleteMessage, sqs:ChangeMessageVisibility"), "{row}");
}

/// Every row of the samples through the embedded mapper passes the strict OCSF check.
#[test]
fn every_sample_row_passes_the_schema_check() {
    use trawl::mapper::BatchMapper;
    let mapper = crate::golden::load_builtin("macie");
    let mut rows = Vec::new();
    for f in sample_files() {
        let batch = sample_batch(&f, crate::golden::CONNECTOR);
        let mapped = mapper.map(&batch).unwrap();
        for rec in mapped.to_json(&batch).as_array().unwrap() {
            rows.extend(rec["events"].as_array().unwrap().iter().cloned());
        }
    }
    assert_eq!(rows.len(), 2);
    schema_check(&rows, crate::golden::CONNECTOR);
}
