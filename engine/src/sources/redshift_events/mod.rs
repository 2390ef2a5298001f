//! Source `redshift_events`: Amazon Redshift's events (clusters, parameter groups, security
//! groups, snapshots, scheduled actions: created, modified, failed, pending maintenance, …)
//! through `DescribeEvents`, which keeps the last 14 days.
//!
//! One cursor lane, the connector's region. A run reads from the lane's cursor (or `since`,
//! clamped to the 14 days with a warning) up to now less `settle_seconds`, in slices of
//! `slice_minutes`, following `Marker` through each slice. The API documents no order for its
//! events, so each page's cursor ([`SliceCursor`]) lists the keys taken so far in the slice
//! being read: a run killed after any page resumes there with nothing lost or written twice.
//! An event's `EventId` names its kind (`REDSHIFT-EVENT-2000` is every "cluster created"), not
//! the event, so the key is a digest of the whole event. A lane whose cursor fell behind the
//! 14 days (no run for two weeks) resumes at the horizon and says that the events in between
//! are gone.
//!
//! `source_types` is applied to what the API returns: the API takes a `SourceType` only with a
//! `SourceIdentifier`, and one lane for every type keeps one cursor.
//!
//! Each event is a raw record: the `Event` as JSON under the API's member names (`Date` in
//! RFC 3339 with milliseconds).

use std::time::Duration;

use aws_smithy_types::DateTime;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest;

use super::{
    Checkpoint, ConnectorDefaults, Source, SourceContext, SourceEnv, SourceError, SourceSpec, UnitHandle,
    common::{api, window, window::SliceCursor},
    probe_session,
};
use crate::{
    aws::{AwsError, AwsSession, describe, runtime},
    batch::ObjectInfo,
};

/// How far back DescribeEvents reaches.
const HORIZON_DAYS: u64 = 14;

/// The event source types (`SourceType`).
const SOURCE_TYPES: &[&str] = &["cluster", "cluster-parameter-group", "cluster-security-group", "cluster-snapshot", "scheduled-action"];

/// `type = "redshift_events"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedshiftEventsConfig {
    /// Where the lane's first run starts: `YYYY-MM-DD` or `<N>d` (N days ago), at most 14 days
    /// back (DescribeEvents keeps 14 days; older is clamped, with a warning). Default `1d`.
    /// `trawl run --since` overrides it while the lane has no cursor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Last day to read, inclusive; same forms. Default: up to now. `--until` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// The source types to keep: cluster, cluster-parameter-group, cluster-security-group,
    /// cluster-snapshot, scheduled-action. Default: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_types: Vec<String>,
    /// Events younger than this are left for the next run, so a second still being written is
    /// not passed over. Default 60.
    #[serde(default = "default_settle_seconds")]
    pub settle_seconds: u64,
    /// Length of the time slices a run reads, oldest first. Default 60.
    #[serde(default = "default_slice_minutes")]
    pub slice_minutes: u64,
    /// Requests per second. Default 5. (An emulator can take more.)
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: f64,
    /// Mapper: `builtin:redshift_events` (default), `builtin:passthrough` or a `.wasm` path.
    #[serde(default = "default_mapper")]
    pub mapper: String,
    /// Config table handed to the mapper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapper_config: Option<Value>,
}

fn default_settle_seconds() -> u64 {
    60
}
fn default_slice_minutes() -> u64 {
    60
}
fn default_requests_per_second() -> f64 {
    5.0
}
fn default_mapper() -> String {
    "builtin:redshift_events".into()
}

impl RedshiftEventsConfig {
    fn window(&self, since: Option<NaiveDate>, until: Option<NaiveDate>, now: i64) -> Result<(i64, i64), String> {
        window::read_window("DescribeEvents", self.since.as_deref(), self.until.as_deref(), since, until, "1d", HORIZON_DAYS, self.settle_seconds, now)
    }
}

impl SourceSpec for RedshiftEventsConfig {
    fn mapper(&self) -> &str {
        &self.mapper
    }

    fn mapper_config(&self) -> Option<&Value> {
        self.mapper_config.as_ref()
    }

