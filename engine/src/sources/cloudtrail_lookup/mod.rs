//! Source `cloudtrail_lookup`: CloudTrail management events through the `LookupEvents` API,
//! for accounts without a trail bucket to read (or to fill a gap in one). The API keeps 90
//! days of management events per region.
//!
//! One cursor lane per region. A run reads from the lane's cursor (or `since`) up to now less
//! `settle_seconds` — events reach LookupEvents some minutes after the call they record, and
//! a window that is still filling would be skipped for good — in slices of `slice_minutes`,
//! oldest slice first. Within a slice the API pages newest first (50 events a page, at most 2
//! requests per second per account and region, which a client-side limiter keeps).
//!
//! Every page is a unit of its lane, and its cursor says exactly what is taken (see
//! [`LaneCursor`]): all events before `time`, those at `time` listed in `ids`, and — inside
//! the slice being read — everything above `low`, plus those at `low` listed. A run killed
//! after any page resumes at that page's boundary: no event is lost and none is written twice,
//! even when many events share a second. Each event's `CloudTrailEvent` (the record as JSON
//! text) is the raw record, so `builtin:cloudtrail` maps it exactly as it maps the same event
//! read from a trail file.

use std::{collections::BTreeMap, time::Duration};

use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_smithy_types::DateTime;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{ConnectorDefaults, Checkpoint, Source, SourceContext, SourceEnv, SourceError, SourceSpec, UnitHandle, common::{api, window}, probe_session};
use crate::{
    aws::{AwsError, AwsSession, describe, runtime},
    batch::ObjectInfo,
};

/// How far back LookupEvents reaches.
const HORIZON_DAYS: u64 = 90;

/// `type = "cloudtrail_lookup"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudTrailLookupConfig {
    /// Regions to read, one cursor lane each. Default: the connector's region.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Where a lane's first run starts: `YYYY-MM-DD` or `<N>d` (N days ago), at most 90 days
    /// back (the API's horizon). Default `1d`. `trawl run --since` overrides it for lanes
    /// without a cursor; a lane with a cursor always resumes from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Last day to read, inclusive; same forms. Default: up to now. `--until` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// One lookup attribute to filter on (the API takes at most one), e.g.
    /// `{ ReadOnly = "false" }` for write events only. Keys: EventId, EventName, ReadOnly,
    /// Username, ResourceType, ResourceName, EventSource, AccessKeyId.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lookup_attributes: BTreeMap<String, String>,
    /// Events younger than this are left for the next run: LookupEvents shows an event some
    /// minutes after the call. Default 900 (15 minutes).
    #[serde(default = "default_settle_seconds")]
    pub settle_seconds: u64,
    /// Length of the time slices a run reads, oldest first; a commit can only fall between
    /// pages, so a slice bounds nothing but the query. Default 60.
    #[serde(default = "default_slice_minutes")]
    pub slice_minutes: u64,
    /// Requests per second per region. Default 2, LookupEvents' documented limit per account
    /// and region: more gets throttled. (An emulator can take more.)
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: f64,
    /// Mapper: `builtin:cloudtrail` (default), `builtin:passthrough` or a `.wasm` path.
    #[serde(default = "super::default_cloudtrail_mapper")]
    pub mapper: String,
    /// Config table handed to the mapper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapper_config: Option<serde_json::Value>,
}

fn default_requests_per_second() -> f64 {
    2.0
}
fn default_settle_seconds() -> u64 {
    900
}
fn default_slice_minutes() -> u64 {
    60
}

const ATTRIBUTE_KEYS: &[&str] = &["EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName", "EventSource", "AccessKeyId"];

impl CloudTrailLookupConfig {
    fn regions(&self, connector: &ConnectorDefaults) -> Vec<String> {
        if self.regions.is_empty() { vec![connector.region.clone()] } else { self.regions.clone() }
    }

    /// The first second a lane without a cursor reads, and the last second any lane reads.
    fn window(&self, since: Option<NaiveDate>, until: Option<NaiveDate>, now: i64) -> Result<(i64, i64), String> {
        window::read_window("LookupEvents", self.since.as_deref(), self.until.as_deref(), since, until, "1d", HORIZON_DAYS, self.settle_seconds, now)
    }

