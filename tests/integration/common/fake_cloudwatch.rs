//! A wire fake of CloudWatch's `DescribeAlarmHistory` and `DescribeAlarms` (moto has no alarm
//! history) in the protocol aws-sdk-cloudwatch 1.140 speaks: Smithy RPC v2 CBOR — `POST
//! /service/GraniteServiceVersion20100801/operation/<Op>`, `Content-Type: application/cbor`,
//! the reply marked `smithy-protocol: rpc-v2-cbor`, timestamps as CBOR tag 1 (epoch seconds,
//! a float), errors as a map with `__type` and `message` plus the query-compatible
//! `x-amzn-query-error: <Code>;Sender` header. Items are served in the requested `ScanBy`
//! order, paginated with `NextToken`, with throttled replies on chosen requests and a deny
//! mode.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use aws_smithy_cbor::{Decoder, Encoder, data::Type};
use aws_smithy_types::DateTime;

use super::fakes::{Reply, Request, WireFake};

/// An alarm history item as the fake stores it.
#[derive(Clone, Debug)]
pub struct HistoryItem {
    pub alarm_name: String,
    pub alarm_type: String,
    /// Epoch milliseconds.
    pub time_ms: i64,
    pub item_type: String,
    pub summary: String,
    /// `HistoryData`: JSON text, as on the wire.
    pub data: String,
}

/// An alarm in `ALARM` now, for DescribeAlarms.
#[derive(Clone, Debug)]
pub struct Alarm {
    pub name: String,
    pub arn: String,
    pub reason: String,
    /// When it changed into ALARM (ms).
    pub transitioned_ms: i64,
}

/// How the fake behaves.
pub struct CloudWatchState {
    pub items: Vec<HistoryItem>,
    pub alarms: Vec<Alarm>,
    /// Items per page (MaxRecords caps it too).
    pub page_size: usize,
    /// Requests (1-based) answered with `Throttling`.
    pub throttle: Vec<usize>,
    /// Answer every request with `AccessDenied`.
    pub deny: bool,
    /// Wait this long before each reply.
    pub delay: Duration,
    /// Each DescribeAlarmHistory request's (StartDate ms, EndDate ms, NextToken, ScanBy).
    pub seen: Vec<(i64, i64, Option<String>, Option<String>)>,
}

pub struct CloudWatchFake {
    pub server: WireFake,
    pub state: Arc<Mutex<CloudWatchState>>,
    pub requests: Arc<AtomicUsize>,
    pub throttled: Arc<AtomicUsize>,
}

const PREFIX: &str = "/service/GraniteServiceVersion20100801/operation/";

fn cbor_reply(status: &'static str, body: Vec<u8>) -> Reply {
    Reply::new(status, "application/cbor", body).header("smithy-protocol", "rpc-v2-cbor")
}

fn error(code: &str, message: &str) -> Reply {
    let mut e = Encoder::new(Vec::new());
    e.map(2).str("__type").str(&format!("com.amazonaws.cloudwatch#{code}")).str("message").str(message);
    cbor_reply("400 Bad Request", e.into_writer()).header("x-amzn-query-error", format!("{code};Sender"))
}

/// The request's top-level members the fake reads: (name → value as text; timestamps as ms).
fn request_fields(body: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if body.is_empty() {
        return out;
    }
    let mut d = Decoder::new(body);
    let n = d.map().unwrap();
    let mut read_pair = |d: &mut Decoder| {
        let k = d.str().unwrap().to_string();
        let v = match d.datatype().unwrap() {
            Type::String => Some(d.str().unwrap().to_string()),
            Type::Tag => Some(d.timestamp().unwrap().to_millis().unwrap().to_string()),
            Type::U8 | Type::U16 | Type::U32 | Type::I8 | Type::I16 | Type::I32 => Some(d.integer().unwrap().to_string()),
            _ => {
                d.skip().unwrap();
                None
            }
        };
        if let Some(v) = v {
            out.push((k, v));
        }
    };
    match n {
        Some(n) => (0..n).for_each(|_| read_pair(&mut d)),
        None => {
            while d.datatype().unwrap() != Type::Break {
                read_pair(&mut d);
            }
        }
    }
    out
}