    fn validate(&self, _: &ConnectorDefaults) -> Result<(), String> {
        if self.slice_minutes == 0 {
            return Err("slice_minutes must be at least 1".into());
        }
        api::check_rate(self.requests_per_second)?;
        if let Some(t) = self.source_types.iter().find(|t| !SOURCE_TYPES.contains(&t.as_str())) {
            return Err(format!("source_types: unknown type {t:?}; one of {}", SOURCE_TYPES.join(", ")));
        }
        self.window(None, None, chrono::Utc::now().timestamp()).map(|_| ())
    }

    fn label(&self, connector: &ConnectorDefaults) -> String {
        format!("redshift_events {}", connector.region)
    }

    fn build(&self, env: &SourceEnv<'_>) -> Result<Box<dyn Source>, String> {
        let now = chrono::Utc::now().timestamp();
        let (first, end) = self.window(env.since, env.until, now)?;
        Ok(Box::new(RedshiftEvents { cfg: self.clone(), session: env.session()?, region: env.connector.region.clone(), first, end, horizon: now - (HORIZON_DAYS * 86_400) as i64 }))
    }

    fn probe(&self, _: &ConnectorDefaults, aws: Option<&AwsSession>) -> Result<String, AwsError> {
        let rs = probe_session(aws)?.redshift();
        runtime().block_on(rs.describe_events().max_records(20).send()).map_err(|e| describe(&e, "redshift:DescribeEvents"))?;
        Ok("redshift:DescribeEvents OK".into())
    }
}

