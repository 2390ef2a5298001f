//! Source `guardduty`: the findings of every GuardDuty detector of the connector's region,
//! through `ListFindings` and `GetFindings`.
//!
//! One cursor lane per detector (`ListDetectors`, or the config's `detectors`). A run asks
//! for the findings whose `updatedAt` is at or after the lane's cursor (and at most
//! `settle_seconds` old), sorted by `updatedAt` ascending, 50 ids a page, and fetches each
//! page's findings with one `GetFindings`. Archived findings are left out unless
//! `include_archived = true`.
//!
//! GuardDuty updates a finding in place when the activity recurs: same id, a higher
//! `service.count`, a new `updatedAt`. The query on `updatedAt` finds it again, and it is
//! written again — one row per finding and `updatedAt` (the mapper's `metadata.uid` is
//! `<id>/<updatedAt>`), Create for its first occurrence and Update after (`builtin:guardduty`
//! tells them apart by the finding's `createdAt`/`updatedAt` and `service.count`, as Security
//! Lake does, so the same finding JSON read from an S3 export or an EventBridge event maps the
//! same way).
//!
//! Every page is a unit of its lane, and its cursor ([`LaneCursor`]) says exactly what is
//! taken: every sighting before `time`, and those at `time` whose ids are listed. The query
//! is `updatedAt >= time`, so findings that share the boundary millisecond are neither lost
//! nor written twice, and a run killed after any page resumes there. After each page that
//! took something the query starts again from the new cursor instead of following
//! `nextToken`: a finding updated while the run pages moves to the end of the order, and
//! offset-like tokens would then skip the finding that takes its place. Tokens are followed
//! only across pages holding nothing new (more than a page of findings sharing one
//! millisecond). A finding updated again between `ListFindings` and `GetFindings` comes back
//! with an `updatedAt` past the query's end: it is left for the next run, which lists it at
//! its new time (taking it now would move the cursor past findings not listed yet). Each
//! finding's JSON, exactly as `GetFindings` returns it, is the raw record.

use std::time::Duration;

use aws_sdk_guardduty::types::{Condition, FindingCriteria, OrderBy, SortCriteria};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{ConnectorDefaults, Checkpoint, Source, SourceContext, SourceEnv, SourceError, SourceSpec, common::api, probe_session};
use crate::{
    aws::{AwsError, AwsSession, describe, runtime},
    batch::ObjectInfo,
};

/// The source kind stamped on records; `builtin:guardduty` reads it.
pub const KIND: &str = "guardduty";

/// `ListFindings`' largest page, and `GetFindings`' largest request.
const PAGE: i32 = 50;

/// `type = "guardduty"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardDutyConfig {
    /// Detector ids to read, one cursor lane each. Default: every detector `ListDetectors`
    /// returns in the connector's region (there is at most one per account and region).
    #[serde(default)]
    pub detectors: Vec<String>,
    /// Also read archived findings. Default false: `service.archived = false` is part of
    /// the query.
    #[serde(default)]
    pub include_archived: bool,
    /// Where a lane's first run starts: `YYYY-MM-DD` or `<N>d` (N days ago). Default `7d`.
    /// GuardDuty keeps findings 90 days. `trawl run --since` overrides it for lanes without a
    /// cursor; a lane with a cursor always resumes from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Findings updated less than this long ago are left for the next run, so that a
    /// finding becoming visible late is not behind the cursor already. Default 60.
    #[serde(default = "default_settle_seconds")]
    pub settle_seconds: u64,
    /// Requests per second (`ListFindings` and `GetFindings` together). Default 5, well under
    /// GuardDuty's per-account throttling. (An emulator can take more.)
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: f64,
    /// Mapper: `builtin:guardduty` (default), `builtin:passthrough` or a `.wasm` path.
    #[serde(default = "default_mapper")]
    pub mapper: String,
    /// Config table handed to the mapper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapper_config: Option<serde_json::Value>,
}

