//! Source `vpc_flow` against moto (S3, EC2 instances and their interfaces, the IAM account
//! alias): both key layouts, text and Parquet, the header as each record's context, the
//! enrichment the host attaches (read off the raw batches by a capturing mapper, run in
//! process through the real pipeline), missing permissions (unenriched rows, one warning),
//! and `trawl check`.
//!
//! The helpers here (a capturing mapper, an in-process run, gzip) serve `redshift_audit.rs`
//! and `sqs_routing.rs` too.

use crate::common::watchdog::OutputWithin;
use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use serde_json::Value;
use trawl::{
    aws::runtime,
    batch::RawBatch,
    mapper::{BatchMapper, MappedBatch, Manifest, MapperError, RowStatus},
    pipeline::{RunOptions, RunSummary},
};

use crate::common::{
    Scratch,
    aws::{ACCOUNT, Moto},
};

/// One record as a mapper received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub kind: String,
    pub object: String,
    pub index: u64,
    pub offset: u64,
    pub raw: String,
    pub context: Option<String>,
    pub enrichment: Option<Value>,
}

/// A mapper that keeps every record it is given (and skips it: nothing is written).
pub struct Capture {
    manifest: Manifest,
    pub seen: Mutex<Vec<Seen>>,
}

impl Capture {
    pub fn new() -> Arc<Self> {
        Arc::new(Capture { manifest: Manifest::new("capture", "0.1.0", Vec::new()), seen: Mutex::default() })
    }

    pub fn rows(&self) -> Vec<Seen> {
        let mut v = self.seen.lock().unwrap().clone();
        v.sort_by(|a, b| (&a.object, a.index).cmp(&(&b.object, b.index)));
        v
    }
}

impl BatchMapper for Capture {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn map(&self, batch: &RawBatch) -> Result<MappedBatch, MapperError> {
        let view = trawl_guest_sdk::RawBatchView::new(&batch.batch).unwrap();
        let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
        let mut seen = self.seen.lock().unwrap();
        for i in 0..batch.len() {
            let r = view.get(i);
            seen.push(Seen {
                kind: r.source_kind.to_string(),
                object: r.object.to_string(),
                index: r.record_index,
                offset: r.byte_offset,
                raw: text(Some(r.bytes)).unwrap(),
                context: text(r.context),
                enrichment: r.enrichment.map(|e| serde_json::from_slice(e).unwrap()),
            });
        }
        Ok(MappedBatch { status: vec![RowStatus::Skip; batch.len()], classes: Vec::new() })
    }
}

/// Runs the config in process with `mapper` in place of every configured mapper.
pub fn run_with(sc: &Scratch, toml: &str, mapper: Arc<dyn BatchMapper>) -> RunSummary {
    let path = sc.config(toml);
    let cfg = trawl::config::Config::load(&path).unwrap();
    trawl::pipeline::run(&cfg, &RunOptions { quiet: true, mapper_override: Some(mapper), ..Default::default() }).unwrap()
}

