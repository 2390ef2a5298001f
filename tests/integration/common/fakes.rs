//! Wire-level fakes of AWS APIs that moto lacks. Each speaks its service's real protocol over
//! HTTP/1.1 (keep-alive, Content-Length), so the SDK's own serializers and parsers are under
//! test; a connector routes only that service to it with `endpoints = { <service> = … }`.
//!
//! - [`CloudTrailFake`]: `LookupEvents` (JSON 1.1, `X-Amz-Target: …LookupEvents`), newest
//!   first, paginated with `NextToken`, with throttled replies on chosen requests.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};

/// One HTTP request, as a fake sees it.
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A reply: status line, content type, body, and any further headers (`smithy-protocol` for
/// RPC v2 CBOR, `x-amzn-ErrorType` for REST-JSON errors).
pub struct Reply {
    pub status: &'static str,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn new(status: &'static str, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Reply { status, content_type, body: body.into(), headers: Vec::new() }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")).and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    Some(Request { method, path, headers, body })
}

/// Serves `handle` on a loopback port until dropped.
pub struct WireFake {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl WireFake {
    pub fn start(handle: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let (st, handle) = (stop.clone(), Arc::new(handle));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let handle = handle.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut conn = conn;
                    while let Some(req) = read_request(&mut reader) {
                        let reply = handle(&req);
                        let mut head = format!(
                            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nx-amzn-RequestId: fake-{}\r\n",
                            reply.status,
                            reply.content_type,
                            reply.body.len(),
                            port
                        );
                        for (k, v) in &reply.headers {
                            head.push_str(&format!("{k}: {v}\r\n"));
                        }
                        head.push_str("\r\n");
                        if conn.write_all(head.as_bytes()).and_then(|_| conn.write_all(&reply.body)).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        WireFake { port, stop }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for WireFake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Passes a request on to the server on `port` (moto) and its answer back, status and content
/// type included: for a fake that answers some calls itself and leaves the rest to moto.
pub fn forward(port: u16, req: &Request) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.path);
    for (k, v) in &req.headers {
        if !k.eq_ignore_ascii_case("connection") && !k.eq_ignore_ascii_case("content-length") {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", req.body.len()));
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&req.body).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let end = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&resp[..end]).into_owned();
    let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    let status = leak(head.lines().next().unwrap().split_once(' ').unwrap().1);
    let content_type = head.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-type")).map(|(_, v)| v.trim())).unwrap_or("application/octet-stream");
    Reply::new(status, leak(content_type), &resp[end + 4..])
}

/// An event in the fake's store: what LookupEvents returns for it.
#[derive(Clone, Debug)]
pub struct LookupEvent {
    pub id: String,
    pub name: String,
    pub source: String,
    /// Epoch seconds.
    pub time: i64,
    pub read_only: bool,
    /// The record as JSON text (`CloudTrailEvent`).
    pub record: String,
}

impl LookupEvent {
    /// From a CloudTrail record (its eventID, eventName, eventSource, eventTime, readOnly).
    pub fn from_record(r: &Value) -> Self {
        let time = chrono::DateTime::parse_from_rfc3339(r["eventTime"].as_str().unwrap()).unwrap().timestamp();
        LookupEvent {
            id: r["eventID"].as_str().unwrap().to_string(),
            name: r["eventName"].as_str().unwrap().to_string(),
            source: r["eventSource"].as_str().unwrap().to_string(),
            time,
            read_only: r["readOnly"].as_bool().unwrap_or(false),
            record: serde_json::to_string(r).unwrap(),
        }
    }
}

/// How the CloudTrail fake behaves.
pub struct CloudTrailState {
    /// Events, any order (served newest first).
    pub events: Vec<LookupEvent>,
    /// Events per page (the API's MaxResults caps it too).
    pub page_size: usize,
    /// Requests (1-based) answered with ThrottlingException.
    pub throttle: Vec<usize>,
    /// Answer every request with AccessDeniedException.
    pub deny: bool,
    /// Wait this long before each reply (to give a kill time to land mid-run).
    pub delay: Duration,
    /// Each request's (StartTime, EndTime, NextToken).
    pub seen: Vec<(i64, i64, Option<String>)>,
}

/// CloudTrail's LookupEvents over JSON 1.1.
pub struct CloudTrailFake {
    pub server: WireFake,
    pub state: Arc<Mutex<CloudTrailState>>,
    pub requests: Arc<AtomicUsize>,
    pub throttled: Arc<AtomicUsize>,
}

fn json_reply(status: &'static str, body: Value) -> Reply {
    Reply::new(status, "application/x-amz-json-1.1", body.to_string())
}

impl CloudTrailFake {
    pub fn start(events: Vec<LookupEvent>, page_size: usize) -> Self {
        let state = Arc::new(Mutex::new(CloudTrailState { events, page_size, throttle: Vec::new(), deny: false, delay: Duration::ZERO, seen: Vec::new() }));
        let requests = Arc::new(AtomicUsize::new(0));
        let throttled = Arc::new(AtomicUsize::new(0));
        let (st, rq, th) = (state.clone(), requests.clone(), throttled.clone());
        let server = WireFake::start(move |req| {
            let target = req.header("x-amz-target").unwrap_or("");
            if req.method != "POST" || !target.ends_with(".LookupEvents") {
                return json_reply("400 Bad Request", json!({"__type": "UnknownOperationException", "message": format!("the fake serves LookupEvents, not {target:?}")}));
            }
            let n = rq.fetch_add(1, Ordering::SeqCst) + 1;
            let delay = st.lock().unwrap().delay;
            std::thread::sleep(delay);
            let mut s = st.lock().unwrap();
            if s.deny {
                return json_reply(
                    "400 Bad Request",
                    json!({"__type": "AccessDeniedException", "message": "User: arn:aws:iam::123456789012:user/trawl is not authorized to perform: cloudtrail:LookupEvents"}),
                );
            }
            if s.throttle.contains(&n) {
                th.fetch_add(1, Ordering::SeqCst);
                return json_reply("400 Bad Request", json!({"__type": "ThrottlingException", "message": "Rate exceeded"}));
            }
            let q: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let secs = |k: &str| q[k].as_f64().map(|f| f as i64);
            let (start, end) = (secs("StartTime").unwrap_or(i64::MIN), secs("EndTime").unwrap_or(i64::MAX));
            let token = q["NextToken"].as_str().map(str::to_string);
            s.seen.push((start, end, token.clone()));
            let attr = q["LookupAttributes"].as_array().and_then(|a| a.first()).cloned();
            let mut hits: Vec<&LookupEvent> = s
                .events
                .iter()
                .filter(|e| e.time >= start && e.time <= end)
                .filter(|e| match &attr {
                    Some(a) if a["AttributeKey"] == "ReadOnly" => a["AttributeValue"].as_str() == Some(if e.read_only { "true" } else { "false" }),
                    Some(a) if a["AttributeKey"] == "EventName" => a["AttributeValue"].as_str() == Some(e.name.as_str()),
                    _ => true,
                })
                .collect();
            // Newest first; the API's order among events of one second is its own, fixed here.
            hits.sort_by(|a, b| b.time.cmp(&a.time).then(a.id.cmp(&b.id)));
            let offset: usize = token.as_deref().and_then(|t| t.strip_prefix("page-")).and_then(|t| t.parse().ok()).unwrap_or(0);
            let size = s.page_size.min(q["MaxResults"].as_u64().unwrap_or(50) as usize).max(1);
            let page: Vec<Value> = hits
                .iter()
                .skip(offset)
                .take(size)
                .map(|e| {
                    json!({
                        "EventId": e.id, "EventName": e.name, "ReadOnly": if e.read_only { "true" } else { "false" },
                        "EventTime": e.time as f64, "EventSource": e.source, "Username": "Mary_Major",
                        "Resources": [], "CloudTrailEvent": e.record,
                    })
                })
                .collect();
            let mut body = json!({ "Events": page });
            if offset + size < hits.len() {
                body["NextToken"] = json!(format!("page-{}", offset + size));
            }
            json_reply("200 OK", body)
        });
        CloudTrailFake { server, state, requests, throttled }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }
}
