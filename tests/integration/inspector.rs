//! Source `inspector` and mapper `builtin:inspector`: the seed's t0/t1 scenario in both pull
//! modes against moto (whose ListFindings answers each distinct request with the next list
//! queued at `/moto-api/static/inspector2/findings-results`, and the same list again for the
//! same request, without a nextToken); paging, kill -9 and a refused page token against a
//! wire fake of ListFindings (REST-JSON, `POST /findings/list`) that pages, throttles once and
//! can deny; `trawl check`; every row against the OCSF 1.1.0 schema.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};
use trawl::batch::{ObjectInfo, RawBatch, RawBatchBuilder};

use crate::common::{
    Scratch,
    aws::{ACCOUNT, Moto},
    fakes::{Reply, WireFake},
    repo,
};

/// `examples/data/inspector/list-findings.json`: a ListFindings response body with five
/// findings built from the API reference's `Finding` shape (see the folder's README).
pub fn sample_file() -> std::path::PathBuf {
    repo().join("examples/data/inspector/list-findings.json")
}

pub(crate) fn sample_findings() -> Vec<Value> {
    let body: Value = serde_json::from_str(&std::fs::read_to_string(sample_file()).unwrap()).unwrap();
    body["findings"].as_array().unwrap().clone()
}

/// The sample's findings as the source pushes them (each with a full-mode sweep context).
pub fn sample_batch(file: &Path, connector: &str) -> RawBatch {
    let info = ObjectInfo {
        connector: connector.into(),
        source_kind: "inspector",
        aws_account_id: Some("111122223333".into()),
        region: Some("us-east-1".into()),
        object: file.strip_prefix(repo()).unwrap_or(file).display().to_string(),
    };
    let body: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let context = br#"{"pull_mode":"full","sweep":"1700000000000"}"#;
    let mut b = RawBatchBuilder::new();
    for (i, f) in body["findings"].as_array().unwrap().iter().enumerate() {
        b.push_with_context(&info, f.to_string().as_bytes(), i as u64, 0, 1_700_000_000_000, Some(context));
    }
    b.finish(1)
}

