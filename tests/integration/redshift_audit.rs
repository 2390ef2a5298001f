//! Source `redshift_audit` against moto (clusters, EnableLogging, DescribeLoggingStatus,
//! parameter groups; audit log files written by the test following the documented formats,
//! since moto writes none), and for what moto cannot say — its DescribeClusterParameters
//! always answers the defaults, so `enable_user_activity_logging` is always false — a wire
//! stub in front of moto that answers that call with the documented XML and passes every
//! other call on.

use crate::common::watchdog::OutputWithin;
use aws_sdk_redshift::types::LogDestinationType;
use serde_json::Value;
use trawl::aws::runtime;

use crate::{
    common::{
        Scratch,
        aws::{ACCOUNT, Moto},
        fakes::{Reply, Request, WireFake, forward},
    },
    vpc_flow::{Capture, gzip, run_with, stderr, today},
};

fn redshift(moto: &Moto) -> aws_sdk_redshift::Client {
    aws_sdk_redshift::Client::new(&moto.sdk())
}

fn create_cluster(moto: &Moto, id: &str) {
    let r = redshift(moto);
    runtime()
        .block_on(r.create_cluster().cluster_identifier(id).node_type("ra3.xlplus").cluster_type("single-node").master_username("awsuser").master_user_password("Passw0rd-not-real").send())
        .unwrap();
}

fn enable_logging(moto: &Moto, id: &str, bucket: &str, prefix: &str, dest: LogDestinationType) {
    let r = redshift(moto);
    let mut req = r.enable_logging().cluster_identifier(id).log_destination_type(dest.clone());
    req = if dest == LogDestinationType::Cloudwatch { req.log_exports("connectionlog").log_exports("userlog") } else { req.bucket_name(bucket).s3_key_prefix(prefix) };
    runtime().block_on(req.send()).unwrap();
}

/// `rs/AWSLogs/<acct>/redshift/us-east-1/<today>/<acct>_redshift_us-east-1_<cluster>_<log>_<time>.gz`.
fn audit_key(prefix: &str, cluster: &str, log: &str) -> String {
    let d = today();
    format!("{prefix}AWSLogs/{ACCOUNT}/redshift/us-east-1/{}/{ACCOUNT}_redshift_us-east-1_{cluster}_{log}_{}T10:00.gz", d.format("%Y/%m/%d"), d.format("%Y-%m-%d"))
}

// The documented line shapes (reference notes §1), one bad line in each multi-record log.
const CONNECTION_LOG: &str = "authenticated |Mon, 7 Dec 2020 20:01:55:177|[local] | |5108|dev |rdsdb |Ident |0| | |0| | | | | | |\n\
garbage|line\n\
disconnecting session |Mon, 7 Dec 2020 20:01:55:304|[local] | |5108|dev |rdsdb |Ident |127304| | |0| | | | | | |\n";
const USER_LOG: &str = "100|awsuser | |create |1|1|0|9223372036854775807|14888|1080|Thu, 3 Dec 2020 10:18:38:695\n";
const ACTIVITY_LOG: &str = "stray text before the first record\n\
'2020-12-08T22:00:03Z UTC [ db=dev user=rdsdb pid=685 userid=1 xid=245578 ]' LOG: SET statement_timeout TO 120000\n\
'2020-12-08T22:01:55Z UTC [ db=dev user=rdsdb pid=23170 userid=1 xid=245636 ]' LOG: SELECT  ss.node as node,\n        bc.temporary as temporary\nFROM stv_slices ss\n";

fn upload_logs(moto: &Moto, bucket: &str, prefix: &str, cluster: &str) {
    moto.put(bucket, &audit_key(prefix, cluster, "connectionlog"), gzip(CONNECTION_LOG));
    moto.put(bucket, &audit_key(prefix, cluster, "userlog"), gzip(USER_LOG));
    moto.put(bucket, &audit_key(prefix, cluster, "useractivitylog"), gzip(ACTIVITY_LOG));
}

/// A connector named `name` on moto with static keys and one `redshift_audit` source.
fn connector(name: &str, moto_url: &str, connector_extra: &str, source: &str) -> String {
    format!(
        r#"
[[connectors]]
name = "{name}"
region = "us-east-1"
endpoint_url = "{moto_url}"
auth = {{ type = "basic", access_key_id = "testing", secret_access_key = "testing" }}
{connector_extra}
[[connectors.sources]]
type = "redshift_audit"
{source}
"#
    )
}