pub fn gzip(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A connector on moto with static keys and the given sources; state and output in the scratch dir.
pub fn config(sc: &Scratch, moto: &Moto, sources: &str) -> String {
    format!(
        r#"[state]
dir = "{state}"
[[connectors]]
name = "flows-account"
region = "us-east-1"
endpoint_url = "{m}"
auth = {{ type = "basic", access_key_id = "testing", secret_access_key = "testing" }}
{sources}
[[outputs]]
type = "ndjson"
path = "{out}"
"#,
        state = sc.path("state").display(),
        m = moto.url(),
        out = sc.path("out").display(),
    )
}

/// An instance launched in moto: its id, interface and addresses.
pub struct Launched {
    pub instance_id: String,
    pub eni: String,
    pub private_ip: String,
    pub public_ip: Option<String>,
    pub subnet_id: String,
    pub vpc_id: String,
}

/// RunInstances in moto with a Name tag.
pub fn launch(moto: &Moto, name: &str) -> Launched {
    use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};
    let ec2 = aws_sdk_ec2::Client::new(&moto.sdk());
    let image = runtime().block_on(ec2.describe_images().send()).unwrap().images()[0].image_id().unwrap().to_string();
    let tags = TagSpecification::builder().resource_type(ResourceType::Instance).tags(Tag::builder().key("Name").value(name).build()).build();
    let out = runtime()
        .block_on(ec2.run_instances().image_id(image).instance_type(InstanceType::T2Micro).min_count(1).max_count(1).tag_specifications(tags).send())
        .unwrap();
    let i = &out.instances()[0];
    let id = i.instance_id().unwrap().to_string();
    // The description DescribeInstances gives (public addresses are assigned at launch).
    let d = runtime().block_on(ec2.describe_instances().instance_ids(&id).send()).unwrap();
    let i = &d.reservations()[0].instances()[0];
    let n = &i.network_interfaces()[0];
    Launched {
        instance_id: id,
        eni: n.network_interface_id().unwrap().to_string(),
        private_ip: i.private_ip_address().unwrap().to_string(),
        public_ip: i.public_ip_address().map(str::to_string),
        subnet_id: i.subnet_id().unwrap().to_string(),
        vpc_id: i.vpc_id().unwrap().to_string(),
    }
}

pub fn create_alias(moto: &Moto, alias: &str) {
    let iam = aws_sdk_iam::Client::new(&moto.sdk());
    runtime().block_on(iam.create_account_alias().account_alias(alias).send()).unwrap();
}

pub const V2: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

/// A v2 text flow log with the documented shapes: records of `web` talking to the internet
/// and back, a NODATA line, a repeated header, double spaces, no final newline.
pub fn text_log(web: &Launched) -> String {
    let (eni, ip) = (&web.eni, &web.private_ip);
    format!(
        "{V2}\n\
         2 {ACCOUNT} {eni} {ip} 198.51.100.7 49152 443 6 20 4249 1418530010 1418530070 ACCEPT OK\n\
         2 {ACCOUNT} {eni} 198.51.100.7 {ip} 443 49152 6 10 840 1418530010 1418530070 ACCEPT OK\n\
         2 {ACCOUNT} {eni} - - - - - - - 1431280876 1431280934 - NODATA\n\
         {V2}\n\
         2 {ACCOUNT} {eni}  203.0.113.9 {ip} 3389 3389 6 1 40 1418530010 1418530070 REJECT OK"
    )
}

/// A Parquet flow log as the delivery option writes it (GZIP pages, column names with `_`).
pub fn parquet_log(web: &Launched) -> Vec<u8> {
    use arrow_array::{Int32Array, Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    let s = |v: &str| Field::new(v, DataType::Utf8, true);
    let schema = Arc::new(Schema::new(vec![
        Field::new("version", DataType::Int32, true),
        s("account_id"),
        s("interface_id"),
        s("srcaddr"),
        s("dstaddr"),
        Field::new("srcport", DataType::Int32, true),
        Field::new("dstport", DataType::Int32, true),
        Field::new("protocol", DataType::Int32, true),
        Field::new("packets", DataType::Int64, true),
        Field::new("bytes", DataType::Int64, true),
        Field::new("start", DataType::Int64, true),
        Field::new("end", DataType::Int64, true),
        s("action"),
        s("log_status"),
        s("flow_direction"),
    ]));
    let strs = |v: Vec<Option<&str>>| Arc::new(StringArray::from(v)) as arrow_array::ArrayRef;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int32Array::from(vec![5, 5])),
            strs(vec![Some(ACCOUNT), Some(ACCOUNT)]),
            strs(vec![Some(&web.eni), Some(&web.eni)]),
            strs(vec![Some("198.51.100.7"), Some(&web.private_ip)]),
            strs(vec![Some(&web.private_ip), Some("192.0.2.1")]),
            Arc::new(Int32Array::from(vec![443, 53])),
            Arc::new(Int32Array::from(vec![49152, 53])),
            Arc::new(Int32Array::from(vec![6, 17])),
            Arc::new(Int64Array::from(vec![10, 1])),
            Arc::new(Int64Array::from(vec![840, 70])),
            Arc::new(Int64Array::from(vec![1418530010, 1418530010])),
            Arc::new(Int64Array::from(vec![1418530070, 1418530070])),
            strs(vec![Some("ACCEPT"), Some("ACCEPT")]),
            strs(vec![Some("OK"), Some("OK")]),
            strs(vec![Some("ingress"), None]),
        ],
    )
    .unwrap();
    let props = parquet::file::properties::WriterProperties::builder().set_compression(parquet::basic::Compression::GZIP(Default::default())).build();
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    buf
}

