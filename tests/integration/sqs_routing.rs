//! One `sqs` queue carrying CloudTrail, Redshift audit and VPC Flow objects (moto's S3 → SQS
//! notifications): each object is read in its own format and mapped by the mapper of its
//! kind, flow records are enriched as `vpc_flow` enriches them, and the queue drains.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{
    common::{Scratch, aws::Moto, input_records, log_files, sample_trail},
    vpc_flow::{Capture, V2, config, create_alias, flow_key, gzip, launch, run_with, stderr, today, text_log},
};

const ACTIVITY_LOG: &str = "'2020-12-08T22:00:03Z UTC [ db=dev user=rdsdb pid=685 userid=1 xid=245578 ]' LOG: SET statement_timeout TO 120000\n\
'2020-12-08T22:01:55Z UTC [ db=dev user=rdsdb pid=23170 userid=1 xid=245636 ]' LOG: SELECT 1\nFROM t\n";

fn redshift_key() -> String {
    let a = crate::common::aws::ACCOUNT;
    format!("AWSLogs/{a}/redshift/us-east-1/{}/{a}_redshift_us-east-1_analytics_useractivitylog_{}T10:00.gz", today().format("%Y/%m/%d"), today().format("%Y-%m-%d"))
}

/// Uploads one object of each kind (and one of no kind) to a bucket that notifies `queue`;
/// returns the CloudTrail records uploaded.
pub(crate) fn upload(moto: &Moto, bucket: &str, queue: &str, flows: &str) -> usize {
    moto.create_bucket(bucket);
    moto.notify_queue(bucket, queue);
    let root = sample_trail();
    let trail = &log_files(&root)[0];
    let rel = trail.strip_prefix(&root).unwrap().display().to_string();
    moto.put(bucket, &rel, std::fs::read(trail).unwrap());
    moto.put(bucket, &redshift_key(), gzip(ACTIVITY_LOG));
    moto.put(bucket, &flow_key("20240115T1000Z_aa.log.gz"), gzip(flows));
    moto.put(bucket, "AWSLogs/123456789012/elasticloadbalancing/us-east-1/x.log.gz", gzip("not ours"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(trail, dir.path().join(trail.file_name().unwrap())).unwrap();
    input_records(dir.path()).len()
}

#[test]
fn one_queue_carries_three_kinds_each_read_and_mapped_as_its_own() {
    let moto = Moto::start();
    let web = launch(&moto, "web-1");
    create_alias(&moto, "prod-main");
    let queue = moto.create_queue("logs");
    let trail_records = upload(&moto, "mixed", &queue, &text_log(&web));

    // Through the binary: CloudTrail by builtin:cloudtrail (OCSF), the others by passthrough.
    let sc = Scratch::new();
    let source = format!(
        "[[connectors.sources]]\ntype = \"sqs\"\nqueue_url = \"{queue}\"\nwait_seconds = 1\n[connectors.sources.redshift_audit]\nmapper = \"builtin:passthrough\"\n[connectors.sources.vpc_flow]\nmapper = \"builtin:passthrough\"\n"
    );
    sc.config(&config(&sc, &moto, &source));
    let (o, s) = sc.run();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert_eq!((s.counts.objects_read, s.counts.records_written, s.counts.records_dead_lettered), (3, trail_records as u64 + 2 + 4, 0), "{s:#?}");
    assert_eq!(moto.queue_depth(&queue), 0, "every message is deleted once settled");
    let mut by_dir: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for f in walk(&sc.path("out")) {
        let dir = f.strip_prefix(sc.path("out")).unwrap().components().next().unwrap().as_os_str().to_string_lossy().to_string();
        for l in std::fs::read_to_string(&f).unwrap().lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            let kind = v["source_kind"].as_str().unwrap_or("ocsf").to_string();
            *by_dir.entry(dir.clone()).or_default().entry(kind).or_default() += 1;
        }
    }
    let ocsf: usize = by_dir.iter().filter(|(d, _)| d.starts_with("cloudtrail_")).flat_map(|(_, k)| k.values()).sum();
    assert_eq!(ocsf, trail_records, "CloudTrail objects went to builtin:cloudtrail: {by_dir:#?}");
    let raw = &by_dir["passthrough_raw"];
    assert_eq!((raw.get("redshift_audit"), raw.get("vpc_flow"), raw.len()), (Some(&2), Some(&4), 2), "{by_dir:#?}");

    // In process: the flow records routed from the queue are enriched, the header is their context.
    let queue2 = moto.create_queue("logs2");
    upload(&moto, "mixed2", &queue2, &text_log(&web));
    let sc = Scratch::new();
    let c = Capture::new();
    let s = run_with(&sc, &config(&sc, &moto, &source.replace(&queue, &queue2)), c.clone());
    assert_eq!(s.counts.records_read, trail_records as u64 + 2 + 4);
    let rows = c.rows();
    let kinds: BTreeMap<&str, usize> = rows.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.kind.as_str()).or_default() += 1;
        m
    });
    assert_eq!(kinds, BTreeMap::from([("cloudtrail_sqs", trail_records), ("redshift_audit", 2), ("vpc_flow", 4)]));
    let flow = rows.iter().find(|r| r.kind == "vpc_flow").unwrap();
    assert_eq!(flow.context.as_deref(), Some(V2));
    let e = flow.enrichment.as_ref().unwrap();
    assert_eq!((e["src"]["instance_id"].as_str(), e["src"]["name"].as_str(), e["account_alias"].as_str()), (Some(web.instance_id.as_str()), Some("web-1"), Some("prod-main")));
    let query = rows.iter().find(|r| r.kind == "redshift_audit" && r.index == 1).unwrap();
    assert_eq!((query.raw.ends_with("SELECT 1\nFROM t"), query.context.as_deref()), (true, Some("useractivitylog")));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != ".tmp") {
                    out.extend(walk(&p));
                }
            } else if p.to_string_lossy().ends_with(".json") {
                out.push(p);
            }
        }
    }
    out
}
