//! Source `iam` against moto (IAM with its credential report and account alias): a snapshot's
//! rows, every one schema-checked; `changes` mode over three runs; kill -9 and rerun;
//! `trawl check` when denied.

use crate::common::watchdog::OutputWithin;
use std::{collections::BTreeMap, path::Path, time::Duration};

use serde_json::{Value, json};
use trawl::aws::runtime;

use crate::common::{
    Scratch,
    aws::{ACCOUNT, Moto},
    runs::{Kills, events as by_uid, kill_and_rerun, schema_check, stderr},
};

/// The inline policy of `alice` as written; IAM returns it URL-encoded.
fn alice_inline() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Sid": "ReadLogs", "Effect": "Allow", "Action": ["logs:Get*", "logs:Describe*"], "Resource": "*"}]})
}

fn managed_v1() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::audit-bucket/*"}]})
}

fn trust() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
}

/// An account: users alice (in group ops, the managed policy attached, an inline policy, an
/// access key, a console password) and bob (no credentials), group ops, the customer managed
/// policy audit-read, role app-server, and the account alias.
pub(crate) fn seed(moto: &Moto) -> aws_sdk_iam::Client {
    let iam = aws_sdk_iam::Client::new(&moto.sdk());
    runtime().block_on(async {
        iam.create_account_alias().account_alias("prod-main").send().await.unwrap();
        for u in ["alice", "bob"] {
            iam.create_user().user_name(u).send().await.unwrap();
        }
        iam.create_group().group_name("ops").send().await.unwrap();
        iam.add_user_to_group().group_name("ops").user_name("alice").send().await.unwrap();
        let p = iam.create_policy().policy_name("audit-read").policy_document(managed_v1().to_string()).description("reads the audit bucket").send().await.unwrap();
        let arn = p.policy().unwrap().arn().unwrap().to_string();
        iam.attach_user_policy().user_name("alice").policy_arn(&arn).send().await.unwrap();
        iam.attach_group_policy().group_name("ops").policy_arn(&arn).send().await.unwrap();
        iam.put_user_policy().user_name("alice").policy_name("read-logs").policy_document(alice_inline().to_string()).send().await.unwrap();
        iam.create_login_profile().user_name("alice").password("Not-a-real-password-1").send().await.unwrap();
        iam.create_access_key().user_name("alice").send().await.unwrap();
        iam.create_role().role_name("app-server").assume_role_policy_document(trust().to_string()).send().await.unwrap();
    });
    iam
}

fn policy_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:policy/{name}")
}

/// A connector on moto (`vpc_flow`'s) with the `iam` source in `mode` and further source and
/// pipeline keys.
fn config(sc: &Scratch, moto: &Moto, mode: &str, source_extra: &str, pipeline: &str) -> String {
    let source = format!("[[connectors.sources]]\ntype = \"iam\"\nmode = \"{mode}\"\nrequests_per_second = 50\n{source_extra}\n");
    format!("{}[pipeline]\nworkers = 2\n{pipeline}\n", crate::vpc_flow::config(sc, moto, &source))
}

/// Every NDJSON event under `dir`, in file order.
fn events(dir: &Path) -> Vec<Value> {
    let mut files: Vec<_> = if dir.exists() { walkdir::WalkDir::new(dir).into_iter().map(|e| e.unwrap()).filter(|f| f.file_type().is_file() && f.path().to_string_lossy().ends_with(".json") && !f.path().components().any(|c| c.as_os_str() == ".tmp")).map(|f| f.path().to_path_buf()).collect() } else { Vec::new() };
    files.sort();
    files.iter().flat_map(|p| std::fs::read_to_string(p).unwrap().lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).collect::<Vec<_>>()).collect()
}

fn unmapped_json(e: &Value, key: &str) -> Value {
    serde_json::from_str(e["unmapped"][key].as_str().unwrap_or_else(|| panic!("unmapped.{key} missing in {e}"))).unwrap()
}

/// The events of one run: those not in `before`.
fn new_events(dir: &Path, before: &BTreeMap<String, Value>) -> Vec<Value> {
    by_uid(dir).into_iter().filter(|(k, _)| !before.contains_key(k)).map(|(_, v)| v).collect()
}

/// What an event is about: (label, name).
fn what(e: &Value) -> (String, String) {
    let name = e["user"]["name"].as_str().or(e["entity"]["name"].as_str()).unwrap().to_string();
    (e["metadata"]["labels"][0].as_str().unwrap().to_string(), name)
}

#[test]
fn a_snapshot_lands_every_entity_with_its_credential_facts_and_decoded_policies() {
    let moto = Moto::start();
    seed(&moto);
    let sc = Scratch::new();
    sc.config(&(config(&sc, &moto, "snapshot", "", "") + "[[outputs]]\ntype = \"parquet\"\npath = \"parquet\"\n"));
    // Before any report exists (GetCredentialReport: ReportNotPresent) the check passes.
    let o = sc.trawl(&["check", "--config", "config.toml", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(rows.iter().any(|r| r["target"] == "iam snapshot" && r["ok"] == true), "{rows:#?}");
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    let first = by_uid(&sc.path("out"));
    let rows: Vec<Value> = first.values().cloned().collect();
    schema_check(&rows);
    let mut names: Vec<(i64, String)> = rows.iter().map(|e| (e["class_uid"].as_i64().unwrap(), what(e).1)).collect();
    names.sort();
    assert_eq!(names, [(3004, "audit-read".to_string()), (3004, "ops".into()), (5003, "alice".into()), (5003, "app-server".into()), (5003, "bob".into())]);
    assert_eq!(summary.counts.records_read, 5);
    // Parquet too: one file per class, the rows the NDJSON has.
    let parquet = crate::common::parquet_files(&sc.path("parquet"));
    let rows_in = |f: &std::path::PathBuf| crate::common::read_parquet(f).iter().map(|b| b.num_rows()).sum::<usize>();
    assert_eq!((parquet.len(), parquet.iter().map(rows_in).sum::<usize>()), (2, 5), "{parquet:?}");
    let find = |name: &str| rows.iter().find(|e| what(e).1 == name).unwrap().clone();

    let alice = find("alice");
    assert_eq!((alice["activity_id"].as_i64(), alice["activity_name"].as_str(), alice["user"]["type"].as_str(), alice["user"]["type_id"].as_i64()), (Some(2), Some("Collect"), Some("User"), Some(1)));
    assert_eq!(alice["user"]["uid"], format!("arn:aws:iam::{ACCOUNT}:user/alice"));
    assert_eq!(alice["user"]["groups"][0]["name"], "ops");
    assert_eq!(alice["user"]["account"]["uid"], ACCOUNT);
    // From the credential report: a console password, one active key created just now, no MFA.
    let u = &alice["unmapped"];
    assert_eq!((u["credential_report.mfa_active"].as_str(), u["credential_report.password_enabled"].as_str(), u["credential_report.access_key_1_active"].as_str()), (Some("false"), Some("true"), Some("true")));
    assert_eq!(u["credential_report.access_key_1_age_days"], "0");
    assert_eq!(u["credential_report.password_last_used"], "no_information", "never signed in");
    assert!(u.get("credential_report.access_key_2_last_rotated").is_none(), "N/A: there is no second key");
    assert_eq!(u["account_alias"], "prod-main");
    // Policies: the inline one decoded from its URL-encoded wire form, the managed one named.
    assert_eq!(unmapped_json(&alice, "inline_policies"), json!([{"PolicyName": "read-logs", "PolicyDocument": alice_inline()}]));
    assert_eq!(unmapped_json(&alice, "attached_managed_policies"), json!([{"PolicyName": "audit-read", "PolicyArn": policy_arn("audit-read")}]));

    let bob = find("bob");
    assert_eq!((bob["unmapped"]["credential_report.password_enabled"].as_str(), bob["unmapped"]["credential_report.access_key_1_active"].as_str()), (Some("false"), Some("false")));
    assert!(bob["unmapped"].get("credential_report.access_key_1_age_days").is_none() && bob["user"].get("groups").is_none());

    let role = find("app-server");
    assert_eq!((role["user"]["type"].as_str(), role["user"]["type_id"].as_i64()), (Some("Role"), Some(99)));
    assert_eq!(unmapped_json(&role, "assume_role_policy_document"), trust());

    let policy = find("audit-read");
    assert_eq!((policy["activity_name"].as_str(), policy["entity"]["type"].as_str(), policy["entity"]["version"].as_str(), policy["entity"]["uid"].as_str()), (Some("Read"), Some("IAM Managed Policy"), Some("v1"), Some(policy_arn("audit-read").as_str())));
    assert_eq!(serde_json::from_str::<Value>(policy["entity"]["data"].as_str().unwrap()).unwrap(), managed_v1());
    assert_eq!(policy["unmapped"]["attachment_count"], "2");
    let group = find("ops");
    let data: Value = serde_json::from_str(group["entity"]["data"].as_str().unwrap()).unwrap();
    assert_eq!(data["AttachedManagedPolicies"][0]["PolicyArn"], policy_arn("audit-read"));

    // Every entity, every run: a second snapshot has its own uid for each.
    let (out, _) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    let second = new_events(&sc.path("out"), &first);
    assert_eq!(second.len(), 5);
    let snapshots: std::collections::BTreeSet<&str> = second.iter().map(|e| e["unmapped"]["snapshot.uid"].as_str().unwrap()).collect();
    assert_eq!(snapshots.len(), 1);
    assert!(!snapshots.contains(alice["unmapped"]["snapshot.uid"].as_str().unwrap()));
}

#[test]
fn changes_mode_over_three_runs_writes_exactly_what_changed() {
    let moto = Moto::start();
    let iam = seed(&moto);
    let sc = Scratch::new();
    sc.config(&config(&sc, &moto, "changes", "", ""));
    let run = |before: &BTreeMap<String, Value>| -> Vec<(String, String)> {
        let (out, _) = sc.run();
        assert!(out.status.success(), "{}", stderr(&out));
        let new = new_events(&sc.path("out"), before);
        schema_check(&new);
        let mut w: Vec<(String, String)> = new.iter().map(what).collect();
        w.sort();
        w
    };
    let added = |n: &str| ("added".to_string(), n.to_string());
    assert_eq!(run(&BTreeMap::new()), [added("alice"), added("app-server"), added("audit-read"), added("bob"), added("ops")], "the first run: everything is new");

    // Run 2: a user added, the managed policy changed (a new default version).
    let v2 = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}]});
    runtime().block_on(async {
        iam.create_user().user_name("carol").send().await.unwrap();
        iam.create_policy_version().policy_arn(policy_arn("audit-read")).policy_document(v2.to_string()).set_as_default(true).send().await.unwrap();
    });
    let before = by_uid(&sc.path("out"));
    assert_eq!(run(&before), [added("carol"), ("changed".into(), "audit-read".into())]);
    let changed = new_events(&sc.path("out"), &before).into_iter().find(|e| what(e).1 == "audit-read").unwrap();
    assert_eq!((changed["entity"]["version"].as_str(), serde_json::from_str::<Value>(changed["entity"]["data"].as_str().unwrap()).unwrap()), (Some("v2"), v2));

    // Run 3: the role deleted.
    runtime().block_on(iam.delete_role().role_name("app-server").send()).unwrap();
    let before = by_uid(&sc.path("out"));
    assert_eq!(run(&before), [("removed".to_string(), "app-server".to_string())]);
    let removed = new_events(&sc.path("out"), &before).remove(0);
    assert_eq!((removed["class_uid"].as_i64(), removed["activity_id"].as_i64(), removed["activity_name"].as_str(), removed["user"]["uid"].as_str()), (Some(5003), Some(99), Some("Removed"), Some(format!("arn:aws:iam::{ACCOUNT}:role/app-server").as_str())));

    // Nothing changed since: nothing written.
    let before = by_uid(&sc.path("out"));
    assert_eq!(run(&before), Vec::<(String, String)>::new());
}

/// Many users, small units: a run commits many times.
fn seed_many(moto: &Moto, n: usize) -> aws_sdk_iam::Client {
    let iam = seed(moto);
    runtime().block_on(async {
        for i in 0..n {
            iam.create_user().user_name(format!("user-{i:03}")).send().await.unwrap();
        }
    });
    iam
}

#[test]
fn a_kill_mid_snapshot_then_a_rerun_writes_every_entity_of_the_snapshot_once() {
    let moto = Moto::start();
    seed_many(&moto, 120);
    let total = 125;
    let kills = Kills { name: "iam", trials: 3, seed: 0x1a3_5eed, within: Duration::from_millis(150), out: "out", mid_run: 2 };
    let prepare = |_, sc: &Scratch| {
        sc.config(&config(sc, &moto, "snapshot", "entities_per_unit = 2", "commit_every_records = 2\nbatch_rows = 2"));
        (total, ())
    };
    kill_and_rerun(&kills, prepare, |trial, sc, before, ()| {
        let (out, summary) = sc.run();
        assert!(out.status.success(), "trial {trial}: {}", stderr(&out));
        // Per snapshot, each entity once (`by_uid` panics on a repeat). The killed run's snapshot
        // is whole; when the kill came after its last commit was prepared, that commit's
        // roll-forward completed it and the rerun took a snapshot of its own, whole too.
        let mut per_snapshot: BTreeMap<String, usize> = BTreeMap::new();
        for e in by_uid(&sc.path("out")).values() {
            *per_snapshot.entry(e["unmapped"]["snapshot.uid"].as_str().unwrap().to_string()).or_default() += 1;
        }
        let sizes: Vec<usize> = per_snapshot.values().copied().collect();
        match sizes.as_slice() {
            [n] => {
                assert_eq!(*n, total, "trial {trial}: the rerun finished the snapshot the killed run began");
                // A kill after a commit was prepared leaves it pending: the rerun publishes it
                // before it reads, so it reads at most what was not out yet.
                assert!(summary.counts.records_read as usize <= total - before, "trial {trial}: the rerun writes only what was not committed: read {}", summary.counts.records_read);
            }
            [a, b] => assert_eq!((*a, *b, summary.counts.records_read as usize), (total, total, total), "trial {trial}: the first snapshot was complete, the rerun took its own"),
            other => panic!("trial {trial}: snapshots of sizes {other:?}"),
        }
    });
}

#[test]
fn a_crash_between_publish_and_checkpoint_in_changes_mode_reports_each_change_once() {
    let moto = Moto::start();
    seed_many(&moto, 20);
    let sc = Scratch::new();
    sc.config(&config(&sc, &moto, "changes", "entities_per_unit = 4", "commit_every_records = 4\nbatch_rows = 4"));
    // The first commit's files are published, then the process aborts before its checkpoint.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trawl")).args(["run", "--config", "config.toml", "--quiet"]).current_dir(sc.dir.path()).env("TRAWL_FAULT", "abort_after_publish").output_within_limit();
    assert!(!out.status.success());
    let published = by_uid(&sc.path("out")).len();
    // The mapper's compile comes first, so the source may have read everything by the first
    // commit: then the whole snapshot was published without its checkpoint.
    assert!(published > 0, "{published}");
    let (out, _) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    let all = by_uid(&sc.path("out"));
    assert_eq!(all.len(), 25, "every entity added once: the rerun rolled the commit forward and went on");
    assert!(all.values().all(|e| what(e).0 == "added"));
    let (out, _) = sc.run();
    assert!(out.status.success());
    assert_eq!(by_uid(&sc.path("out")).len(), 25, "and nothing is reported again");
}

#[test]
fn check_names_iam_read_only_access_when_denied_and_a_denied_run_writes_nothing() {
    // moto enforces IAM once INITIAL_NO_AUTH_ACTION_COUNT requests have been made: the setup
    // below uses exactly those.
    let moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
    let iam = aws_sdk_iam::Client::new(&moto.sdk());
    runtime().block_on(iam.create_user().user_name("collector").send()).unwrap();
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": "*"}]});
    runtime().block_on(iam.put_user_policy().user_name("collector").policy_name("p").policy_document(policy.to_string()).send()).unwrap();
    let key = runtime().block_on(iam.create_access_key().user_name("collector").send()).unwrap();
    let key = key.access_key().unwrap();
    let sc = Scratch::new();
    sc.config(&config(&sc, &moto, "snapshot", "", "").replace("access_key_id = \"testing\", secret_access_key = \"testing\"", "access_key_id = \"${K}\", secret_access_key = \"${S}\""));
    let trawl = |args: &[&str]| std::process::Command::new(env!("CARGO_BIN_EXE_trawl")).args(args).current_dir(sc.dir.path()).env("K", key.access_key_id()).env("S", key.secret_access_key()).output_within_limit();
    let o = trawl(&["check", "--config", "config.toml", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    let r = rows.iter().find(|r| r["target"].as_str().unwrap().starts_with("iam")).unwrap();
    assert!(r["ok"] == false && r["permission"].as_str().unwrap_or("").contains("IAMReadOnlyAccess: iam:GetAccountAuthorizationDetails denied"), "{rows:#?}");
    let o = trawl(&["run", "--config", "config.toml", "--summary-json", "summary.json", "--quiet"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let summary: trawl::pipeline::RunSummary = serde_json::from_str(&std::fs::read_to_string(sc.path("summary.json")).unwrap()).unwrap();
    assert_eq!(summary.counts.objects_retry_later, 1);
    assert!(summary.sources[0].error.as_deref().unwrap().contains("IAMReadOnlyAccess"), "{:?}", summary.sources[0].error);
    assert!(events(&sc.path("out")).is_empty());
}

/// The sample entity records (`examples/data/iam/entities.ndjson`) as the `iam` source hands
/// them on: one record per line, of kind `iam`.
pub fn sample_batch(file: &Path, connector: &str) -> trawl::batch::RawBatch {
    let info = trawl::batch::ObjectInfo { connector: connector.into(), source_kind: "iam", aws_account_id: Some("123456789012".into()), region: None, object: "iam://123456789012/snapshot/2024-02-01T09:40:00.000Z/0".into() };
    let mut b = trawl::batch::RawBatchBuilder::new();
    for (i, line) in std::fs::read_to_string(file).unwrap().lines().enumerate() {
        b.push_full(&info, line.as_bytes(), i as u64, 0, 1_706_780_400_000, None, None);
    }
    b.finish(1)
}

/// Every golden event of `builtin:iam` passes the strict check, and the wasm and native builds
/// map the samples alike.
#[test]
fn the_sample_records_pass_the_schema_check_in_both_builds() {
    use trawl::mapper::BatchMapper;
    let file = crate::common::repo().join("examples/data/iam/entities.ndjson");
    let batch = sample_batch(&file, crate::golden::CONNECTOR);
    let wasm = crate::golden::load_builtin("iam");
    let native = trawl::mapper::NativeMapper::<trawl_mapper_iam::Iam>::new(Value::Null);
    assert_eq!(wasm.manifest(), native.manifest());
    let (a, b) = (wasm.map(&batch).unwrap(), native.map(&batch).unwrap());
    let json = a.to_json(&batch);
    assert_eq!(json, b.to_json(&batch));
    let events: Vec<Value> = json.as_array().unwrap().iter().flat_map(|r| r["events"].as_array().unwrap().clone()).collect();
    assert_eq!(events.len(), 9, "one event per record");
    schema_check(&events);
}

/// IAM as AWS answers it (awsQuery XML): `GetAccountAuthorizationDetails` in two pages by
/// `Marker`, the first request throttled, policy documents URL-encoded (moto leaves trust
/// policies plain), the credential report `STARTED` before `COMPLETE` and its CSV base64 in
/// `Content`, as the API reference documents them.
struct IamWireFake {
    server: crate::common::fakes::WireFake,
    calls: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl IamWireFake {
    fn start() -> Self {
        use base64::Engine;
        use crate::common::fakes::{Reply, Request, WireFake};
        let calls: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
        let seen = calls.clone();
        let enc = |v: Value| percent_encoding::utf8_percent_encode(&v.to_string(), percent_encoding::NON_ALPHANUMERIC).to_string();
        let (inline, trust_doc, managed) = (enc(alice_inline()), enc(trust()), enc(managed_v1()));
        let report = format!("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n<root_account>,arn:aws:iam::{ACCOUNT}:root,2013-09-30T18:21:10+00:00,not_supported,2024-01-15T08:02:11+00:00,not_supported,not_supported,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\nalice,arn:aws:iam::{ACCOUNT}:user/alice,2023-10-14T18:32:24+00:00,true,2024-01-31T17:05:44+00:00,2023-11-03T10:00:00+00:00,N/A,true,true,2023-08-05T12:00:00+00:00,2024-01-31T16:00:00+00:00,us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n");
        let report = base64::engine::general_purpose::STANDARD.encode(report);
        let server = WireFake::start(move |req: &Request| {
            let form: BTreeMap<String, String> = String::from_utf8_lossy(&req.body).split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())).collect();
            let action = form.get("Action").cloned().unwrap_or_default();
            let n = {
                let mut c = seen.lock().unwrap();
                let filter: Vec<&str> = (1..).map_while(|i| form.get(&format!("Filter.member.{i}")).map(String::as_str)).collect();
                let filter = if filter.is_empty() { String::new() } else { format!(" Filter={}", filter.join(",")) };
                c.push(format!("{action}{filter}{}", form.get("Marker").map(|m| format!(" Marker={m}")).unwrap_or_default()));
                c.iter().filter(|a| a.starts_with(&action)).count()
            };
            let ok = |body: String| Reply::new("200 OK", "text/xml", format!("<{action}Response xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><{action}Result>{body}</{action}Result><ResponseMetadata><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ResponseMetadata></{action}Response>"));
            match (action.as_str(), form.get("Marker").map(String::as_str)) {
                ("GetAccountAuthorizationDetails", _) if n == 1 => Reply::new("400 Bad Request", "text/xml", "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ErrorResponse>"),
                ("GetAccountAuthorizationDetails", None) => ok(format!("<IsTruncated>true</IsTruncated><Marker>EXAMPLEkakv9BCuUNFDtxWSyfzetYwEx2ADc8dnzfvERF5S6YMvXKx41t6gCl/eeaCX3Jo94/bKqezEAg8TEVS99EKFLxm3jtbpl25FDWEXAMPLE</Marker><UserDetailList><member><Path>/</Path><UserName>alice</UserName><UserId>AIDACKCEVSQ6C2EXAMPLE</UserId><Arn>arn:aws:iam::{ACCOUNT}:user/alice</Arn><CreateDate>2023-10-14T18:32:24Z</CreateDate><UserPolicyList><member><PolicyName>read-logs</PolicyName><PolicyDocument>{inline}</PolicyDocument></member></UserPolicyList><GroupList><member>ops</member></GroupList><AttachedManagedPolicies/></member></UserDetailList><GroupDetailList/><RoleDetailList><member><Path>/</Path><RoleName>app-server</RoleName><RoleId>AROADBQP57FF2AEXAMPLE</RoleId><Arn>arn:aws:iam::{ACCOUNT}:role/app-server</Arn><CreateDate>2024-01-01T00:00:00Z</CreateDate><AssumeRolePolicyDocument>{trust_doc}</AssumeRolePolicyDocument><InstanceProfileList/><RolePolicyList/><AttachedManagedPolicies/></member></RoleDetailList><Policies/>")),
                ("GetAccountAuthorizationDetails", Some(_)) => ok(format!("<IsTruncated>false</IsTruncated><UserDetailList><member><Path>/</Path><UserName>ghost</UserName><UserId>AIDAGHOSTEXAMPLE</UserId></member></UserDetailList><GroupDetailList><member><Path>/</Path><GroupName>ops</GroupName><GroupId>AGPACKCEVSQ6C2EXAMPLE</GroupId><Arn>arn:aws:iam::{ACCOUNT}:group/ops</Arn><CreateDate>2023-10-14T18:30:00Z</CreateDate><GroupPolicyList/><AttachedManagedPolicies><member><PolicyName>audit-read</PolicyName><PolicyArn>{arn}</PolicyArn></member></AttachedManagedPolicies></member></GroupDetailList><RoleDetailList/><Policies><member><PolicyName>audit-read</PolicyName><PolicyId>ANPAJ2UCCR6DPCEXAMPLE</PolicyId><Arn>{arn}</Arn><Path>/</Path><DefaultVersionId>v1</DefaultVersionId><AttachmentCount>1</AttachmentCount><PermissionsBoundaryUsageCount>0</PermissionsBoundaryUsageCount><IsAttachable>true</IsAttachable><CreateDate>2023-10-14T18:31:00Z</CreateDate><UpdateDate>2023-10-14T18:31:00Z</UpdateDate><PolicyVersionList><member><Document>{managed}</Document><VersionId>v1</VersionId><IsDefaultVersion>true</IsDefaultVersion><CreateDate>2023-10-14T18:31:00Z</CreateDate></member></PolicyVersionList></member></Policies>", arn = policy_arn("audit-read"))),
                ("GenerateCredentialReport", _) if n == 1 => ok("<State>STARTED</State><Description>No report exists. Starting a new report generation task</Description>".into()),
                ("GenerateCredentialReport", _) => ok("<State>COMPLETE</State>".into()),
                ("GetCredentialReport", _) => ok(format!("<Content>{report}</Content><ReportFormat>text/csv</ReportFormat><GeneratedTime>2024-02-01T09:39:00Z</GeneratedTime>")),
                ("ListAccountAliases", _) => ok("<IsTruncated>false</IsTruncated><AccountAliases><member>prod-main</member></AccountAliases>".into()),
                _ => Reply::new("400 Bad Request", "text/xml", format!("<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>{action} is not faked</Message></Error></ErrorResponse>")),
            }
        });
        Self { server, calls }
    }
}

#[test]
fn iam_as_aws_answers_pages_by_marker_through_throttling_and_its_encoded_policies_are_decoded() {
    let moto = Moto::start();
    let fake = IamWireFake::start();
    let sc = Scratch::new();
    sc.config(&config(&sc, &moto, "snapshot", "", "").replace("[[connectors.sources]]", &format!("endpoints = {{ iam = \"{}\" }}\n[[connectors.sources]]", fake.server.url())));
    let (out, summary) = sc.run();
    // A user without an ARN cannot be keyed: dead-lettered, naming it; the rest is written.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let dead = std::fs::read_to_string(sc.dir.path().join(summary.dead_letter_file.as_ref().unwrap())).unwrap();
    assert_eq!(dead.lines().count(), 1, "{dead}");
    assert!(dead.contains("without its name or ARN") && dead.contains("ghost"), "{dead}");
    let calls = fake.calls.lock().unwrap().clone();
    let details: Vec<&String> = calls.iter().filter(|c| c.starts_with("GetAccountAuthorizationDetails")).collect();
    assert_eq!(details.len(), 3, "throttled, page 1, page 2: {calls:?}");
    assert!(details[2].contains("Marker=EXAMPLEkakv9"), "page 2 asked with page 1's Marker: {calls:?}");
    assert!(details.iter().all(|d| d.contains("Filter=User,Group,Role,LocalManagedPolicy ") || d.ends_with("Filter=User,Group,Role,LocalManagedPolicy")), "no AWS managed policies by default: {calls:?}");
    assert_eq!(calls.iter().filter(|c| *c == "GenerateCredentialReport").count(), 2, "generated until COMPLETE: {calls:?}");
    let rows: Vec<Value> = by_uid(&sc.path("out")).into_values().collect();
    schema_check(&rows);
    let mut names: Vec<String> = rows.iter().map(|e| what(e).1).collect();
    names.sort();
    assert_eq!(names, ["<root_account>", "alice", "app-server", "audit-read", "ops"], "both pages, and the root user from the report");
    let find = |name: &str| rows.iter().find(|e| what(e).1 == name).unwrap().clone();
    let alice = find("alice");
    assert_eq!(unmapped_json(&alice, "inline_policies")[0]["PolicyDocument"], alice_inline());
    assert_eq!((alice["unmapped"]["credential_report.mfa_active"].as_str(), alice["unmapped"]["credential_report.access_key_1_last_used_service"].as_str()), (Some("true"), Some("s3")));
    assert_eq!(unmapped_json(&find("app-server"), "assume_role_policy_document"), trust());
    assert_eq!(serde_json::from_str::<Value>(find("audit-read")["entity"]["data"].as_str().unwrap()).unwrap(), managed_v1());
    let root = find("<root_account>");
    assert_eq!((root["user"]["type_id"].as_i64(), root["user"]["uid"].as_str(), root["unmapped"]["credential_report.mfa_active"].as_str()), (Some(2), Some(format!("arn:aws:iam::{ACCOUNT}:root").as_str()), Some("false")));
}
