//! One run over every source trawl has, in one connector: moto for S3, SQS, IAM, CloudWatch
//! Logs, Inspector and STS, the wire fakes for LookupEvents, GuardDuty, Shield,
//! DescribeAlarmHistory and Redshift DescribeEvents, each seeded with its sample data. The
//! summary reconciles as a whole and per source, every source read something, and every row
//! written passes the strict OCSF check.

use std::collections::BTreeSet;

use crate::{
    common::{
        Scratch,
        aws::Moto,
        copy_tree,
        fake_cloudwatch::CloudWatchFake,
        fake_guardduty::GuardDutyFake,
        fake_redshift::RedshiftFake,
        fake_shield::ShieldFake,
        fakes::{CloudTrailFake, LookupEvent},
        log_files, repo,
        runs::{all_rows, schema_check, stderr},
        sample_trail,
    },
    vpc_flow::text_log,
};

/// Every source type of the registry, as `trawl check` lists them.
const ALL: &[&str] = &[
    "cloudtrail_files", "cloudtrail_s3", "cloudtrail_lookup", "sqs", "macie", "guardduty", "inspector", "shield", "iam", "cloudwatch_logs", "cloudwatch_alarms",
    "redshift_events", "redshift_audit", "vpc_flow",
];

#[test]
fn a_run_over_every_source_reconciles_and_every_row_passes_the_schema_check() {
    let moto = Moto::start();
    let now = chrono::Utc::now();
    let sc = Scratch::new();

    // Files: a local copy of the sample trail; the trail, Redshift audit logs and flow logs in
    // local trees and in a bucket.
    copy_tree(&sample_trail(), &sc.path("trail"));
    moto.create_bucket("trail");
    for f in log_files(&sample_trail()) {
        moto.put("trail", &f.strip_prefix(sample_trail()).unwrap().display().to_string(), std::fs::read(&f).unwrap());
    }
    // A queue of S3 notifications (a trail object, a Redshift log, a flow log) and the Macie queue.
    let web = crate::vpc_flow::launch(&moto, "web-1");
    let queue = moto.create_queue("logs");
    crate::sqs_routing::upload(&moto, "mixed", &queue, &text_log(&web));
    let macie_queue = moto.create_queue("macie");
    crate::macie::send(&moto, &macie_queue, &crate::macie::sample_event("sensitive-data-finding.json").to_string());
    // IAM entities, a trail in CloudWatch Logs, Inspector findings: moto.
    crate::iam::seed(&moto);
    crate::cloudwatch_logs::create_group(&moto, "aws-cloudtrail-logs-all", &["111122223333_CloudTrail_us-east-1"]);
    crate::cloudwatch_logs::put(&moto, "aws-cloudtrail-logs-all", "111122223333_CloudTrail_us-east-1", &crate::cloudwatch_logs::trail_events(now.timestamp_millis() - 120_000));
    let findings = crate::inspector::sample_findings();
    crate::inspector::seed(&moto, &findings.iter().collect::<Vec<_>>());
    // The APIs moto lacks: wire fakes.
    let lookup = CloudTrailFake::start(crate::cloudtrail_lookup::recent_records(now.timestamp()).iter().map(LookupEvent::from_record).collect(), 50);
    let guardduty = GuardDutyFake::start(crate::guardduty::recent_findings(now.timestamp_millis(), 1), 50);
    let shield = ShieldFake::start(crate::shield::recent_attacks(now.timestamp() as f64, 2).0, 50);
    let alarms = CloudWatchFake::start(crate::cloudwatch_alarms::history(now.timestamp(), 2), 50);
    let redshift = RedshiftFake::start(crate::redshift_events::recent_events(now.timestamp(), 1), 50);

    let flows = repo().join("examples/data/vpc-flow").display().to_string();
    let audit = repo().join("examples/data/redshift").display().to_string();
    let sources = [
        "type = \"cloudtrail_files\"\npath = \"trail\"".to_string(),
        "type = \"cloudtrail_s3\"\nbucket = \"trail\"\nsince = \"2024-01-01\"\nuntil = \"2024-01-31\"".into(),
        "type = \"cloudtrail_lookup\"\nsince = \"1d\"\nsettle_seconds = 0\nrequests_per_second = 50".into(),
        format!("type = \"sqs\"\nqueue_url = \"{queue}\"\nwait_seconds = 1"),
        "type = \"macie\"\nwait_seconds = 1".into(),
        "type = \"guardduty\"\nsince = \"1d\"\nsettle_seconds = 0\nrequests_per_second = 50".into(),
        "type = \"inspector\"\nrequests_per_second = 50".into(),
        "type = \"shield\"\nsince = \"1d\"\nsettle_seconds = 0\nrequests_per_second = 50".into(),
        "type = \"iam\"\nrequests_per_second = 50".into(),
        "type = \"cloudwatch_logs\"\nlog_groups = [\"aws-cloudtrail-logs-*\"]\nmapper = \"builtin:cloudtrail\"\nsettle_seconds = 0\nrequests_per_second = 50".into(),
        "type = \"cloudwatch_alarms\"\nsince = \"1d\"\nsettle_seconds = 0\nrequests_per_second = 50".into(),
        "type = \"redshift_events\"\nsince = \"1d\"\nsettle_seconds = 0\nrequests_per_second = 50".into(),
        format!("type = \"redshift_audit\"\npath = \"{audit}\""),
        format!("type = \"vpc_flow\"\npath = \"{flows}\""),
    ];
    let sources: String = sources.iter().map(|s| format!("[[connectors.sources]]\n{s}\n")).collect();
    sc.config(&format!(
        r#"
[state]
dir = "state"
[pipeline]
workers = 2
[[connectors]]
name = "every-source"
region = "us-east-1"
endpoint_url = "{moto}"
macie_sqs_url = "{macie_queue}"
auth = {{ type = "basic", access_key_id = "testing", secret_access_key = "testing" }}
endpoints = {{ cloudtrail = "{lookup}", guardduty = "{guardduty}", shield = "{shield}", cloudwatch = "{alarms}", redshift = "{redshift}" }}
{sources}
[[outputs]]
type = "ndjson"
path = "out"
[[outputs]]
type = "parquet"
path = "lake"
"#,
        moto = moto.url(),
        lookup = lookup.url(),
        guardduty = guardduty.url(),
        shield = shield.url(),
        alarms = alarms.url(),
        redshift = redshift.url(),
    ));

    let (out, s) = sc.run();
    // The Redshift and VPC Flow samples hold bad lines on purpose (see their READMEs): those,
    // and only those, are dead-lettered, which makes the run exit 1 (not clean).
    assert_eq!(out.status.code(), Some(1), "{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    let dl = std::fs::read_to_string(sc.path(&s.dead_letter_file.as_ref().expect("the samples' bad lines").display().to_string())).unwrap();
    for line in dl.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let object = v["object"].as_str().unwrap();
        assert!(object.starts_with(&audit) || object.starts_with(&flows), "only the samples' bad lines are dead-lettered: {v}");
    }
    assert_eq!(dl.lines().count() as u64, s.counts.records_dead_lettered);
    assert!(s.counts.reconciles(), "{s:#?}");
    assert_eq!(s.counts.objects_retry_later, 0, "{s:#?}");
    let types: BTreeSet<&str> = s.sources.iter().map(|x| x.source.split(':').next().unwrap()).collect();
    assert_eq!(types, ALL.iter().copied().collect(), "one summary row per source");
    let mut sum = trawl::pipeline::Counts::default();
    for src in &s.sources {
        assert!(src.error.is_none(), "{}: {:?}", src.source, src.error);
        assert!(src.counts.reconciles(), "{}: {:#?}", src.source, src.counts);
        assert!(src.counts.records_read > 0, "{} read nothing: {:#?}", src.source, src.counts);
        for (total, part) in [
            (&mut sum.records_read, src.counts.records_read),
            (&mut sum.records_written, src.counts.records_written),
            (&mut sum.records_skipped, src.counts.records_skipped),
            (&mut sum.records_dead_lettered, src.counts.records_dead_lettered),
            (&mut sum.events_written, src.counts.events_written),
        ] {
            *total += part;
        }
    }
    assert_eq!(
        (sum.records_read, sum.records_written, sum.records_skipped, sum.records_dead_lettered, sum.events_written),
        (s.counts.records_read, s.counts.records_written, s.counts.records_skipped, s.counts.records_dead_lettered, s.counts.events_written),
        "the per-source counts add up to the run's"
    );
    // Every event is in the NDJSON output (the same CloudTrail record may arrive by several
    // sources here, so uids repeat across sources; each source's own tests check uniqueness)
    // and passes the strict schema check; the Parquet output has as many rows.
    let rows = all_rows(&sc.path("out"));
    assert_eq!(rows.len() as u64, s.counts.events_written);
    assert!(rows.iter().all(|r| r["metadata"]["uid"].is_string()), "every event has a metadata.uid");
    schema_check(rows.iter());
    let parquet_rows: usize = crate::common::parquet_files(&sc.path("lake")).iter().flat_map(|f| crate::common::read_parquet(f)).map(|b| b.num_rows()).sum();
    assert_eq!(parquet_rows as u64, s.counts.events_written);
}