impl CloudWatchFake {
    pub fn start(items: Vec<HistoryItem>, page_size: usize) -> Self {
        let state = Arc::new(Mutex::new(CloudWatchState { items, alarms: Vec::new(), page_size, throttle: Vec::new(), deny: false, delay: Duration::ZERO, seen: Vec::new() }));
        let requests = Arc::new(AtomicUsize::new(0));
        let throttled = Arc::new(AtomicUsize::new(0));
        let (st, rq, th) = (state.clone(), requests.clone(), throttled.clone());
        let server = WireFake::start(move |req: &Request| {
            let op = req.path.strip_prefix(PREFIX).unwrap_or("");
            if req.method != "POST" || req.header("content-type") != Some("application/cbor") || req.header("smithy-protocol") != Some("rpc-v2-cbor") {
                return error("UnknownOperationException", &format!("the fake speaks RPC v2 CBOR, not {} {}", req.method, req.path));
            }
            let n = rq.fetch_add(1, Ordering::SeqCst) + 1;
            let delay = st.lock().unwrap().delay;
            std::thread::sleep(delay);
            let mut s = st.lock().unwrap();
            if s.deny {
                return error("AccessDenied", &format!("User: arn:aws:iam::123456789012:user/trawl is not authorized to perform: cloudwatch:{op}"));
            }
            if s.throttle.contains(&n) {
                th.fetch_add(1, Ordering::SeqCst);
                return error("Throttling", "Rate exceeded");
            }
            let q = request_fields(&req.body);
            let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let token = get("NextToken");
            let offset: usize = token.as_deref().and_then(|t| t.strip_prefix("page-")).and_then(|t| t.parse().ok()).unwrap_or(0);
            let size = s.page_size.min(get("MaxRecords").and_then(|m| m.parse().ok()).unwrap_or(100)).max(1);
            let mut e = Encoder::new(Vec::new());
            match op {
                "DescribeAlarmHistory" => {
                    let ms = |k: &str| get(k).and_then(|v| v.parse::<i64>().ok());
                    let (start, end) = (ms("StartDate").unwrap_or(i64::MIN), ms("EndDate").unwrap_or(i64::MAX));
                    s.seen.push((start, end, token.clone(), get("ScanBy")));
                    let mut hits: Vec<&HistoryItem> = s.items.iter().filter(|i| i.time_ms >= start && i.time_ms <= end).collect();
                    // The API's order among items of one millisecond is its own, fixed here.
                    hits.sort_by(|a, b| a.time_ms.cmp(&b.time_ms).then(a.summary.cmp(&b.summary)).then(a.alarm_name.cmp(&b.alarm_name)));
                    if get("ScanBy").as_deref() != Some("TimestampAscending") {
                        hits.reverse();
                    }
                    let page: Vec<&HistoryItem> = hits.iter().skip(offset).take(size).copied().collect();
                    let more = offset + size < hits.len();
                    e.map(1 + more as usize).str("AlarmHistoryItems").array(page.len());
                    for i in page {
                        e.map(6)
                            .str("AlarmName").str(&i.alarm_name)
                            .str("AlarmType").str(&i.alarm_type)
                            .str("Timestamp").timestamp(&DateTime::from_millis(i.time_ms))
                            .str("HistoryItemType").str(&i.item_type)
                            .str("HistorySummary").str(&i.summary)
                            .str("HistoryData").str(&i.data);
                    }
                    if more {
                        e.str("NextToken").str(&format!("page-{}", offset + size));
                    }
                }
                "DescribeAlarms" => {
                    let page: Vec<&Alarm> = s.alarms.iter().skip(offset).take(size).collect();
                    let more = offset + size < s.alarms.len();
                    e.map(2 + more as usize).str("MetricAlarms").array(page.len());
                    for a in page {
                        e.map(12)
                            .str("AlarmName").str(&a.name)
                            .str("AlarmArn").str(&a.arn)
                            .str("StateValue").str("ALARM")
                            .str("StateReason").str(&a.reason)
                            .str("StateUpdatedTimestamp").timestamp(&DateTime::from_millis(a.transitioned_ms))
                            .str("StateTransitionedTimestamp").timestamp(&DateTime::from_millis(a.transitioned_ms))
                            .str("Namespace").str("AWS/EC2")
                            .str("MetricName").str("CPUUtilization")
                            .str("Statistic").str("Average")
                            .str("Threshold").double(70.0)
                            .str("ComparisonOperator").str("GreaterThanThreshold")
                            .str("EvaluationPeriods").integer(2);
                    }
                    e.str("CompositeAlarms").array(0);
                    if more {
                        e.str("NextToken").str(&format!("page-{}", offset + size));
                    }
                }
                other => return error("UnknownOperationException", &format!("the fake serves DescribeAlarmHistory and DescribeAlarms, not {other:?}")),
            }
            cbor_reply("200 OK", e.into_writer())
        });
        CloudWatchFake { server, state, requests, throttled }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }
}
