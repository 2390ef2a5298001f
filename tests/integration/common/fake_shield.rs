//! A wire fake of Shield Advanced's attack API (moto's Shield has protections and
//! subscriptions but no attacks), in its real protocol, JSON 1.1 (`X-Amz-Target:
//! AWSShield_20160616.<Operation>`, PascalCase, times in epoch seconds) as aws-sdk-shield
//! 1.119 speaks it: `ListAttacks` (`StartTime.FromInclusive`/`ToExclusive`, `ResourceArns`,
//! `NextToken`, `MaxResults`; newest first, as Shield's console lists them), `DescribeAttack`
//! and `DescribeSubscription` (`ResourceNotFoundException` without a subscription). Errors are
//! `{"__type", "message"}`: `ThrottlingException` on chosen requests, `AccessDeniedException` in
//! deny mode. The attacks are AWS's documented `AttackDetail` shape
//! (`examples/data/shield/describe-attack.json`).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};

use super::fakes::{Reply, WireFake};

/// How the fake behaves.
pub struct ShieldState {
    /// Each attack's current state (`DescribeAttack`'s `Attack`; one that ends is replaced).
    pub attacks: Vec<Value>,
    /// Attacks per ListAttacks page.
    pub page_size: usize,
    /// Whether the account has a Shield Advanced subscription.
    pub subscribed: bool,
    /// Requests (1-based, any operation) answered with ThrottlingException.
    pub throttle: Vec<usize>,
    /// Answer every request with AccessDeniedException.
    pub deny: bool,
    /// Wait this long before each reply (to give a kill time to land mid-run).
    pub delay: Duration,
    /// Each request: (operation, body).
    pub seen: Vec<(String, Value)>,
}

/// The fake.
pub struct ShieldFake {
    pub server: WireFake,
    pub state: Arc<Mutex<ShieldState>>,
    pub requests: Arc<AtomicUsize>,
    pub throttled: Arc<AtomicUsize>,
}

fn reply(status: &'static str, body: Value) -> Reply {
    Reply::new(status, "application/x-amz-json-1.1", body.to_string())
}

fn error(code: &str, message: &str) -> Reply {
    reply("400 Bad Request", json!({ "__type": code, "message": message }))
}