    fn attribute(&self) -> Result<Option<LookupAttribute>, String> {
        let Some((k, v)) = self.lookup_attributes.iter().next() else { return Ok(None) };
        if self.lookup_attributes.len() > 1 {
            return Err("lookup_attributes: LookupEvents takes one attribute per request; give one".into());
        }
        if !ATTRIBUTE_KEYS.contains(&k.as_str()) {
            return Err(format!("lookup_attributes: unknown key {k:?}; one of {}", ATTRIBUTE_KEYS.join(", ")));
        }
        Ok(Some(LookupAttribute::builder().attribute_key(LookupAttributeKey::from(k.as_str())).attribute_value(v).build().map_err(|e| e.to_string())?))
    }
}

impl SourceSpec for CloudTrailLookupConfig {
    fn mapper(&self) -> &str {
        &self.mapper
    }

    fn mapper_config(&self) -> Option<&serde_json::Value> {
        self.mapper_config.as_ref()
    }

    fn validate(&self, _: &ConnectorDefaults) -> Result<(), String> {
        if self.slice_minutes == 0 {
            return Err("slice_minutes must be at least 1".into());
        }
        api::check_rate(self.requests_per_second)?;
        self.attribute()?;
        self.window(None, None, chrono::Utc::now().timestamp()).map(|_| ())
    }

    fn label(&self, connector: &ConnectorDefaults) -> String {
        format!("cloudtrail_lookup {}", self.regions(connector).join(","))
    }

    fn build(&self, env: &SourceEnv<'_>) -> Result<Box<dyn Source>, String> {
        let now = chrono::Utc::now().timestamp();
        let (first, end) = self.window(env.since, env.until, now)?;
        Ok(Box::new(CloudTrailLookup { cfg: self.clone(), session: env.session()?, regions: self.regions(env.connector), first, end, attribute: self.attribute()? }))
    }

    fn probe(&self, connector: &ConnectorDefaults, aws: Option<&AwsSession>) -> Result<String, AwsError> {
        let session = probe_session(aws)?;
        for region in self.regions(connector) {
            let ct = session.cloudtrail_in(&region);
            runtime().block_on(ct.lookup_events().max_results(1).send()).map_err(|e| describe(&e, "cloudtrail:LookupEvents").with_context(format!("region {region}")))?;
        }
        Ok("cloudtrail:LookupEvents OK".into())
    }
}

/// How far a lane is: every event before `time` is taken, and those at `time` listed in
/// `ids`. While a slice is being read, `slice` says what of it is taken already.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneCursor {
    /// Epoch seconds.
    pub time: i64,
    /// Event ids at `time` already taken.
    pub ids: Vec<String>,
    /// The slice in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice: Option<SliceProgress>,
}

/// A slice `[cursor.time, end]` read down to `low`: events above `low` are taken, and those at
/// `low` listed in `low_ids`. `end_ids` are the events at `end` taken, which become the
/// cursor's `ids` when the slice is done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceProgress {
    /// The slice's last second.
    pub end: i64,
    /// Ids taken at `end`.
    pub end_ids: Vec<String>,
    /// The oldest second reached.
    pub low: i64,
    /// Ids taken at `low`.
    pub low_ids: Vec<String>,
}

impl LaneCursor {
    /// Whether the event was taken already.
    fn taken(&self, time: i64, id: &str) -> bool {
        if time < self.time || (time == self.time && self.ids.iter().any(|i| i == id)) {
            return true;
        }
        match &self.slice {
            Some(s) => time > s.low || (time == s.low && s.low_ids.iter().any(|i| i == id)),
            None => false,
        }
    }

    /// Notes an event taken while reading the slice ending at `end`.
    fn take(&mut self, end: i64, time: i64, id: &str) {
        let s = self.slice.get_or_insert_with(|| SliceProgress { end, low: end, ..SliceProgress::default() });
        if time == s.end {
            s.end_ids.push(id.to_string());
        }
        if time < s.low {
            s.low = time;
            s.low_ids.clear();
        }
        if time == s.low {
            s.low_ids.push(id.to_string());
        }
    }

    /// The slice is read to its start: the lane is done through its end.
    fn finish_slice(&mut self, end: i64) {
        let ids = match self.slice.take() {
            Some(s) if s.end == end => s.end_ids,
            _ => Vec::new(),
        };
        *self = LaneCursor { time: end, ids, slice: None };
    }