/// POSTs `body` to moto at `path` with `headers`; panics unless moto answers 2xx; the reply.
pub fn moto_request(moto: &Moto, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", moto.port)).unwrap();
    // A moto that stops answering fails the test here rather than hanging it.
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!("POST {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    write!(s, "{head}\r\n{body}").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap_or_else(|e| panic!("moto {path}: no reply ({e})"));
    assert!(reply.starts_with("HTTP/1.0 20") || reply.starts_with("HTTP/1.1 20"), "moto {path}: {reply}");
    reply
}

/// POSTs JSON to moto's `/moto-api/` endpoints.
fn moto_post(moto: &Moto, path: &str, body: &Value) {
    moto_request(moto, path, &[("Content-Type", "application/json")], &body.to_string());
}

/// Queues one ListFindings result in moto.
pub(crate) fn seed(moto: &Moto, findings: &[&Value]) {
    moto_post(moto, "/moto-api/static/inspector2/findings-results", &json!({ "results": [findings], "account_id": ACCOUNT, "region": "us-east-1" }));
}

fn config(moto: &Moto, connector_extra: &str, source_extra: &str, pipeline: &str) -> String {
    crate::common::runs::moto_config(moto, "findings-account", "us-east-1", connector_extra, &format!("type = \"inspector\"\nrequests_per_second = 50\n{source_extra}"), pipeline)
}

pub use crate::common::runs::{all_rows as events, stderr};

/// `metadata.uid` → how many rows have it.
pub fn uids(events: &[Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in events {
        *m.entry(e["metadata"]["uid"].as_str().unwrap().to_string()).or_default() += 1;
    }
    m
}

/// Every event passes the strict OCSF 1.1.0 check and carries the connector's name.
pub fn schema_check(events: &[Value], connector: &str) {
    crate::common::runs::schema_check(events);
    for e in events {
        assert_eq!(e["cloud"]["account"]["name"], connector);
    }
}

fn sorted(v: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = v.collect();
    v.sort();
    v
}

/// A finding's ARN.
fn arn(f: &Value) -> String {
    f["findingArn"].as_str().unwrap().to_string()
}

/// The finding ARN a row is about.
fn arn_of(e: &Value) -> String {
    e["finding_info"]["uid"].as_str().unwrap().to_string()
}

/// The seed's example: t0 sees a, b, c; b is remediated; t1 sees a, b, d. `full` writes a,
/// b, c then a, b, d (b now closed), and a third run of the same findings writes them again
/// as new rows; `unique` writes a, b, c, then only d, then nothing.
#[test]
fn the_seeds_t0_t1_example_in_both_pull_modes() {
    let s = sample_findings();
    let (a, b, c, d) = (&s[0], &s[1], &s[2], &s[3]);
    let mut b_closed = b.clone();
    b_closed["status"] = json!("CLOSED");
    b_closed["updatedAt"] = json!(1_697_068_800.0);
    // The filter asks for closed findings too, as one that "sees" the remediated b must.
    let filter = "[connectors.sources.filter_criteria]\nfindingStatus = [{ comparison = \"EQUALS\", value = \"ACTIVE\" }, { comparison = \"EQUALS\", value = \"CLOSED\" }]";
    for (mode, connector_extra, source_extra) in [("full", "", "".to_string()), ("unique", "inspector_pull_mode = \"unique\"", String::new()), ("unique", "", "pull_mode = \"unique\"".to_string())] {
        let moto = Moto::start();
        let sc = Scratch::new();
        // The scratch config, pointed at `moto`.
        let point_at = |moto: &Moto| sc.config(&config(moto, connector_extra, &format!("{source_extra}\n{filter}"), ""));
        point_at(&moto);
        seed(&moto, &[a, b, c]);
        let (out, t0) = sc.run();
        assert!(out.status.success(), "{mode} t0: {}", stderr(&out));
        let after_t0 = events(&sc.path("out"));
        assert_eq!(sorted(after_t0.iter().map(arn_of)), sorted([a, b, c].iter().map(|f| arn(f))), "{mode} t0");
        assert!(t0.counts.reconciles());

        // moto answers the same request with the same list: t1's comes from a fresh moto.
        // (Not `/moto-api/reset`: under load on this 2-core machine it went a minute without
        // replying, and a CI run timed out on it.)
        let moto = Moto::start();
        point_at(&moto);
        seed(&moto, &[a, &b_closed, d]);
        let (out, t1) = sc.run();
        assert!(out.status.success(), "{mode} t1: {}", stderr(&out));
        assert!(t1.counts.reconciles());
        let after_t1 = events(&sc.path("out"));
        // The rows t1 added (outputs are files per time partition, so by uid, not by order).
        let t0_uids = uids(&after_t0);
        let t1_rows: Vec<&Value> = after_t1.iter().filter(|e| !t0_uids.contains_key(e["metadata"]["uid"].as_str().unwrap())).collect();
        let t1_arns = sorted(t1_rows.iter().map(|e| arn_of(e)));
        match mode {
            "full" => {
                assert_eq!(t1_arns, sorted([a, b, d].iter().map(|f| arn(f))), "full t1 writes a, b, d");
                let b_row = t1_rows.iter().find(|e| arn_of(e) == arn(b)).unwrap();
                assert_eq!((b_row["status"].as_str(), b_row["activity_name"].as_str()), (Some("Resolved"), Some("Close")), "b is reported remediated");
                assert_eq!(t1.counts.records_written, 3);
            }
            _ => {
                assert_eq!(t1_arns, [arn(d)], "{mode} t1 writes only d");
                assert_eq!((t1.counts.records_read, t1.counts.records_written), (1, 1), "a and b are not read again: {:?}", t1.counts);
            }
        }
        // t2: the same findings again (moto repeats its answer).
        let (out, t2) = sc.run();
        assert!(out.status.success(), "{mode} t2: {}", stderr(&out));
        let all = events(&sc.path("out"));
        let counts = uids(&all);
        assert!(counts.values().all(|n| *n == 1), "{mode}: no uid twice: {counts:?}");
        match mode {
            "full" => {
                assert_eq!((all.len(), t2.counts.records_written), (9, 3), "each full run is a report of its own");
                // uid = ARN@sweep: three sweeps, each with its own id.
                let sweeps: std::collections::BTreeSet<&str> = counts.keys().map(|u| u.rsplit_once('@').unwrap().1).collect();
                assert_eq!(sweeps.len(), 3, "{counts:?}");
            }
            _ => {
                assert_eq!((all.len(), t2.counts.records_written), (4, 0), "{mode}: nothing new to report");
                assert_eq!(counts.keys().cloned().collect::<Vec<_>>(), sorted([a, b, c, d].iter().map(|f| arn(f))), "{mode}: the uid is the ARN");
            }
        }
        schema_check(&all, "findings-account");
    }
}

/// What the ListFindings fake holds.
#[derive(Default)]
struct FakeState {
    findings: Vec<Value>,
    page_size: usize,
    /// Tokens carry this; a token of another generation is refused (as an expired one is).
    generation: u32,
    /// Requests (1-based) answered with ThrottlingException.
    throttle: Vec<usize>,
    deny: bool,
    delay: Duration,
    /// The offset each request started at.
    offsets: Vec<usize>,
}

/// ListFindings over REST-JSON (`POST /findings/list`), as aws-sdk-inspector2 speaks it,
/// paging the findings in order with `nextToken = "<generation>:<offset>"`.
struct InspectorFake {
    fake: WireFake,
    state: Arc<Mutex<FakeState>>,
    requests: Arc<AtomicUsize>,
}

impl InspectorFake {
    fn start(findings: Vec<Value>, page_size: usize) -> Self {
        let state = Arc::new(Mutex::new(FakeState { findings, page_size, ..Default::default() }));
        let requests = Arc::new(AtomicUsize::new(0));
        let (st, n) = (state.clone(), requests.clone());
        let fake = WireFake::start(move |req| {
            let count = n.fetch_add(1, Ordering::SeqCst) + 1;
            let error = |status, code: &str, message: &str| Reply::new(status, "application/json", json!({ "message": message }).to_string()).header("x-amzn-ErrorType", code.to_string());
            assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/findings/list"), "only ListFindings is faked");
            let (delay, deny, throttled) = {
                let s = st.lock().unwrap();
                (s.delay, s.deny, s.throttle.contains(&count))
            };
            std::thread::sleep(delay);
            if deny {
                return error("403 Forbidden", "AccessDeniedException", "User: arn:aws:iam::123456789012:user/collector is not authorized to perform: inspector2:ListFindings");
            }
            if throttled {
                return error("429 Too Many Requests", "ThrottlingException", "Rate exceeded");
            }
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let mut s = st.lock().unwrap();
            let offset = match body["nextToken"].as_str() {
                None => 0,
                Some(t) => {
                    let (generation, offset) = t.split_once(':').unwrap();
                    if generation.parse::<u32>().unwrap() != s.generation {
                        return error("400 Bad Request", "ValidationException", "The provided pagination token has expired");
                    }
                    offset.parse().unwrap()
                }
            };
            s.offsets.push(offset);
            let max = body["maxResults"].as_u64().map(|m| m as usize).unwrap_or(s.page_size).min(s.page_size);
            let end = (offset + max).min(s.findings.len());
            let mut reply = json!({ "findings": s.findings[offset..end] });
            if end < s.findings.len() {
                reply["nextToken"] = json!(format!("{}:{end}", s.generation));
            }
            Reply::new("200 OK", "application/json", reply.to_string())
        });
        InspectorFake { fake, state, requests }
    }
}

/// `n` findings made from the sample's first, each with its own ARN.
fn many_findings(n: usize) -> Vec<Value> {
    let base = sample_findings()[0].clone();
    (0..n)
        .map(|i| {
            let mut f = base.clone();
            f["findingArn"] = json!(format!("arn:aws:inspector2:us-east-1:111122223333:finding/{i:032x}"));
            f
        })
        .collect()
}

/// Full mode, killed at seeded moments after the first commit, then rerun: the rerun resumes
/// the killed sweep at its next page (or, when its token has expired, lists the sweep again
/// and skips what it took), and the sweep has every finding exactly once, all under the same
/// sweep id. One reply is throttled.
#[test]
fn a_kill_mid_sweep_then_a_rerun_gives_every_finding_once() {
    let moto = Moto::start();
    let findings = many_findings(36);
    let fake = InspectorFake::start(findings.clone(), 3);
    fake.state.lock().unwrap().throttle = vec![2];
    let mut seed: u64 = 0x1a5b_c0de;
    let mut mid_run = 0;
    for trial in 0..3 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let kill_after = Duration::from_millis((seed >> 33) % 600);
        let sc = Scratch::new();
        sc.config(&config(&moto, &format!("endpoints = {{ inspector2 = \"{}\" }}", fake.fake.url()), "page_size = 3", "commit_every_records = 3\nbatch_rows = 3"));
        fake.state.lock().unwrap().delay = Duration::from_millis(60);
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_trawl"))
            .args(["run", "--config", "config.toml", "--quiet"])
            .current_dir(sc.dir.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let t0 = std::time::Instant::now();
        while events(&sc.path("out")).is_empty() && child.try_wait().unwrap().is_none() {
            assert!(t0.elapsed() < Duration::from_secs(120), "no commit within 2 minutes");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(kill_after);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let before = events(&sc.path("out")).len();
        mid_run += (before > 0 && before < findings.len()) as usize;
        let expire_tokens = trial == 2;
        {
            let mut s = fake.state.lock().unwrap();
            s.delay = Duration::ZERO;
            s.offsets.clear();
            if expire_tokens {
                s.generation += 1;
            }
        }
        eprintln!("trial {trial}: killed {kill_after:?} after the first commit with {before} of {} findings committed", findings.len());
        let (out, summary) = sc.run();
        assert!(out.status.success(), "trial {trial}: {}", stderr(&out));
        let all = events(&sc.path("out"));
        let counts = uids(&all);
        assert_eq!(all.len(), findings.len(), "trial {trial} (killed with {before} out): every finding once: {counts:?}");
        assert!(counts.values().all(|n| *n == 1));
        let sweeps: std::collections::BTreeSet<&str> = counts.keys().map(|u| u.rsplit_once('@').unwrap().1).collect();
        assert_eq!(sweeps.len(), 1, "trial {trial}: the rerun continues the killed sweep: {sweeps:?}");
        // A kill between a commit's prepare and its publish leaves it pending: the rerun rolls it
        // forward without writing its rows again, so it may write fewer than were missing.
        assert!(summary.counts.records_written as usize <= findings.len() - before, "trial {trial}: the rerun writes only what was not committed");
        let offsets = fake.state.lock().unwrap().offsets.clone();
        if before > 0 && !expire_tokens {
            assert!(offsets[0] >= before, "trial {trial}: the rerun starts after the durable pages, at {offsets:?}");
        }
        if expire_tokens && before > 0 && before < findings.len() {
            assert_eq!(offsets.first(), Some(&0), "trial {trial}: a refused token lists the sweep again from the start");
        }
        schema_check(&all, "findings-account");
    }
    assert!(mid_run >= 2, "the kills must land mid-run, after some commits: {mid_run} of 3 did");
}

/// `trawl check`: OK against moto; a denial names AmazonInspector2ReadOnlyAccess; an account
/// that answers otherwise is told about Inspector Classic's end of support. A denied run keeps
/// the lane where it was and exits 1.
#[test]
fn check_names_the_policy_when_denied_and_the_classic_end_of_support_otherwise() {
    let moto = Moto::start();
    let sc = Scratch::new();
    sc.config(&config(&moto, "", "", ""));
    let out = sc.trawl(&["check", "--config", "config.toml", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let row = rows.iter().find(|r| r["target"].as_str().unwrap().starts_with("inspector")).unwrap();
    assert!(row["ok"] == true && row["detail"].as_str().unwrap().contains("Inspector Classic reached end of support"), "{row}");

    let fake = InspectorFake::start(many_findings(2), 10);
    fake.state.lock().unwrap().deny = true;
    sc.config(&config(&moto, &format!("endpoints = {{ inspector2 = \"{}\" }}", fake.fake.url()), "", ""));
    let out = sc.trawl(&["check", "--config", "config.toml", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let row = rows.iter().find(|r| r["target"].as_str().unwrap().starts_with("inspector")).unwrap();
    assert_eq!(row["ok"], false);
    assert!(row["permission"].as_str().unwrap().contains("AmazonInspector2ReadOnlyAccess: inspector2:ListFindings denied"), "{row}");
    let (out, summary) = sc.run();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(summary.counts.objects_retry_later, 1);
    assert!(summary.sources[0].error.as_deref().unwrap().contains("AccessDenied"), "{:?}", summary.sources[0].error);
    assert!(events(&sc.path("out")).is_empty());

    // Once allowed, the run reads everything: nothing was checkpointed by the denied one.
    fake.state.lock().unwrap().deny = false;
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary.counts.records_written, 2);
    assert!(fake.requests.load(Ordering::SeqCst) >= 3);

    // An account that answers ListFindings with something else than a denial (one never
    // moved from Inspector Classic to Amazon Inspector) is told what to do.
    let other = WireFake::start(|_| {
        Reply::new("400 Bad Request", "application/json", json!({ "message": "Amazon Inspector is not enabled for this account" }).to_string()).header("x-amzn-ErrorType", "ValidationException")
    });
    sc.config(&config(&moto, &format!("endpoints = {{ inspector2 = \"{}\" }}", other.url()), "", ""));
    let out = sc.trawl(&["check", "--config", "config.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Inspector Classic") && text.contains("activate Amazon Inspector"), "{text}");
}

/// Every row of the sample through the embedded mapper passes the strict OCSF check, with
/// both classes exercised.
#[test]
fn every_sample_row_passes_the_schema_check() {
    use trawl::mapper::BatchMapper;
    let schema = trawl::ocsf::Schema::load(&repo().join("ocsf/schema-1.1.0")).unwrap();
    let batch = sample_batch(&sample_file(), crate::golden::CONNECTOR);
    let mapped = crate::golden::load_builtin("inspector").map(&batch).unwrap();
    let mut classes = std::collections::BTreeSet::new();
    let mut rows = 0;
    for rec in mapped.to_json(&batch).as_array().unwrap() {
        for e in rec["events"].as_array().unwrap() {
            rows += 1;
            classes.insert(e["class_uid"].as_i64().unwrap());
            let v = schema.validate(e);
            assert!(v.is_empty(), "record {}: {}\n{e:#}", rec["record_index"], v.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));
        }
    }
    assert_eq!((rows, classes.into_iter().collect::<Vec<_>>()), (5, vec![2002, 2004]));
}