impl ShieldFake {
    pub fn start(attacks: Vec<Value>, page_size: usize) -> Self {
        let state = Arc::new(Mutex::new(ShieldState { attacks, page_size, subscribed: true, throttle: Vec::new(), deny: false, delay: Duration::ZERO, seen: Vec::new() }));
        let requests = Arc::new(AtomicUsize::new(0));
        let throttled = Arc::new(AtomicUsize::new(0));
        let (st, rq, th) = (state.clone(), requests.clone(), throttled.clone());
        let server = WireFake::start(move |req| {
            let op = req.header("x-amz-target").and_then(|t| t.strip_prefix("AWSShield_20160616.")).unwrap_or("").to_string();
            let n = rq.fetch_add(1, Ordering::SeqCst) + 1;
            let delay = st.lock().unwrap().delay;
            std::thread::sleep(delay);
            let mut s = st.lock().unwrap();
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            s.seen.push((op.clone(), body.clone()));
            if s.deny {
                return error("AccessDeniedException", &format!("User: arn:aws:iam::123456789012:user/trawl is not authorized to perform: shield:{op}"));
            }
            if s.throttle.contains(&n) {
                th.fetch_add(1, Ordering::SeqCst);
                return error("ThrottlingException", "Rate exceeded");
            }
            match op.as_str() {
                "DescribeSubscription" if s.subscribed => reply(
                    "200 OK",
                    json!({ "Subscription": { "StartTime": 1_700_000_000.0, "TimeCommitmentInSeconds": 31_536_000, "AutoRenew": "ENABLED", "ProactiveEngagementStatus": "DISABLED", "SubscriptionLimits": {}, "SubscriptionArn": "arn:aws:shield::123456789012:subscription/1234567890ab" } }),
                ),
                "DescribeSubscription" => error("ResourceNotFoundException", "The referenced subscription does not exist."),
                _ if !s.subscribed => error("ResourceNotFoundException", "The referenced subscription does not exist."),
                "ListAttacks" => {
                    let from = body["StartTime"]["FromInclusive"].as_f64().unwrap_or(f64::MIN);
                    let to = body["StartTime"]["ToExclusive"].as_f64().unwrap_or(f64::MAX);
                    let arns: Option<Vec<&str>> = body["ResourceArns"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect());
                    let mut hits: Vec<&Value> = s
                        .attacks
                        .iter()
                        .filter(|a| a["StartTime"].as_f64().is_some_and(|t| t >= from && t < to))
                        .filter(|a| arns.as_ref().is_none_or(|arns| arns.contains(&a["ResourceArn"].as_str().unwrap_or(""))))
                        .collect();
                    hits.sort_by(|a, b| b["StartTime"].as_f64().partial_cmp(&a["StartTime"].as_f64()).unwrap().then(a["AttackId"].as_str().cmp(&b["AttackId"].as_str())));
                    let offset: usize = body["NextToken"].as_str().and_then(|t| t.strip_prefix("page-")).and_then(|t| t.parse().ok()).unwrap_or(0);
                    let size = s.page_size.min(body["MaxResults"].as_u64().unwrap_or(100) as usize).max(1);
                    let page: Vec<Value> = hits
                        .iter()
                        .skip(offset)
                        .take(size)
                        .map(|a| {
                            let vectors: Vec<Value> = a["SubResources"].as_array().into_iter().flatten().flat_map(|s| s["AttackVectors"].as_array().cloned().unwrap_or_default()).map(|v| json!({ "VectorType": v["VectorType"] })).collect();
                            let mut sum = json!({ "AttackId": a["AttackId"], "ResourceArn": a["ResourceArn"], "StartTime": a["StartTime"], "AttackVectors": vectors });
                            if !a["EndTime"].is_null() {
                                sum["EndTime"] = a["EndTime"].clone();
                            }
                            sum
                        })
                        .collect();
                    let mut out = json!({ "AttackSummaries": page });
                    if offset + size < hits.len() {
                        out["NextToken"] = json!(format!("page-{}", offset + size));
                    }
                    reply("200 OK", out)
                }
                "DescribeAttack" => match s.attacks.iter().find(|a| a["AttackId"] == body["AttackId"]) {
                    Some(a) => reply("200 OK", json!({ "Attack": a })),
                    None => error("InternalErrorException", "no such attack"),
                },
                _ => error("UnknownOperationException", &format!("the fake serves ListAttacks, DescribeAttack and DescribeSubscription, not {op:?}")),
            }
        });
        ShieldFake { server, state, requests, throttled }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }
}

/// The sample replies (`examples/data/shield/describe-attack.json`), each one's `Attack`.
pub fn sample_attacks() -> Vec<Value> {
    let text = std::fs::read_to_string(super::repo().join("examples/data/shield/describe-attack.json")).unwrap();
    serde_json::from_str::<Vec<Value>>(&text).unwrap().into_iter().map(|r| r["Attack"].clone()).collect()
}

/// The samples as the `shield` source hands them to its mapper: one record per reply, in the
/// file's order; a reply of an attack met earlier in the file is a re-description once it
/// ended, with the source's update context.
pub fn sample_batch(connector: &str) -> trawl::batch::RawBatch {
    let info = trawl::batch::ObjectInfo {
        connector: connector.into(),
        source_kind: "shield",
        aws_account_id: Some("111122223333".into()),
        region: Some("us-east-1".into()),
        object: "examples/data/shield/describe-attack.json".into(),
    };
    let mut b = trawl::batch::RawBatchBuilder::new();
    let attacks = sample_attacks();
    for (i, a) in attacks.iter().enumerate() {
        let again = attacks[..i].iter().any(|earlier| earlier["AttackId"] == a["AttackId"]);
        let context = again.then_some(trawl::sources::shield::UPDATE_CONTEXT);
        b.push_full(&info, a.to_string().as_bytes(), i as u64, 0, 1_700_000_000_000, context, None);
    }
    b.finish(1)
}
