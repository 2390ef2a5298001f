//! A wire fake of GuardDuty's findings API (moto has `ListDetectors` but no findings), in its
//! real protocol, REST-JSON with camelCase names, as aws-sdk-guardduty 1.154 speaks it:
//! `GET /detector` (ListDetectors), `POST /detector/{id}/findings` (ListFindings, with
//! `findingCriteria.criterion` on `updatedAt` — epoch ms, `greaterThanOrEqual` /
//! `lessThanOrEqual` — and `service.archived`, `sortCriteria`, `maxResults`, `nextToken`) and
//! `POST /detector/{id}/findings/get` (GetFindings). Errors carry `x-amzn-ErrorType` and a JSON
//! `message`: 429 `TooManyRequestsException` on chosen requests, 403 `AccessDeniedException`
//! in deny mode. The findings are AWS's documented finding shape
//! (`examples/data/guardduty/get-findings.json`).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};

use super::fakes::{Reply, WireFake};

/// The detector the fake serves.
pub const DETECTOR: &str = "12abc34d567e8fa901bc2d34e56789f0";

/// How the fake behaves.
pub struct GuardDutyState {
    /// Each finding's current state (a finding updated is replaced, as GuardDuty does).
    pub findings: Vec<Value>,
    /// Ids per ListFindings page (the API caps it at maxResults).
    pub page_size: usize,
    /// Requests (1-based, any operation) answered with 429 TooManyRequestsException.
    pub throttle: Vec<usize>,
    /// Answer every request with 403 AccessDeniedException.
    pub deny: bool,
    /// Wait this long before each reply (to give a kill time to land mid-run).
    pub delay: Duration,
    /// Each ListFindings request's body.
    pub seen: Vec<Value>,
    /// Findings GuardDuty updates (count + 1, updatedAt now) just before the next GetFindings
    /// that asks for them, once each: an update racing the run.
    pub update_on_get: Vec<String>,
}

/// The fake.
pub struct GuardDutyFake {
    pub server: WireFake,
    pub state: Arc<Mutex<GuardDutyState>>,
    pub requests: Arc<AtomicUsize>,
    pub throttled: Arc<AtomicUsize>,
}

fn reply(status: &'static str, body: Value) -> Reply {
    Reply::new(status, "application/json", body.to_string())
}

fn error(status: &'static str, code: &str, message: &str) -> Reply {
    reply(status, json!({ "message": message, "__type": code })).header("x-amzn-ErrorType", code)
}

/// `updatedAt` in epoch ms.
pub fn updated_ms(f: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(f["updatedAt"].as_str().unwrap()).unwrap().timestamp_millis()
}