fn default_settle_seconds() -> u64 {
    60
}
fn default_requests_per_second() -> f64 {
    5.0
}
fn default_mapper() -> String {
    "builtin:guardduty".into()
}

impl GuardDutyConfig {
    /// The millisecond a lane without a cursor starts at.
    fn first_ms(&self, since: Option<NaiveDate>, now: i64) -> Result<i64, String> {
        super::common::days::first_ms(self.since.as_deref(), since, "7d", now)
    }
}

impl SourceSpec for GuardDutyConfig {
    fn mapper(&self) -> &str {
        &self.mapper
    }

    fn mapper_config(&self) -> Option<&serde_json::Value> {
        self.mapper_config.as_ref()
    }

    fn validate(&self, _: &ConnectorDefaults) -> Result<(), String> {
        api::check_rate(self.requests_per_second)?;
        if let Some(d) = self.detectors.iter().find(|d| d.is_empty() || !d.chars().all(|c| c.is_ascii_alphanumeric())) {
            return Err(format!("detectors: {d:?} is not a detector id (letters and digits)"));
        }
        self.first_ms(None, chrono::Utc::now().timestamp_millis()).map(|_| ())
    }

    fn label(&self, connector: &ConnectorDefaults) -> String {
        match self.detectors.is_empty() {
            true => format!("guardduty {}", connector.region),
            false => format!("guardduty {} {}", connector.region, self.detectors.join(",")),
        }
    }

    fn build(&self, env: &SourceEnv<'_>) -> Result<Box<dyn Source>, String> {
        let now = chrono::Utc::now().timestamp_millis();
        Ok(Box::new(GuardDuty { cfg: self.clone(), session: env.session()?, first_ms: self.first_ms(env.since, now)?, end_ms: now - self.settle_seconds as i64 * 1000 }))
    }

    /// `ListFindings` needs what the run needs; `ListDetectors` first when none are named.
    fn probe(&self, _: &ConnectorDefaults, aws: Option<&AwsSession>) -> Result<String, AwsError> {
        let session = probe_session(aws)?;
        let gd = session.guardduty();
        let detectors = match self.detectors.is_empty() {
            true => list_detectors(&gd, None)?,
            false => self.detectors.clone(),
        };
        if detectors.is_empty() {
            return Err(AwsError::config_error(format!("GuardDuty has no detector in {}: enable GuardDuty there, or name the region's detector in `detectors`", session.region())));
        }
        for d in &detectors {
            runtime().block_on(gd.list_findings().detector_id(d).max_results(1).send()).map_err(|e| describe(&e, "guardduty:ListFindings").with_context(format!("detector {d}")))?;
        }
        Ok(format!("guardduty:ListFindings OK (detector {})", detectors.join(", ")))
    }
}

/// Every detector of the region.
fn list_detectors(gd: &aws_sdk_guardduty::Client, mut limiter: Option<&mut api::RateLimiter>) -> Result<Vec<String>, AwsError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let req = gd.list_detectors().set_next_token(token.clone());
        let page = match limiter.as_deref_mut() {
            Some(l) => runtime().block_on(api::call_with_backoff(l, 4, Duration::from_secs(1), || {
                let req = req.clone();
                async move { req.send().await.map_err(|e| describe(&e, "guardduty:ListDetectors")) }
            }))?,
            None => runtime().block_on(req.send()).map_err(|e| describe(&e, "guardduty:ListDetectors"))?,
        };
        out.extend(page.detector_ids().iter().cloned());
        token = page.next_token().filter(|t| !t.is_empty()).map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// How far a lane is: every finding sighting (a finding at one `updatedAt`) before `time` is
/// taken, and those at `time` whose ids are listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneCursor {
    /// `updatedAt`, epoch milliseconds (what GuardDuty's criteria take).
    pub time: i64,
    /// Ids of the findings taken at `time`.
    pub ids: Vec<String>,
}

impl LaneCursor {
    /// Whether this sighting of the finding was taken already.
    fn taken(&self, time: i64, id: &str) -> bool {
        time < self.time || (time == self.time && self.ids.iter().any(|i| i == id))
    }