fn iso_ms(t: &DateTime) -> String {
    chrono::DateTime::from_timestamp_millis(t.to_millis().unwrap_or(0)).expect("valid").format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The event as the raw record (the API's member names) and its key: a digest of all of it.
fn event_record(ev: &aws_sdk_redshift::types::Event) -> (Value, String) {
    let rec = json!({
        "SourceIdentifier": ev.source_identifier(),
        "SourceType": ev.source_type().map(|t| t.as_str()),
        "Message": ev.message(),
        "EventCategories": ev.event_categories(),
        "Severity": ev.severity(),
        "Date": ev.date().map(iso_ms),
        "EventId": ev.event_id(),
    });
    let key = hex::encode(&sha2::Sha256::digest(rec.to_string().as_bytes())[..12]);
    (rec, key)
}

/// The source.
pub struct RedshiftEvents {
    cfg: RedshiftEventsConfig,
    session: AwsSession,
    region: String,
    first: i64,
    end: i64,
    /// The oldest second DescribeEvents still has.
    horizon: i64,
}

impl RedshiftEvents {
    fn lane(&self, ctx: &mut SourceContext<'_>) -> Result<(), String> {
        let lane = self.region.clone();
        let mut cursor = match ctx.cursor(&lane)? {
            Some(v) => serde_json::from_value::<SliceCursor>(v).map_err(|e| format!("its cursor is unreadable ({e}); delete the state dir's cursor to start over"))?,
            None => SliceCursor::starting_at(self.first * 1000),
        };
        if cursor.time < self.horizon * 1000 {
            let at = chrono::DateTime::from_timestamp_millis(cursor.time).expect("valid");
            tracing::warn!(cursor = %at, "the lane's cursor is older than DescribeEvents' {HORIZON_DAYS} days: the events between it and {HORIZON_DAYS} days ago are no longer kept by Redshift; resuming {HORIZON_DAYS} days ago");
            cursor = SliceCursor::starting_at(self.horizon * 1000);
        }
        let rs = self.session.redshift();
        let mut limiter = api::RateLimiter::new(self.cfg.requests_per_second);
        let (slice_ms, stop) = ((self.cfg.slice_minutes * 60_000) as i64, self.end * 1000);
        let mut page_no = 0u64;
        while let Some((from, to)) = cursor.next_slice(slice_ms, stop) {
            if ctx.stopping() {
                break;
            }
            // The API's start is at most its horizon back.
            let from = from.max(self.horizon * 1000);
            let mut marker: Option<String> = None;
            let mut index = 0u64;
            loop {
                page_no += 1;
                let info = ObjectInfo {
                    connector: ctx.connector(),
                    source_kind: self.kind(),
                    aws_account_id: Some(self.session.account_id.clone()),
                    region: Some(self.region.clone()),
                    object: format!("redshift-events://{}/{}/{from}-{to}/page-{page_no}", self.session.account_id, self.region),
                };
                let req = rs.describe_events().start_time(DateTime::from_millis(from)).end_time(DateTime::from_millis(to)).max_records(100).set_marker(marker.clone());
                let page = runtime().block_on(api::call_with_backoff(&mut limiter, 4, Duration::from_secs(1), || {
                    let req = req.clone();
                    async move { req.send().await.map_err(|e| describe(&e, "redshift:DescribeEvents")) }
                }));
                let page = match page {
                    Ok(p) => p,
                    Err(e) => {
                        let why = format!("redshift:DescribeEvents in {}: {e}", self.region);
                        ctx.retry_later(info, Checkpoint::Lane { lane: lane.clone(), cursor: None }, &why);
                        return Err(why);
                    }
                };
                ctx.add_total(1);
                let mut unit = ctx.begin_unit(info, Checkpoint::Lane { lane: lane.clone(), cursor: None });
                for ev in page.events() {
                    self.push_event(ctx, &mut unit, &mut cursor, to, ev, index);
                    index += 1;
                }
                marker = page.marker().filter(|m| !m.is_empty()).map(str::to_string);
                if marker.is_none() {
                    cursor.finish_slice(to);
                }
                ctx.end_unit_with_cursor(unit, serde_json::to_value(&cursor).expect("serializes"));
                if marker.is_none() {
                    break;
                }
            }
        }
        Ok(())
    }

    fn push_event(&self, ctx: &mut SourceContext<'_>, unit: &mut UnitHandle, cursor: &mut SliceCursor, end: i64, ev: &aws_sdk_redshift::types::Event, index: u64) {
        let (rec, key) = event_record(ev);
        let raw = rec.to_string();
        let Some(time) = ev.date().and_then(|t| t.to_millis().ok()) else {
            ctx.reject_record(unit, index, 0, format!("DescribeEvents returned event {:?} of {:?} without a Date", ev.event_id().unwrap_or(""), ev.source_identifier().unwrap_or("")), raw.as_bytes());
            return;
        };
        if !cursor.admit(end, time, &key) {
            return;
        }
        let wanted = self.cfg.source_types.is_empty() || ev.source_type().is_some_and(|t| self.cfg.source_types.iter().any(|w| w == t.as_str()));
        if wanted {
            ctx.push(unit, raw.as_bytes(), index, 0);
        }
    }
}

impl Source for RedshiftEvents {
    /// The account, and the source types when filtered: another filter keeps another cursor.
    fn id(&self) -> String {
        match self.cfg.source_types.is_empty() {
            true => format!("redshift_events:{}", self.session.account_id),
            false => format!("redshift_events:{}?types={}", self.session.account_id, self.cfg.source_types.join(",")),
        }
    }

    fn kind(&self) -> &'static str {
        "redshift_events"
    }

    fn run(&mut self, ctx: &mut SourceContext<'_>) -> Result<(), SourceError> {
        self.lane(ctx).map_err(|why| SourceError { source_id: self.id(), message: format!("stopped early, the next run resumes there: {why}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_checks_and_the_record() {
        let c: RedshiftEventsConfig = toml::from_str("source_types = [\"cluster\", \"clusters\"]").unwrap();
        let connector = ConnectorDefaults { name: "a".into(), region: "us-east-1".into(), sqs_url: None, macie_sqs_url: None, inspector_pull_mode: Default::default() };
        assert!(c.validate(&connector).unwrap_err().contains("unknown type \"clusters\""));
        let c: RedshiftEventsConfig = toml::from_str("since = \"30d\"").unwrap();
        let now = 1_700_000_000;
        assert_eq!(c.window(None, None, now).unwrap(), (now - 14 * 86_400, now - 60), "clamped to the 14 days");
        let ev = |id: &str| {
            aws_sdk_redshift::types::Event::builder()
                .source_identifier(id)
                .source_type(aws_sdk_redshift::types::SourceType::Cluster)
                .message(format!("Amazon Redshift cluster '{id}' has been created at 2016-12-14 21:52 UTC and is ready for use."))
                .event_categories("management")
                .severity("INFO")
                .date(DateTime::from_millis(1_481_752_347_264))
                .event_id("REDSHIFT-EVENT-2000")
                .build()
        };
        let (rec, key) = event_record(&ev("mycluster"));
        assert_eq!((rec["Date"].as_str(), rec["SourceType"].as_str(), rec["EventCategories"][0].as_str()), (Some("2016-12-14T21:52:27.264Z"), Some("cluster"), Some("management")));
        assert_ne!(key, event_record(&ev("other")).1, "events of one kind and millisecond have different keys");
    }
}