pub fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

/// `AWSLogs/<acct>/vpcflowlogs/us-east-1/YYYY/MM/DD/<name>` for today.
pub fn flow_key(name: &str) -> String {
    format!("AWSLogs/{ACCOUNT}/vpcflowlogs/us-east-1/{}/{ACCOUNT}_vpcflowlogs_us-east-1_fl-0a1b2c3d_{name}", today().format("%Y/%m/%d"))
}

fn hive_key(name: &str) -> String {
    let d = today();
    format!("AWSLogs/aws-account-id={ACCOUNT}/aws-service=vpcflowlogs/aws-region=us-east-1/year={}/month={}/day={}/hour=10/{ACCOUNT}_vpcflowlogs_us-east-1_fl-0a1b2c3d_{name}", d.format("%Y"), d.format("%m"), d.format("%d"))
}

#[test]
fn flow_logs_in_both_layouts_text_and_parquet_carry_the_instance_that_owns_the_interface() {
    let moto = Moto::start();
    moto.create_bucket("flows");
    let web = launch(&moto, "web-1");
    create_alias(&moto, "prod-main");
    moto.put("flows", &format!("vpc/{}", flow_key("20240115T1000Z_aa.log.gz")), gzip(&text_log(&web)));
    moto.put("flows", &format!("vpc/{}", hive_key("20240115T1005Z_bb.log.parquet")), parquet_log(&web));
    // Not flow logs: another service's folder, and a file that is not a log.
    moto.put("flows", &format!("vpc/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/{}/x.json.gz", today().format("%Y/%m/%d")), gzip("{}"));
    moto.put("flows", &format!("vpc/{}", flow_key("notes.txt")), b"not a flow log".to_vec());
    let sc = Scratch::new();
    let toml = config(&sc, &moto, "[[connectors.sources]]\ntype = \"vpc_flow\"\nbucket = \"flows\"\nprefix = \"vpc\"\nsince = \"1d\"\n");
    let capture = Capture::new();
    let s = run_with(&sc, &toml, capture.clone());
    assert_eq!((s.counts.objects_read, s.counts.records_read, s.counts.records_dead_lettered), (2, 6, 0), "{s:#?}");
    let rows = capture.rows();
    let (text, parquet): (Vec<&Seen>, Vec<&Seen>) = rows.iter().partition(|r| r.object.ends_with(".log.gz"));
    assert_eq!((text.len(), parquet.len()), (4, 2));
    assert!(rows.iter().all(|r| r.kind == "vpc_flow"));
    // Text: the header is each record's context; the repeated one is not a record.
    assert!(text.iter().all(|r| r.context.as_deref() == Some(V2)), "{text:#?}");
    assert_eq!(text.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert_eq!(text[0].offset, V2.len() as u64 + 1, "offsets are of the decompressed stream");
    assert!(text[3].raw.ends_with("REJECT OK"), "the last line, without a newline, is read whole");
    // The instance that owns the interface and address, on the side it is on.
    let src = &text[0].enrichment.as_ref().unwrap()["src"];
    assert_eq!((src["instance_id"].as_str(), src["name"].as_str(), src["interface_id"].as_str()), (Some(web.instance_id.as_str()), Some("web-1"), Some(web.eni.as_str())), "{:?}", text[0].enrichment);
    assert_eq!((src["vpc_id"].as_str(), src["subnet_id"].as_str()), (Some(web.vpc_id.as_str()), Some(web.subnet_id.as_str())));
    assert!(src["image_id"].as_str().unwrap().starts_with("ami-") && src["az"].as_str().unwrap().starts_with("us-east-1"));
    assert_eq!(text[0].enrichment.as_ref().unwrap()["account_alias"], "prod-main");
    assert!(text[0].enrichment.as_ref().unwrap().get("dst").is_none(), "the internet side is unknown");
    assert_eq!(text[1].enrichment.as_ref().unwrap()["dst"]["instance_id"], web.instance_id.as_str());
    assert_eq!(text[2].enrichment, Some(serde_json::json!({"account_alias": "prod-main"})), "NODATA: only the alias");
    // Parquet: the row as the text format's line, the column names as the header.
    assert_eq!(parquet[0].context.as_deref(), Some(&*format!("{V2} flow-direction")));
    assert_eq!(parquet[0].raw, format!("5 {ACCOUNT} {} 198.51.100.7 {} 443 49152 6 10 840 1418530010 1418530070 ACCEPT OK ingress", web.eni, web.private_ip));
    assert!(parquet[1].raw.ends_with("ACCEPT OK -"), "a null is -: {}", parquet[1].raw);
    assert_eq!(parquet[0].enrichment.as_ref().unwrap()["dst"]["name"], "web-1");
    assert_eq!(parquet[1].enrichment.as_ref().unwrap()["src"]["instance_id"], web.instance_id.as_str());
    if let Some(public) = &web.public_ip {
        // The public address belongs to the instance too.
        let sc2 = Scratch::new();
        moto.put("flows", &format!("pub/{}", flow_key("20240115T1010Z_cc.log")), format!("{V2}\n2 {ACCOUNT} eni-other 198.51.100.7 {public} 1 2 6 1 1 1 2 ACCEPT OK\n").into_bytes());
        let c = Capture::new();
        run_with(&sc2, &config(&sc2, &moto, "[[connectors.sources]]\ntype = \"vpc_flow\"\nbucket = \"flows\"\nprefix = \"pub\"\n"), c.clone());
        assert_eq!(c.rows()[0].enrichment.as_ref().unwrap()["dst"]["instance_id"], web.instance_id.as_str());
    }
    // A second run reads nothing again.
    let again = Capture::new();
    let s = run_with(&sc, &toml, again.clone());
    assert_eq!((s.counts.records_read, s.counts.objects_already_done), (0, 2));
}

#[test]
fn enrich_off_and_a_local_tree() {
    let moto = Moto::start();
    let web = launch(&moto, "web-1");
    let sc = Scratch::new();
    let tree = sc.path("copy");
    let f = tree.join(flow_key("20240115T1000Z_aa.log.gz"));
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(&f, gzip(&text_log(&web))).unwrap();
    // A bad line (not a record of any header: there is none yet in this file) fails only its file.
    let g = tree.join(flow_key("20240115T1005Z_bb.log"));
    std::fs::write(&g, "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK\n").unwrap();
    let source = |enrich: bool| format!("[[connectors.sources]]\ntype = \"vpc_flow\"\npath = \"{}\"\nenrich = {enrich}\n", tree.display());
    let c = Capture::new();
    let s = run_with(&sc, &config(&sc, &moto, &source(false)), c.clone());
    assert_eq!((s.counts.records_read, s.counts.objects_failed), (4, 1), "{s:#?}");
    assert!(c.rows().iter().all(|r| r.enrichment.is_none()));
    let dl = std::fs::read_to_string(s.dead_letter_file.as_ref().unwrap()).unwrap();
    assert!(dl.contains("not a header") && dl.contains("20240115T1005Z_bb.log"), "{dl}");
    // The same tree enriched from the connector's account.
    let sc = Scratch::new();
    let c = Capture::new();
    run_with(&sc, &config(&sc, &moto, &source(true)), c.clone());
    assert_eq!(c.rows()[0].enrichment.as_ref().unwrap()["src"]["instance_id"], web.instance_id.as_str());
}

#[test]
fn missing_permissions_leave_rows_unenriched_with_one_warning_and_check_says_so() {
    // moto enforces IAM after the setup's requests: the collector may read S3 but not EC2 or IAM.
    let moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "9")]);
    let iam = aws_sdk_iam::Client::new(&moto.sdk());
    moto.create_bucket("flows");
    let web = launch(&moto, "web-1");
    moto.put("flows", &flow_key("20240115T1000Z_aa.log.gz"), gzip(&text_log(&web)));
    moto.put("flows", &flow_key("20240115T1005Z_bb.log.gz"), gzip(&text_log(&web)));
    runtime().block_on(iam.create_user().user_name("collector").send()).unwrap();
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject", "sts:GetCallerIdentity"], "Resource": "*"}]});
    runtime().block_on(iam.put_user_policy().user_name("collector").policy_name("read-flows").policy_document(policy.to_string()).send()).unwrap();
    let key = runtime().block_on(iam.create_access_key().user_name("collector").send()).unwrap();
    let key = key.access_key().unwrap();
    let sc = Scratch::new();
    let toml = config(&sc, &moto, "[[connectors.sources]]\ntype = \"vpc_flow\"\nbucket = \"flows\"\nmapper = \"builtin:passthrough\"\n")
        .replace("access_key_id = \"testing\", secret_access_key = \"testing\"", "access_key_id = \"${K}\", secret_access_key = \"${S}\"");
    sc.config(&toml);
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_trawl")).args(args).current_dir(sc.dir.path()).env("K", key.access_key_id()).env("S", key.secret_access_key()).output_within_limit()
    };
    let o = run(&["run", "--config", "config.toml", "--quiet", "--summary-json", "summary.json"]);
    assert!(o.status.success(), "missing enrichment permissions do not fail the run: {}", stderr(&o));
    let s: RunSummary = serde_json::from_str(&std::fs::read_to_string(sc.path("summary.json")).unwrap()).unwrap();
    assert_eq!((s.counts.records_written, s.counts.records_dead_lettered), (8, 0));
    let all = stderr(&o);
    let warnings: Vec<&str> = all.lines().filter(|l| l.contains("without (part of) their enrichment")).collect();
    assert_eq!(warnings.len(), 1, "one warning: {all}");
    assert!(warnings[0].contains("ec2:DescribeInstances denied") && warnings[0].contains("iam:ListAccountAliases denied"), "{}", warnings[0]);
    let o = run(&["check", "--config", "config.toml", "--json"]);
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    assert!(o.status.success(), "a WARN is not a failure: {rows:#?}");
    let row = |t: &str| rows.iter().find(|r| r["target"].as_str().unwrap().ends_with(t)).unwrap_or_else(|| panic!("no row {t}: {rows:#?}"));
    assert_eq!(row("s3://flows/")["ok"], true);
    for (t, perm) in [("enrichment (instances)", "ec2:DescribeInstances denied"), ("enrichment (account alias)", "iam:ListAccountAliases denied")] {
        let r = row(t);
        assert!(r["ok"] == true && r["warning"] == true && r["detail"].as_str().unwrap().contains(perm), "{r}");
    }
    let table = run(&["check", "--config", "config.toml"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("WARN") && text.contains("with a warning"), "{text}");
}

