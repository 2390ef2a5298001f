//! A wire fake of Redshift's `DescribeEvents` (moto does not implement it) in the protocol
//! aws-sdk-redshift speaks, awsQuery: a form `POST` (`Action=DescribeEvents&Version=2012-12-01
//! &StartTime=…&EndTime=…&MaxRecords=…&Marker=…`), answered with
//! `DescribeEventsResponse/DescribeEventsResult/Events/Event` XML and a `Marker` while more
//! remain, errors as `ErrorResponse/Error/{Type,Code,Message}`. The API documents no order;
//! the fake serves newest first. Throttled replies on chosen requests, and a deny mode.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use super::fakes::{Reply, Request, WireFake};

/// An event as the fake stores it (the API's `Event`).
#[derive(Clone, Debug)]
pub struct RedshiftEvent {
    pub source_identifier: String,
    pub source_type: String,
    pub message: String,
    pub categories: Vec<String>,
    pub severity: String,
    /// Epoch milliseconds.
    pub date_ms: i64,
    pub event_id: String,
}

/// How the fake behaves.
pub struct RedshiftState {
    pub events: Vec<RedshiftEvent>,
    /// Events per page (MaxRecords caps it too).
    pub page_size: usize,
    /// Requests (1-based) answered with `Throttling`.
    pub throttle: Vec<usize>,
    /// Answer every request with `AccessDenied`.
    pub deny: bool,
    /// Wait this long before each reply.
    pub delay: Duration,
    /// Each request's (StartTime ms, EndTime ms, Marker).
    pub seen: Vec<(i64, i64, Option<String>)>,
}

pub struct RedshiftFake {
    pub server: WireFake,
    pub state: Arc<Mutex<RedshiftState>>,
    pub requests: Arc<AtomicUsize>,
    pub throttled: Arc<AtomicUsize>,
}

/// `a%3Ab+c` → `a:b c`.
fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn error(code: &str, message: &str) -> Reply {
    let body = format!(
        r#"<ErrorResponse xmlns="http://redshift.amazonaws.com/doc/2012-12-01/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>4b3ae5a1-5f0b-11e7-9ac9-2b9d1e2c5a0f</RequestId></ErrorResponse>"#,
        xml_escape(message)
    );
    Reply::new("400 Bad Request", "text/xml", body)
}

impl RedshiftFake {
    pub fn start(events: Vec<RedshiftEvent>, page_size: usize) -> Self {
        let state = Arc::new(Mutex::new(RedshiftState { events, page_size, throttle: Vec::new(), deny: false, delay: Duration::ZERO, seen: Vec::new() }));
        let requests = Arc::new(AtomicUsize::new(0));
        let throttled = Arc::new(AtomicUsize::new(0));
        let (st, rq, th) = (state.clone(), requests.clone(), throttled.clone());
        let server = WireFake::start(move |req: &Request| {
            let form: Vec<(String, String)> = String::from_utf8_lossy(&req.body).split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (form_decode(k), form_decode(v))).collect();
            let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            if req.method != "POST" || get("Action").as_deref() != Some("DescribeEvents") || get("Version").as_deref() != Some("2012-12-01") {
                return error("InvalidAction", &format!("the fake serves DescribeEvents (2012-12-01), not {:?}", get("Action")));
            }
            let n = rq.fetch_add(1, Ordering::SeqCst) + 1;
            let delay = st.lock().unwrap().delay;
            std::thread::sleep(delay);
            let mut s = st.lock().unwrap();
            if s.deny {
                return error("AccessDenied", "User: arn:aws:iam::123456789012:user/trawl is not authorized to perform: redshift:DescribeEvents");
            }
            if s.throttle.contains(&n) {
                th.fetch_add(1, Ordering::SeqCst);
                return error("Throttling", "Rate exceeded");
            }
            let ms = |k: &str| get(k).map(|v| chrono::DateTime::parse_from_rfc3339(&v).unwrap_or_else(|e| panic!("{k}={v}: {e}")).timestamp_millis());
            let (start, end) = (ms("StartTime").unwrap_or(i64::MIN), ms("EndTime").unwrap_or(i64::MAX));
            let marker = get("Marker");
            s.seen.push((start, end, marker.clone()));
            let max: usize = get("MaxRecords").and_then(|m| m.parse().ok()).unwrap_or(100);
            assert!((20..=100).contains(&max), "MaxRecords must be 20 to 100, got {max}");
            let mut hits: Vec<&RedshiftEvent> = s.events.iter().filter(|e| e.date_ms >= start && e.date_ms <= end).collect();
            hits.sort_by(|a, b| b.date_ms.cmp(&a.date_ms).then(a.source_identifier.cmp(&b.source_identifier)).then(a.event_id.cmp(&b.event_id)));
            let offset: usize = marker.as_deref().and_then(|t| t.strip_prefix("marker-")).and_then(|t| t.parse().ok()).unwrap_or(0);
            let size = s.page_size.min(max).max(1);
            let mut xml = String::from("<DescribeEventsResponse xmlns=\"http://redshift.amazonaws.com/doc/2012-12-01/\">\n  <DescribeEventsResult>\n");
            if offset + size < hits.len() {
                xml.push_str(&format!("    <Marker>marker-{}</Marker>\n", offset + size));
            }
            xml.push_str("    <Events>\n");
            for e in hits.iter().skip(offset).take(size) {
                let date = chrono::DateTime::from_timestamp_millis(e.date_ms).unwrap().format("%Y-%m-%dT%H:%M:%S%.3fZ");
                let cats: String = e.categories.iter().map(|c| format!("<EventCategory>{c}</EventCategory>")).collect();
                xml.push_str(&format!(
                    "      <Event>\n        <SourceType>{}</SourceType>\n        <Severity>{}</Severity>\n        <Message>{}</Message>\n        <EventCategories>{cats}</EventCategories>\n        <Date>{date}</Date>\n        <SourceIdentifier>{}</SourceIdentifier>\n        <EventId>{}</EventId>\n      </Event>\n",
                    e.source_type,
                    e.severity,
                    xml_escape(&e.message),
                    xml_escape(&e.source_identifier),
                    e.event_id
                ));
            }
            xml.push_str("    </Events>\n  </DescribeEventsResult>\n  <ResponseMetadata>\n    <RequestId>e8ff1a4c-6a41-11e7-a9d3-b5b2a1e2c5a0</RequestId>\n  </ResponseMetadata>\n</DescribeEventsResponse>\n");
            Reply::new("200 OK", "text/xml", xml)
        });
        RedshiftFake { server, state, requests, throttled }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }
}