    /// Notes a sighting taken. Sightings are taken in `updatedAt` order within a page, and
    /// pages in ascending order, so the cursor only moves forward.
    fn take(&mut self, time: i64, id: &str) {
        if time > self.time {
            self.time = time;
            self.ids.clear();
        }
        if time == self.time && !self.ids.iter().any(|i| i == id) {
            self.ids.push(id.to_string());
        }
    }
}

/// A finding as far as the source reads it: the rest is the mapper's.
#[derive(Deserialize)]
struct FindingHead<'a> {
    #[serde(borrow, default)]
    id: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "updatedAt", borrow, default)]
    updated_at: Option<std::borrow::Cow<'a, str>>,
}

/// `GetFindings`' reply, each finding kept as the bytes GuardDuty sent.
#[derive(Deserialize)]
struct GetFindingsBody<'a> {
    #[serde(borrow, default)]
    findings: Vec<&'a RawValue>,
}

/// `updatedAt` (RFC 3339) in epoch milliseconds.
fn updated_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis())
}

/// The source.
pub struct GuardDuty {
    cfg: GuardDutyConfig,
    session: AwsSession,
    first_ms: i64,
    end_ms: i64,
}

/// Why a lane stopped before its end.
struct LaneStopped(String);

impl GuardDuty {
    fn criteria(&self, from_ms: i64) -> FindingCriteria {
        let mut c = FindingCriteria::builder().criterion("updatedAt", Condition::builder().greater_than_or_equal(from_ms).less_than_or_equal(self.end_ms).build());
        if !self.cfg.include_archived {
            c = c.criterion("service.archived", Condition::builder().equals("false").build());
        }
        c.build()
    }

    fn info(&self, ctx: &SourceContext<'_>, object: String) -> ObjectInfo {
        ObjectInfo { connector: ctx.connector(), source_kind: KIND, aws_account_id: Some(self.session.account_id.clone()), region: Some(self.session.region().to_string()), object }
    }