fn config(sc: &Scratch, moto_url: &str, connector_extra: &str, source: &str) -> String {
    configs(sc, &connector("warehouse", moto_url, connector_extra, source))
}

fn configs(sc: &Scratch, connectors: &str) -> String {
    format!("[state]\ndir = \"{}\"\n{connectors}\n[[outputs]]\ntype = \"ndjson\"\npath = \"{}\"\n", sc.path("state").display(), sc.path("out").display())
}

#[test]
fn discovered_clusters_audit_logs_land_and_bad_lines_are_dead_lettered_with_object_and_offset() {
    let moto = Moto::start();
    moto.create_bucket("audit");
    create_cluster(&moto, "analytics");
    enable_logging(&moto, "analytics", "audit", "rs/", LogDestinationType::S3);
    create_cluster(&moto, "quiet");
    upload_logs(&moto, "audit", "rs/", "analytics");
    // A cluster whose logging is off now: its old files are not read (it logs nowhere).
    upload_logs(&moto, "audit", "rs/", "quiet");
    let sc = Scratch::new();
    sc.config(&config(&sc, &moto.url(), "", "mapper = \"builtin:passthrough\"\nsince = \"1d\""));
    let (o, s) = sc.run();
    assert_eq!(o.status.code(), Some(1), "dead letters make exit code 1: {}", stderr(&o));
    assert_eq!((s.counts.objects_read, s.counts.records_read, s.counts.records_written, s.counts.records_dead_lettered), (3, 7, 5, 2), "{s:#?}");
    assert!(s.counts.reconciles());
    let dl = std::fs::read_to_string(s.dead_letter_file.as_ref().unwrap()).unwrap();
    let entries: Vec<Value> = dl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let conn = entries.iter().find(|e| e["object"].as_str().unwrap().contains("_connectionlog_")).unwrap();
    assert_eq!(conn["object"], format!("s3://audit/{}", audit_key("rs/", "analytics", "connectionlog")));
    assert_eq!((conn["record_index"].as_u64(), conn["byte_offset"].as_u64(), conn["raw"].as_str()), (Some(1), Some(CONNECTION_LOG.find("garbage").unwrap() as u64), Some("garbage|line")));
    assert!(conn["reason"].as_str().unwrap().contains("fields"), "{conn}");
    let act = entries.iter().find(|e| e["object"].as_str().unwrap().contains("_useractivitylog_")).unwrap();
    assert_eq!((act["record_index"].as_u64(), act["byte_offset"].as_u64()), (Some(0), Some(0)));
    // The rest landed: raw records with their kind, the multi-line query whole.
    let mut raws = Vec::new();
    for f in walk(&sc.path("out")) {
        for l in std::fs::read_to_string(&f).unwrap().lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["source_kind"], "redshift_audit");
            assert_eq!((v["aws_account_id"].as_str(), v["region"].as_str()), (Some(ACCOUNT), Some("us-east-1")));
            assert!(!v["object"].as_str().unwrap().contains("_quiet_"), "the cluster without logging is not read");
            raws.push(v["raw"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(raws.len(), 5);
    assert!(raws.iter().any(|r| r.ends_with("bc.temporary as temporary\nFROM stv_slices ss")), "{raws:#?}");
    // A rerun reads nothing again.
    let (o, s) = sc.run();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!((s.counts.records_read, s.counts.objects_already_done), (0, 3));
}

#[test]
fn a_bucket_override_a_cluster_filter_log_types_and_the_unit_context() {
    let moto = Moto::start();
    moto.create_bucket("central");
    upload_logs(&moto, "central", "", "analytics");
    upload_logs(&moto, "central", "", "other");
    let sc = Scratch::new();
    // No cluster exists in moto: with a bucket no Redshift call is made.
    let toml = config(&sc, &moto.url(), "", "bucket = \"central\"\nclusters = [\"analytics\"]\nlog_types = [\"connectionlog\", \"useractivitylog\"]\nsince = \"1d\"");
    let c = Capture::new();
    let s = run_with(&sc, &toml, c.clone());
    assert_eq!((s.counts.objects_read, s.counts.records_read), (2, 6), "{s:#?}");
    let rows = c.rows();
    assert!(rows.iter().all(|r| r.object.contains("_analytics_") && r.kind == "redshift_audit"));
    let ctx: std::collections::BTreeSet<_> = rows.iter().map(|r| r.context.clone().unwrap()).collect();
    assert_eq!(ctx.into_iter().collect::<Vec<_>>(), ["connectionlog", "useractivitylog"]);
    // The same objects in a local tree.
    let tree = sc.path("copy");
    for log in ["connectionlog", "userlog"] {
        let p = tree.join(audit_key("", "analytics", log));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, moto.get("central", &audit_key("", "analytics", log))).unwrap();
    }
    let sc2 = Scratch::new();
    let c = Capture::new();
    let s = run_with(&sc2, &config(&sc2, &moto.url(), "", &format!("path = \"{}\"", tree.display())), c.clone());
    assert_eq!((s.counts.objects_read, s.counts.records_read), (2, 4), "{s:#?}");
}

/// A stub in front of moto: DescribeClusterParameters is answered with the documented XML
/// (`enable_user_activity_logging` true); everything else goes to moto.
fn parameters_stub(moto_port: u16) -> WireFake {
    WireFake::start(move |req: &Request| {
        if String::from_utf8_lossy(&req.body).contains("Action=DescribeClusterParameters") {
            let body = r#"<DescribeClusterParametersResponse xmlns="http://redshift.amazonaws.com/doc/2012-12-01/">
  <DescribeClusterParametersResult>
    <Parameters>
      <Parameter>
        <ParameterValue>true</ParameterValue>
        <DataType>boolean</DataType>
        <Source>user</Source>
        <ApplyType>static</ApplyType>
        <Description>parameter for audit logging purpose</Description>
        <AllowedValues>true,false</AllowedValues>
        <ParameterName>enable_user_activity_logging</ParameterName>
      </Parameter>
    </Parameters>
  </DescribeClusterParametersResult>
  <ResponseMetadata>
    <RequestId>2ba8c1b4-f946-11e2-8e8c-5d4c2c0d6b1b</RequestId>
  </ResponseMetadata>
</DescribeClusterParametersResponse>"#;
            return Reply::new("200 OK", "text/xml", body.as_bytes());
        }
        forward(moto_port, req)
    })
}

#[test]
fn check_reports_each_cluster_logging_off_cloudwatch_activity_parameter_and_unreadable_bucket() {
    let moto = Moto::start();
    moto.create_bucket("audit");
    create_cluster(&moto, "analytics");
    enable_logging(&moto, "analytics", "audit", "rs/", LogDestinationType::S3);
    create_cluster(&moto, "dark");
    create_cluster(&moto, "streamed");
    enable_logging(&moto, "streamed", "", "", LogDestinationType::Cloudwatch);
    create_cluster(&moto, "lost");
    enable_logging(&moto, "lost", "no-such-audit-bucket", "", LogDestinationType::S3);
    let stub = parameters_stub(moto.port);
    let sc = Scratch::new();
    // The same cluster seen through the stub too: there the activity parameter is on.
    sc.config(&configs(
        &sc,
        &format!(
            "{}{}",
            connector("warehouse", &moto.url(), "", "clusters = [\"analytics\", \"dark\", \"streamed\", \"lost\", \"gone\"]"),
            connector("warehouse-stub", &moto.url(), &format!("endpoints = {{ redshift = \"{}\" }}", stub.url()), "clusters = [\"analytics\"]"),
        ),
    ));
    let o = sc.trawl(&["check", "--config", "config.toml", "--json"]);
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", String::from_utf8_lossy(&o.stdout), stderr(&o)));
    assert_eq!(o.status.code(), Some(1), "a cluster without logging fails the check: {rows:#?}");
    let row = |c: &str, t: &str| {
        rows.iter().find(|r| r["connector"] == c && r["target"].as_str().unwrap().ends_with(t)).unwrap_or_else(|| panic!("no row {c} / {t}: {rows:#?}")).clone()
    };
    let top = row("warehouse", "clusters in us-east-1");
    assert!(top["ok"] == true && top["detail"].as_str().unwrap().contains("redshift:DescribeClusters OK"), "{top}");
    let a = row("warehouse", "cluster analytics");
    assert!(a["ok"] == true && a["warning"] == true, "{a}");
    assert!(a["detail"].as_str().unwrap().contains("s3://audit/rs") && a["detail"].as_str().unwrap().contains("user activity log will be empty"), "{a}");
    let d = row("warehouse", "cluster dark");
    assert!(d["ok"] == false && d["code"] == "LoggingDisabled" && d["detail"].as_str().unwrap().contains("aws redshift enable-logging --cluster-identifier dark"), "{d}");
    let s = row("warehouse", "cluster streamed");
    assert!(s["ok"] == true && s["warning"] == true, "{s}");
    let sd = s["detail"].as_str().unwrap();
    assert!(sd.contains("CloudWatch") && sd.contains("cloudwatch_logs") && sd.contains("/aws/redshift/cluster/streamed/connectionlog") && !sd.contains("useractivitylog"), "{s}");
    let l = row("warehouse", "cluster lost");
    assert!(l["ok"] == false && l["code"] == "NoSuchBucket" && l["detail"].as_str().unwrap().contains("no-such-audit-bucket"), "{l}");
    assert_eq!(row("warehouse", "cluster gone")["code"], "ClusterNotFound");
    let on = row("warehouse-stub", "cluster analytics");
    assert!(on["ok"] == true && on.get("warning").is_none() && on["detail"].as_str().unwrap().contains("enable_user_activity_logging is true"), "{on}");
    let table = sc.trawl(&["check", "--config", "config.toml"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("WARN") && text.contains("FAILED") && text.contains("redshift_audit clusters in us-east-1 cluster dark"), "{text}");
}

#[test]
fn check_names_the_denied_redshift_permission() {
    let moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
    let iam = aws_sdk_iam::Client::new(&moto.sdk());
    runtime().block_on(iam.create_user().user_name("collector").send()).unwrap();
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:ListBucket", "sts:GetCallerIdentity"], "Resource": "*"}]});
    runtime().block_on(iam.put_user_policy().user_name("collector").policy_name("p").policy_document(policy.to_string()).send()).unwrap();
    let key = runtime().block_on(iam.create_access_key().user_name("collector").send()).unwrap();
    let key = key.access_key().unwrap();
    let sc = Scratch::new();
    sc.config(&config(&sc, &moto.url(), "", "").replace("access_key_id = \"testing\", secret_access_key = \"testing\"", "access_key_id = \"${K}\", secret_access_key = \"${S}\""));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_trawl"))
        .args(["check", "--config", "config.toml", "--json"])
        .current_dir(sc.dir.path())
        .env("K", key.access_key_id())
        .env("S", key.secret_access_key())
        .output_within_limit();
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    let r = rows.iter().find(|r| r["target"].as_str().unwrap().starts_with("redshift_audit")).unwrap();
    assert!(r["ok"] == false && r["permission"].as_str().unwrap_or("").contains("AmazonRedshiftReadOnlyAccess: redshift:DescribeClusters denied"), "{rows:#?}");
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

/// End to end with the standard mapper: each log type lands as its OCSF class, every row
/// schema-valid, and the host's dead letters are the only ones.
#[test]
fn audit_logs_land_as_ocsf_through_builtin_redshift() {
    let moto = Moto::start();
    moto.create_bucket("audit");
    create_cluster(&moto, "analytics");
    enable_logging(&moto, "analytics", "audit", "rs/", LogDestinationType::S3);
    upload_logs(&moto, "audit", "rs/", "analytics");
    let sc = Scratch::new();
    sc.config(&config(&sc, &moto.url(), "", "since = \"1d\""));
    let (o, s) = sc.run();
    assert_eq!((s.counts.records_written, s.counts.records_dead_lettered), (5, 2), "{s:#?}{}", stderr(&o));
    let schema = trawl::ocsf::Schema::load(&crate::common::repo().join("ocsf/schema-1.1.0")).unwrap();
    let mut classes = std::collections::BTreeMap::<i64, usize>::new();
    for f in walk(&sc.path("out")) {
        for l in std::fs::read_to_string(&f).unwrap().lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            let bad = schema.validate(&v);
            assert!(bad.is_empty(), "{}: {}", f.display(), bad.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "));
            *classes.entry(v["class_uid"].as_i64().unwrap()).or_default() += 1;
        }
    }
    assert_eq!(classes, std::collections::BTreeMap::from([(3001, 1), (3002, 2), (6005, 2)]), "connection log → Authentication, user log → Account Change, queries → Datastore Activity");
}