impl GuardDutyFake {
    pub fn start(findings: Vec<Value>, page_size: usize) -> Self {
        let state = Arc::new(Mutex::new(GuardDutyState { findings, page_size, throttle: Vec::new(), deny: false, delay: Duration::ZERO, seen: Vec::new(), update_on_get: Vec::new() }));
        let requests = Arc::new(AtomicUsize::new(0));
        let throttled = Arc::new(AtomicUsize::new(0));
        let (st, rq, th) = (state.clone(), requests.clone(), throttled.clone());
        let server = WireFake::start(move |req| {
            let n = rq.fetch_add(1, Ordering::SeqCst) + 1;
            let delay = st.lock().unwrap().delay;
            std::thread::sleep(delay);
            let mut s = st.lock().unwrap();
            if s.deny {
                return error("403 Forbidden", "AccessDeniedException", "User: arn:aws:iam::123456789012:user/trawl is not authorized to perform: guardduty:ListFindings");
            }
            if s.throttle.contains(&n) {
                th.fetch_add(1, Ordering::SeqCst);
                return error("429 Too Many Requests", "TooManyRequestsException", "Rate exceeded");
            }
            let path = req.path.split('?').next().unwrap_or("");
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            match (req.method.as_str(), parts.as_slice()) {
                ("GET", ["detector"]) => reply("200 OK", json!({ "detectorIds": [DETECTOR] })),
                ("POST", ["detector", d, "findings"]) if *d == DETECTOR => {
                    let criterion = &body["findingCriteria"]["criterion"];
                    let from = criterion["updatedAt"]["greaterThanOrEqual"].as_i64();
                    let to = criterion["updatedAt"]["lessThanOrEqual"].as_i64();
                    let archived = criterion["service.archived"]["equals"].as_array().and_then(|a| a.first()).and_then(Value::as_str).map(str::to_string);
                    let token = body["nextToken"].as_str().map(str::to_string);
                    s.seen.push(body.clone());
                    let mut hits: Vec<&Value> = s
                        .findings
                        .iter()
                        .filter(|f| from.is_none_or(|t| updated_ms(f) >= t) && to.is_none_or(|t| updated_ms(f) <= t))
                        .filter(|f| archived.as_deref().is_none_or(|a| f["service"]["archived"].as_bool().unwrap_or(false).to_string() == a))
                        .collect();
                    // Ascending; GuardDuty's order among findings of one millisecond is its
                    // own, fixed here.
                    hits.sort_by(|a, b| updated_ms(a).cmp(&updated_ms(b)).then(a["id"].as_str().cmp(&b["id"].as_str())));
                    let offset: usize = token.as_deref().and_then(|t| t.strip_prefix("page-")).and_then(|t| t.parse().ok()).unwrap_or(0);
                    let size = s.page_size.min(body["maxResults"].as_u64().unwrap_or(50) as usize).max(1);
                    let ids: Vec<&str> = hits.iter().skip(offset).take(size).map(|f| f["id"].as_str().unwrap()).collect();
                    let mut out = json!({ "findingIds": ids });
                    if offset + size < hits.len() {
                        out["nextToken"] = json!(format!("page-{}", offset + size));
                    }
                    reply("200 OK", out)
                }
                ("POST", ["detector", d, "findings", "get"]) if *d == DETECTOR => {
                    let ids: Vec<&str> = body["findingIds"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
                    if ids.len() > 50 {
                        return error("400 Bad Request", "BadRequestException", "The request is rejected because findingIds has more than 50 items.");
                    }
                    let racing: Vec<String> = s.update_on_get.iter().filter(|id| ids.contains(&id.as_str())).cloned().collect();
                    s.update_on_get.retain(|id| !racing.contains(id));
                    for f in s.findings.iter_mut().filter(|f| racing.iter().any(|id| f["id"] == *id)) {
                        f["service"]["count"] = json!(f["service"]["count"].as_i64().unwrap_or(1) + 1);
                        f["updatedAt"] = json!(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
                    }
                    // In reverse of the request's order: GuardDuty promises none.
                    let found: Vec<&Value> = ids.iter().rev().filter_map(|id| s.findings.iter().find(|f| f["id"] == *id)).collect();
                    reply("200 OK", json!({ "findings": found }))
                }
                ("POST", ["detector", d, ..]) => error("400 Bad Request", "BadRequestException", &format!("The request is rejected because the input detectorId {d} is not owned by the current account.")),
                _ => error("404 Not Found", "UnknownOperationException", &format!("the fake serves ListDetectors, ListFindings and GetFindings, not {} {path}", req.method)),
            }
        });
        GuardDutyFake { server, state, requests, throttled }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }
}

/// The sample findings (`examples/data/guardduty/get-findings.json`, a GetFindings reply).
pub fn sample_findings() -> Vec<Value> {
    let text = std::fs::read_to_string(super::repo().join("examples/data/guardduty/get-findings.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["findings"].as_array().unwrap().clone()
}

/// The samples as the `guardduty` source hands them to its mapper: one record per finding, in
/// the file's order, with the file as the object.
pub fn sample_batch(connector: &str) -> trawl::batch::RawBatch {
    let info = trawl::batch::ObjectInfo {
        connector: connector.into(),
        source_kind: "guardduty",
        aws_account_id: Some("111122223333".into()),
        region: Some("us-east-1".into()),
        object: "examples/data/guardduty/get-findings.json".into(),
    };
    let mut b = trawl::batch::RawBatchBuilder::new();
    for (i, f) in sample_findings().iter().enumerate() {
        b.push(&info, f.to_string().as_bytes(), i as u64, 0, 1_700_000_000_000);
    }
    b.finish(1)
}