    fn lane(&self, ctx: &mut SourceContext<'_>, gd: &aws_sdk_guardduty::Client, limiter: &mut api::RateLimiter, detector: &str) -> Result<(), LaneStopped> {
        let mut cursor = match ctx.cursor(detector).map_err(LaneStopped)? {
            Some(v) => serde_json::from_value::<LaneCursor>(v).map_err(|e| LaneStopped(format!("detector {detector}: its cursor is unreadable ({e}); delete the state dir's cursor to start over")))?,
            None => LaneCursor { time: self.first_ms, ids: Vec::new() },
        };
        let lane = || Checkpoint::Lane { lane: detector.to_string(), cursor: None };
        let mut page_no = 0u64;
        let mut token: Option<String> = None;
        while cursor.time <= self.end_ms && !ctx.stopping() {
            page_no += 1;
            let info = self.info(ctx, format!("guardduty://{}/{}/{detector}/updatedAt>={}/page-{page_no}", self.session.account_id, self.session.region(), cursor.time));
            let list = gd
                .list_findings()
                .detector_id(detector)
                .finding_criteria(self.criteria(cursor.time))
                .sort_criteria(SortCriteria::builder().attribute_name("updatedAt").order_by(OrderBy::Asc).build())
                .max_results(PAGE)
                .set_next_token(token.clone());
            let listed = runtime().block_on(api::call_with_backoff(limiter, 4, Duration::from_secs(1), || {
                let list = list.clone();
                async move { list.send().await.map_err(|e| describe(&e, "guardduty:ListFindings")) }
            }));
            let listed = match listed {
                Ok(l) => l,
                Err(e) => return Err(self.stop(ctx, info, detector, format!("guardduty:ListFindings of detector {detector}: {e}"))),
            };
            let next = listed.next_token().filter(|t| !t.is_empty()).map(str::to_string);
            let ids = listed.finding_ids().to_vec();
            if ids.is_empty() {
                return Ok(());
            }
            let body = api::RawBody::default();
            let got = runtime().block_on(api::call_with_backoff(limiter, 4, Duration::from_secs(1), || {
                let get = gd.get_findings().detector_id(detector).set_finding_ids(Some(ids.clone())).customize().interceptor(body.clone());
                async move { get.send().await.map_err(|e| describe(&e, "guardduty:GetFindings")) }
            }));
            if let Err(e) = got {
                return Err(self.stop(ctx, info, detector, format!("guardduty:GetFindings of detector {detector}: {e}")));
            }
            let Some(bytes) = body.take() else {
                return Err(self.stop(ctx, info, detector, format!("guardduty:GetFindings of detector {detector}: the reply had no body")));
            };
            let parsed: GetFindingsBody<'_> = match serde_json::from_slice(&bytes) {
                Ok(p) => p,
                Err(e) => return Err(self.stop(ctx, info, detector, format!("guardduty:GetFindings of detector {detector}: unreadable reply ({e})"))),
            };
            // The page's findings in updatedAt order (GetFindings' own order is not promised);
            // one without an id or a readable updatedAt is dead-lettered.
            let mut findings: Vec<(Option<(i64, String)>, &RawValue)> = parsed
                .findings
                .iter()
                .map(|raw| {
                    let head = serde_json::from_str::<FindingHead<'_>>(raw.get()).ok();
                    let key = head.and_then(|h| Some((updated_ms(h.updated_at.as_deref()?)?, h.id?.into_owned())));
                    (key, *raw)
                })
                .collect();
            findings.sort_by(|a, b| a.0.cmp(&b.0));
            ctx.add_total(1);
            let before = cursor.clone();
            let mut unit = ctx.begin_unit(info, lane());
            for (index, (key, raw)) in findings.iter().enumerate() {
                match key {
                    // Updated again between ListFindings and GetFindings: past the query's end,
                    // so taking it would move the cursor past findings not listed yet. It is
                    // listed again, at its new updatedAt, by the next run.
                    Some((time, _)) if *time > self.end_ms => {}
                    Some((time, id)) if !cursor.taken(*time, id) => {
                        cursor.take(*time, id);
                        ctx.push(&mut unit, raw.get().as_bytes(), index as u64, 0);
                    }
                    Some(_) => {}
                    None => ctx.reject_record(&mut unit, index as u64, 0, "GetFindings returned a finding without its id or a readable updatedAt".into(), raw.get().as_bytes()),
                }
            }
            ctx.end_unit_with_cursor(unit, serde_json::to_value(&cursor).expect("serializes"));
            // Progress: query again from the cursor. Nothing new on this page (a page of
            // findings sharing the cursor's millisecond): follow the token past it.
            token = match cursor != before {
                true => None,
                false => match next {
                    Some(t) => Some(t),
                    None => return Ok(()),
                },
            };
        }
        Ok(())
    }

    /// Leaves the page for the next run (the lane's cursor stays before it) and says why.
    fn stop(&self, ctx: &mut SourceContext<'_>, info: ObjectInfo, detector: &str, why: String) -> LaneStopped {
        ctx.retry_later(info, Checkpoint::Lane { lane: detector.to_string(), cursor: None }, &why);
        LaneStopped(why)
    }
}

impl Source for GuardDuty {
    /// The account and region, and whether archived findings are read: a source with the
    /// other filter keeps other cursors.
    fn id(&self) -> String {
        let id = format!("guardduty:{}/{}", self.session.account_id, self.session.region());
        if self.cfg.include_archived { format!("{id}?include_archived") } else { id }
    }