/// End to end with the standard mapper: the OCSF Network Activity rows of an enriched run
/// carry the instance id and Name tag of the moto instance that owns the interface and
/// address, and every row passes the strict OCSF 1.1.0 check.
#[test]
fn enriched_ocsf_rows_name_the_moto_instance_behind_the_address() {
    let moto = Moto::start();
    moto.create_bucket("flows");
    let web = launch(&moto, "web-1");
    create_alias(&moto, "prod-main");
    let (eni, ip) = (&web.eni, &web.private_ip);
    let log = format!(
        "{V2}\n2 {ACCOUNT} {eni} {ip} 198.51.100.7 49152 443 6 20 4249 1418530010 1418530070 ACCEPT OK\n2 {ACCOUNT} {eni} 198.51.100.7 {ip} 443 49152 6 10 840 1418530010 1418530070 REJECT OK\n"
    );
    moto.put("flows", &flow_key("20240115T1000Z_aa.log.gz"), gzip(&log));
    let sc = Scratch::new();
    sc.config(&config(&sc, &moto, "[[connectors.sources]]\ntype = \"vpc_flow\"\nbucket = \"flows\"\n"));
    let (o, s) = sc.run();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert_eq!((s.counts.records_written, s.counts.records_dead_lettered), (2, 0));
    let schema = trawl::ocsf::Schema::load(&crate::common::repo().join("ocsf/schema-1.1.0")).unwrap();
    let mut events = Vec::new();
    let mut stack = vec![sc.path("out")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && p.file_name().is_some_and(|n| n != ".tmp") {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".json") {
                for l in std::fs::read_to_string(&p).unwrap().lines() {
                    let v: Value = serde_json::from_str(l).unwrap();
                    let bad = schema.validate(&v);
                    assert!(bad.is_empty(), "{}", bad.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "));
                    events.push(v);
                }
            }
        }
    }
    assert_eq!(events.len(), 2);
    for e in &events {
        assert_eq!(e["class_uid"], 4001);
        let side = if e["src_endpoint"]["ip"] == ip.as_str() { "src_endpoint" } else { "dst_endpoint" };
        assert_eq!((e[side]["instance_uid"].as_str(), e[side]["name"].as_str()), (Some(web.instance_id.as_str()), Some("web-1")), "{side} of {e:#}");
    }
}