    /// The seconds still to query in the slice ending at `end`.
    fn remaining(&self, end: i64) -> (i64, i64) {
        match &self.slice {
            Some(s) => (self.time, s.low),
            None => (self.time, end),
        }
    }
}

/// The source.
pub struct CloudTrailLookup {
    cfg: CloudTrailLookupConfig,
    session: AwsSession,
    regions: Vec<String>,
    first: i64,
    end: i64,
    attribute: Option<LookupAttribute>,
}

/// Why a lane stopped before its end.
struct LaneStopped(String);

impl CloudTrailLookup {
    fn lane(&self, ctx: &mut SourceContext<'_>, region: &str) -> Result<(), LaneStopped> {
        let mut cursor = match ctx.cursor(region).map_err(LaneStopped)? {
            Some(v) => serde_json::from_value::<LaneCursor>(v).map_err(|e| LaneStopped(format!("its cursor is unreadable ({e}); delete the state dir's cursor to start over")))?,
            None => LaneCursor { time: self.first, ids: Vec::new(), slice: None },
        };
        let ct = self.session.cloudtrail_in(region);
        let mut limiter = api::RateLimiter::new(self.cfg.requests_per_second);
        let slice = (self.cfg.slice_minutes * 60) as i64;
        let mut page_no = 0u64;
        while (cursor.time < self.end || cursor.slice.is_some()) && !ctx.stopping() {
            let end = match &cursor.slice {
                Some(s) => s.end,
                None => (cursor.time + slice).min(self.end),
            };
            let (from, to) = cursor.remaining(end);
            let mut token: Option<String> = None;
            let mut index = 0u64;
            loop {
                page_no += 1;
                let info = ObjectInfo {
                    connector: ctx.connector(),
                    source_kind: self.kind(),
                    aws_account_id: Some(self.session.account_id.clone()),
                    region: Some(region.to_string()),
                    object: format!("cloudtrail-lookup://{}/{region}/{from}-{to}/page-{page_no}", self.session.account_id),
                };
                let req = ct
                    .lookup_events()
                    .start_time(DateTime::from_secs(from))
                    .end_time(DateTime::from_secs(to))
                    .max_results(50)
                    .set_lookup_attributes(self.attribute.clone().map(|a| vec![a]))
                    .set_next_token(token.clone());
                let page = runtime().block_on(api::call_with_backoff(&mut limiter, 4, Duration::from_secs(1), || {
                    let req = req.clone();
                    async move { req.send().await.map_err(|e| describe(&e, "cloudtrail:LookupEvents")) }
                }));
                let page = match page {
                    Ok(p) => p,
                    Err(e) => {
                        let why = format!("cloudtrail:LookupEvents in {region}: {e}");
                        ctx.retry_later(info, Checkpoint::Lane { lane: region.to_string(), cursor: None }, &why);
                        return Err(LaneStopped(why));
                    }
                };
                ctx.add_total(1);
                let mut unit = ctx.begin_unit(info, Checkpoint::Lane { lane: region.to_string(), cursor: None });
                for ev in page.events() {
                    self.push_event(ctx, &mut unit, &mut cursor, end, ev, index);
                    index += 1;
                }
                token = page.next_token().filter(|t| !t.is_empty()).map(str::to_string);
                if token.is_none() {
                    cursor.finish_slice(end);
                }
                ctx.end_unit_with_cursor(unit, serde_json::to_value(&cursor).expect("serializes"));
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(())
    }

    fn push_event(&self, ctx: &mut SourceContext<'_>, unit: &mut UnitHandle, cursor: &mut LaneCursor, end: i64, ev: &aws_sdk_cloudtrail::types::Event, index: u64) {
        let id = ev.event_id().unwrap_or_default();
        let Some(time) = ev.event_time().map(|t| t.secs()) else {
            ctx.reject_record(unit, index, 0, format!("LookupEvents returned event {id:?} without an EventTime"), ev.cloud_trail_event().unwrap_or("").as_bytes());
            return;
        };
        if cursor.taken(time, id) {
            return;
        }
        cursor.take(end, time, id);
        match ev.cloud_trail_event() {
            Some(raw) if !id.is_empty() => ctx.push(unit, raw.as_bytes(), index, 0),
            other => ctx.reject_record(unit, index, 0, format!("LookupEvents returned event {id:?} without its EventId or CloudTrailEvent"), other.unwrap_or("").as_bytes()),
        }
    }
}

impl Source for CloudTrailLookup {
    /// The account, and the filter when there is one: sources with other filters keep
    /// other cursors.
    fn id(&self) -> String {
        match self.cfg.lookup_attributes.iter().next() {
            Some((k, v)) => format!("cloudtrail_lookup:{}?{k}={v}", self.session.account_id),
            None => format!("cloudtrail_lookup:{}", self.session.account_id),
        }
    }

    fn kind(&self) -> &'static str {
        "cloudtrail_lookup"
    }

    fn run(&mut self, ctx: &mut SourceContext<'_>) -> Result<(), SourceError> {
        let mut stopped = Vec::new();
        for region in self.regions.clone() {
            if let Err(LaneStopped(why)) = self.lane(ctx, &region) {
                stopped.push(why);
            }
        }
        if stopped.is_empty() {
            return Ok(());
        }
        Err(SourceError { source_id: self.id(), message: format!("stopped early, the next run resumes there: {}", stopped.join("; ")) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages newest first, cut anywhere: resuming from any page's cursor takes every event once.
    #[test]
    fn a_cursor_saved_after_any_page_resumes_without_loss_or_repeat() {
        // (time, id) newest first within the slice [100, 200]; several per second, some at
        // both edges.
        let events: Vec<(i64, String)> = [200, 200, 199, 150, 150, 150, 150, 120, 100, 100]
            .iter()
            .enumerate()
            .map(|(i, t)| (*t, format!("e{i}")))
            .collect();
        let query = |from: i64, to: i64| -> Vec<(i64, String)> { events.iter().filter(|(t, _)| *t >= from && *t <= to).cloned().collect() };
        for page_size in 1..=4 {
            for stop_after in 0..=events.len() {
                let mut taken: Vec<String> = Vec::new();
                let mut cursor = LaneCursor { time: 100, ids: Vec::new(), slice: None };
                let mut saved = cursor.clone();
                // First run: stops after `stop_after` pages, as a kill would; the saved cursor
                // is the last page's.
                let (from, to) = cursor.remaining(200);
                let got = query(from, to);
                for (n, page) in got.chunks(page_size).enumerate() {
                    if n == stop_after {
                        break;
                    }
                    for (t, id) in page {
                        if !cursor.taken(*t, id) {
                            cursor.take(200, *t, id);
                            taken.push(id.clone());
                        }
                    }
                    if (n + 1) * page_size >= got.len() {
                        cursor.finish_slice(200);
                    }
                    saved = cursor.clone();
                }
                // Second run, from the saved cursor, to the end.
                let mut cursor = saved;
                if cursor.time < 200 || cursor.slice.is_some() {
                    let (from, to) = cursor.remaining(200);
                    for (t, id) in query(from, to) {
                        if !cursor.taken(t, &id) {
                            cursor.take(200, t, &id);
                            taken.push(id);
                        }
                    }
                    cursor.finish_slice(200);
                }
                taken.sort();
                let mut want: Vec<String> = events.iter().map(|e| e.1.clone()).collect();
                want.sort();
                assert_eq!(taken, want, "page size {page_size}, stopped after {stop_after} pages");
                // The next slice starts at 200 and must not take the events at 200 again.
                assert_eq!(cursor.time, 200);
                assert!(cursor.taken(200, "e0") && cursor.taken(200, "e1") && !cursor.taken(200, "new"));
            }
        }
    }

    #[test]
    fn config_checks() {
        let c: CloudTrailLookupConfig = toml::from_str("lookup_attributes = { ReadOnly = \"false\", EventName = \"x\" }").unwrap();
        assert!(c.attribute().unwrap_err().contains("one attribute"));
        let c: CloudTrailLookupConfig = toml::from_str("lookup_attributes = { Readonly = \"false\" }").unwrap();
        assert!(c.attribute().unwrap_err().contains("unknown key"));
        let c: CloudTrailLookupConfig = toml::from_str("since = \"2020-01-01\"\nsettle_seconds = 60").unwrap();
        let now = 1_700_000_000;
        let (first, end) = c.window(None, None, now).unwrap();
        assert_eq!((first, end), (now - 90 * 86_400, now - 60), "clamped to the horizon; ends settle_seconds ago");
        assert!(toml::from_str::<CloudTrailLookupConfig>("region = \"x\"").unwrap_err().to_string().contains("unknown field"));
    }
}