    fn kind(&self) -> &'static str {
        KIND
    }

    fn run(&mut self, ctx: &mut SourceContext<'_>) -> Result<(), SourceError> {
        let gd = self.session.guardduty();
        let mut limiter = api::RateLimiter::new(self.cfg.requests_per_second);
        let detectors = match self.cfg.detectors.is_empty() {
            true => list_detectors(&gd, Some(&mut limiter)).map_err(|e| SourceError { source_id: self.id(), message: format!("guardduty:ListDetectors: {e}") })?,
            false => self.cfg.detectors.clone(),
        };
        if detectors.is_empty() {
            tracing::warn!(region = self.session.region(), "GuardDuty has no detector in the region; nothing to read");
        }
        let mut stopped = Vec::new();
        for d in &detectors {
            if let Err(LaneStopped(why)) = self.lane(ctx, &gd, &mut limiter, d) {
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

    /// Pages in updatedAt order, cut anywhere, with findings sharing the boundary millisecond
    /// and a finding updated (seen again later): resuming from any page's cursor takes every
    /// sighting once.
    #[test]
    fn a_cursor_saved_after_any_page_resumes_without_loss_or_repeat() {
        // (updatedAt, id): f2 is seen at 100 and again at 300 (updated); four share 200.
        let sightings: Vec<(i64, &str)> = vec![(100, "f1"), (100, "f2"), (200, "f3"), (200, "f4"), (200, "f5"), (200, "f6"), (300, "f2"), (300, "f7")];
        // What the query `updatedAt >= from` returns, latest sighting of each finding only (a
        // finding has one updatedAt at a time), ascending.
        let query = |from: i64, upto: usize| -> Vec<(i64, &str)> {
            let live = &sightings[..upto];
            let mut v: Vec<(i64, &str)> = live.iter().filter(|(t, id)| *t >= from && !live.iter().any(|(t2, id2)| id2 == id && t2 > t)).cloned().collect();
            v.sort();
            v
        };
        for page_size in 1..=3 {
            for stop_after in 0..=8 {
                let mut taken: Vec<(i64, String)> = Vec::new();
                // The first run sees the first six sightings; the second all eight.
                let mut cursor = LaneCursor { time: 0, ids: Vec::new() };
                for (n, page) in query(0, 6).chunks(page_size).enumerate() {
                    if n == stop_after {
                        break;
                    }
                    for (t, id) in page {
                        if !cursor.taken(*t, id) {
                            cursor.take(*t, id);
                            taken.push((*t, id.to_string()));
                        }
                    }
                }
                let saved = cursor.clone();
                let mut cursor = saved;
                loop {
                    let before = cursor.clone();
                    let page: Vec<_> = query(cursor.time, 8).into_iter().filter(|(t, id)| !cursor.taken(*t, id)).take(page_size).collect();
                    for (t, id) in page {
                        cursor.take(t, id);
                        taken.push((t, id.to_string()));
                    }
                    if cursor == before {
                        break;
                    }
                }
                taken.sort();
                let mut want: Vec<(i64, String)> = query(0, 8).into_iter().map(|(t, i)| (t, i.to_string())).collect();
                // f2's first sighting is taken only if the first run reached it.
                if taken.contains(&(100, "f2".into())) {
                    want.push((100, "f2".into()));
                }
                want.sort();
                assert_eq!(taken, want, "page size {page_size}, stopped after {stop_after} pages");
                assert!(taken.contains(&(300, "f2".into())), "the update is taken");
            }
        }
    }

    #[test]
    fn config_checks() {
        let c: GuardDutyConfig = toml::from_str("since = \"2024-01-10\"").unwrap();
        assert_eq!(c.first_ms(None, 1_705_000_000_000).unwrap(), 1_704_844_800_000);
        assert_eq!(c.mapper, "builtin:guardduty");
        let c: GuardDutyConfig = toml::from_str("detectors = [\"12abc34d567e8fa901bc2d34e56789f0\", \"x-y\"]").unwrap();
        assert!(c.validate(&ConnectorDefaults { name: "a".into(), region: "us-east-1".into(), sqs_url: None, macie_sqs_url: None, inspector_pull_mode: Default::default() }).unwrap_err().contains("\"x-y\""));
        assert!(toml::from_str::<GuardDutyConfig>("archived = true").unwrap_err().to_string().contains("unknown field"));
        assert_eq!(updated_ms("2024-01-15T10:00:00.123Z"), Some(1_705_312_800_123));
    }
}