/// A long run refreshes the enrichment inventory once it is older than the TTL
/// (`enrich_refresh_minutes`), and not before: an instance launched after the first sweep is
/// known only after the refresh. Two handles on the one process-wide cache entry, with TTLs of
/// an hour and of zero, stand for "within" and "past" the TTL without depending on how fast
/// moto answers.
#[test]
fn the_inventory_is_refreshed_after_its_ttl_and_not_before() {
    use trawl::aws::{AuthConfig, AwsSession, AwsTarget};
    use trawl::sources::vpc_flow::enrich::{Inventory, InventoryCache};
    let moto = Moto::start();
    let first = launch(&moto, "web-1");
    let target = AwsTarget {
        region: "us-east-1".into(),
        endpoint_url: Some(moto.url()),
        endpoints: Default::default(),
        auth: AuthConfig::Basic { access_key_id: "testing".into(), secret_access_key: "testing".into(), session_token: None },
        max_attempts: 2,
    };
    let session = AwsSession::connect(&target).unwrap();
    // The cache is process-wide: a connector name of its own keeps other tests' entries apart.
    let with_ttl = |secs: u64| InventoryCache { session: session.clone(), connector: "ttl-test".into(), ttl: std::time::Duration::from_secs(secs), max_instances: 100 };
    let (hour, zero) = (with_ttl(3600), with_ttl(0));
    let knows = |inv: &Inventory, l: &Launched| inv.describe(l.private_ip.parse().unwrap()).is_some_and(|j| j.contains(&l.instance_id));
    let inv = hour.get("us-east-1");
    assert!(knows(&inv, &first));
    let second = launch(&moto, "web-2");
    let again = hour.get("us-east-1");
    assert!(Arc::ptr_eq(&inv, &again), "within the TTL the cached inventory is used");
    assert!(!knows(&again, &second));
    let fresh = zero.get("us-east-1");
    assert!(!Arc::ptr_eq(&inv, &fresh), "past the TTL the sweep runs again");
    assert!(knows(&fresh, &first) && knows(&fresh, &second), "and finds the new instance");
    // The refreshed entry is what later lookups within the TTL get.
    assert!(Arc::ptr_eq(&fresh, &hour.get("us-east-1")));
}
