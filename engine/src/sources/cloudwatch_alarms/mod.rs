//! Source `cloudwatch_alarms`: the history of the account's CloudWatch alarms (state changes,
//! configuration updates, actions) through `DescribeAlarmHistory`, and optionally the alarms
//! in `ALARM` now (`DescribeAlarms`), once per run. CloudWatch keeps alarm history 30 days.
//!
//! One cursor lane, the connector's region. A run reads from the lane's cursor (or `since`) up
//! to now less `settle_seconds`, every page oldest first (`ScanBy = TimestampAscending`),
//! metric and composite alarms alike. Each page is a unit whose cursor ([`HistoryCursor`])
//! says exactly what is taken: the items before a millisecond, and those at it by key (the API
//! gives items no id, so the key is a digest of the item). Since the API pages oldest first,
//! the cursor moves with each item ([`SliceCursor::advance`]) and stays that small however
//! many items a run reads. A run killed after any page resumes at that page's boundary with
//! nothing lost or written twice.
//!
//! Each item is a raw record: the `AlarmHistoryItem` as JSON under the API's member names,
//! with `HistoryData` (JSON text on the wire) decoded. The cursor also carries each alarm's
//! last `ALARM` episode ([`Episodes`]), so every record of an episode — the change into
//! `ALARM`, the actions it ran, the change out of it — is enriched with the episode's start,
//! from which the mapper makes one finding uid per episode.

use std::{collections::BTreeMap, time::Duration};

use aws_sdk_cloudwatch::types::{AlarmType, ScanBy, StateValue};
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

/// How long CloudWatch keeps alarm history.
const HORIZON_DAYS: u64 = 30;

/// The item types of `DescribeAlarmHistory` (`HistoryItemType`).
const ITEM_TYPES: &[&str] = &["ConfigurationUpdate", "StateUpdate", "Action", "AlarmContributorStateUpdate", "AlarmContributorAction"];

/// `type = "cloudwatch_alarms"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchAlarmsConfig {
    /// Where the lane's first run starts: `YYYY-MM-DD` or `<N>d` (N days ago), at most 30 days
    /// back (CloudWatch keeps alarm history 30 days; older is clamped, with a warning). Default
    /// `1d`. `trawl run --since` overrides it while the lane has no cursor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Last day to read, inclusive; same forms. Default: up to now. `--until` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// The item types to keep: ConfigurationUpdate, StateUpdate, Action,
    /// AlarmContributorStateUpdate, AlarmContributorAction. Default: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history_item_types: Vec<String>,
    /// Also read the alarms in `ALARM` now (`DescribeAlarms`), once per run. Default false.
    #[serde(default)]
    pub current_alarms: bool,
    /// Items younger than this are left for the next run, so a second still being written is
    /// not passed over. Default 60.
    #[serde(default = "default_settle_seconds")]
    pub settle_seconds: u64,
    /// Requests per second. Default 3. (An emulator can take more.)
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: f64,
    /// Mapper: `builtin:cloudwatch_alarms` (default), `builtin:passthrough` or a `.wasm` path.
    #[serde(default = "default_mapper")]
    pub mapper: String,
    /// Config table handed to the mapper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapper_config: Option<Value>,
}

fn default_settle_seconds() -> u64 {
    60
}
fn default_requests_per_second() -> f64 {
    3.0
}
fn default_mapper() -> String {
    "builtin:cloudwatch_alarms".into()
}

impl CloudWatchAlarmsConfig {
    fn window(&self, since: Option<NaiveDate>, until: Option<NaiveDate>, now: i64) -> Result<(i64, i64), String> {
        window::read_window("DescribeAlarmHistory", self.since.as_deref(), self.until.as_deref(), since, until, "1d", HORIZON_DAYS, self.settle_seconds, now)
    }
}

impl SourceSpec for CloudWatchAlarmsConfig {
    fn mapper(&self) -> &str {
        &self.mapper
    }

    fn mapper_config(&self) -> Option<&Value> {
        self.mapper_config.as_ref()
    }

    fn validate(&self, _: &ConnectorDefaults) -> Result<(), String> {
        api::check_rate(self.requests_per_second)?;
        if let Some(t) = self.history_item_types.iter().find(|t| !ITEM_TYPES.contains(&t.as_str())) {
            return Err(format!("history_item_types: unknown type {t:?}; one of {}", ITEM_TYPES.join(", ")));
        }
        self.window(None, None, chrono::Utc::now().timestamp()).map(|_| ())
    }

    fn label(&self, connector: &ConnectorDefaults) -> String {
        format!("cloudwatch_alarms {}", connector.region)
    }

    fn build(&self, env: &SourceEnv<'_>) -> Result<Box<dyn Source>, String> {
        let (first, end) = self.window(env.since, env.until, chrono::Utc::now().timestamp())?;
        Ok(Box::new(CloudWatchAlarms { cfg: self.clone(), session: env.session()?, region: env.connector.region.clone(), first, end }))
    }

    fn probe(&self, _: &ConnectorDefaults, aws: Option<&AwsSession>) -> Result<String, AwsError> {
        let cw = probe_session(aws)?.cloudwatch();
        runtime().block_on(cw.describe_alarm_history().max_records(1).send()).map_err(|e| describe(&e, "cloudwatch:DescribeAlarmHistory"))?;
        if self.current_alarms {
            runtime().block_on(cw.describe_alarms().state_value(StateValue::Alarm).max_records(1).send()).map_err(|e| describe(&e, "cloudwatch:DescribeAlarms"))?;
            return Ok("cloudwatch:DescribeAlarmHistory, cloudwatch:DescribeAlarms OK".into());
        }
        Ok("cloudwatch:DescribeAlarmHistory OK".into())
    }
}

/// The lane's cursor: what is taken ([`SliceCursor`], in ms) and the alarms' episodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryCursor {
    /// What is taken.
    #[serde(flatten)]
    pub taken: SliceCursor,
    /// Each alarm's last `ALARM` episode.
    #[serde(default, skip_serializing_if = "Episodes::is_empty")]
    pub episodes: Episodes,
}

/// An alarm's stay in `ALARM`: when it began and, once over, when it ended (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Episode {
    /// When the alarm changed into `ALARM`.
    pub started: i64,
    /// When it changed out of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<i64>,
}

/// The last episode of each alarm, by name, followed through the history oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Episodes(pub BTreeMap<String, Episode>);

impl Episodes {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Follows one history item (a raw record of this source, read oldest first) and returns
    /// the start of the episode it belongs to, if any: a change into `ALARM` starts one, a
    /// change out of it ends it, and an action belongs to the episode whose start or end is
    /// the state change that ran it (`stateUpdateTimestamp`, exact ms, against the item's
    /// `Timestamp`, which the SDK may give a millisecond short).
    pub fn follow(&mut self, item: &Value) -> Option<i64> {
        let name = item["AlarmName"].as_str()?;
        let time = parse_ms(item["Timestamp"].as_str()?)?;
        let data = &item["HistoryData"];
        match item["HistoryItemType"].as_str()? {
            "StateUpdate" => {
                let (old, new) = (data["oldState"]["stateValue"].as_str(), data["newState"]["stateValue"].as_str());
                if new == Some("ALARM") {
                    self.0.insert(name.to_string(), Episode { started: time, ended: None });
                    return Some(time);
                }
                let e = self.0.get_mut(name)?;
                if old == Some("ALARM") && e.ended.is_none() {
                    e.ended = Some(time);
                    return Some(e.started);
                }
                None
            }
            "Action" => {
                let e = self.0.get(name)?;
                let cause = &data["stateUpdateTimestamp"];
                let cause = cause.as_i64().or_else(|| parse_ms(cause.as_str()?))?;
                // Within a millisecond: the item's own Timestamp came through float seconds.
                let near = |t: i64| (cause - t).abs() <= 1;
                (near(e.started) || e.ended.is_some_and(near)).then_some(e.started)
            }
            _ => None,
        }
    }
}

/// `2014-04-09T18:59:06.442Z` (the API's timestamps, as the records carry them) or
/// `2014-04-09T18:59:06.419+0000` (inside `HistoryData`) → ms.
fn parse_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s).or_else(|_| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")).ok().map(|t| t.timestamp_millis())
}

/// The API's timestamps in ms. (RPC v2 CBOR sends them as float seconds and the SDK
/// truncates to the millisecond, so one can arrive a millisecond below the exact value
/// `HistoryData` gives for the same instant: see [`Episodes::follow`].)
fn millis(t: &DateTime) -> i64 {
    t.to_millis().unwrap_or(0)
}

fn iso_ms(t: &DateTime) -> String {
    chrono::DateTime::from_timestamp_millis(millis(t)).expect("valid").format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The item as the raw record (the API's member names; `HistoryData` decoded when it is
/// JSON, as it is documented to be, else kept as text) and its key among the items of its
/// millisecond: a digest of everything in it.
fn history_record(item: &aws_sdk_cloudwatch::types::AlarmHistoryItem) -> (Value, String) {
    let data = item.history_data().map(|d| serde_json::from_str::<Value>(d).unwrap_or_else(|_| Value::String(d.to_string())));
    let mut rec = json!({
        "AlarmName": item.alarm_name(),
        "AlarmType": item.alarm_type().map(|t| t.as_str()),
        "Timestamp": item.timestamp().map(iso_ms),
        "HistoryItemType": item.history_item_type().map(|t| t.as_str()),
        "HistorySummary": item.history_summary(),
        "HistoryData": data,
    });
    if let Some(id) = item.alarm_contributor_id() {
        rec["AlarmContributorId"] = json!(id);
    }
    if let Some(attrs) = item.alarm_contributor_attributes() {
        rec["AlarmContributorAttributes"] = json!(attrs.iter().collect::<BTreeMap<_, _>>());
    }
    let key = hex::encode(&sha2::Sha256::digest(rec.to_string().as_bytes())[..12]);
    (rec, key)
}

/// The source.
pub struct CloudWatchAlarms {
    cfg: CloudWatchAlarmsConfig,
    session: AwsSession,
    region: String,
    first: i64,
    end: i64,
}

/// Why the lane stopped before its end.
struct LaneStopped(String);

impl CloudWatchAlarms {
    fn object(&self, what: &str) -> String {
        format!("cloudwatch-alarms://{}/{}/{what}", self.session.account_id, self.region)
    }

    fn info(&self, ctx: &SourceContext<'_>, object: String) -> ObjectInfo {
        ObjectInfo { connector: ctx.connector(), source_kind: self.kind(), aws_account_id: Some(self.session.account_id.clone()), region: Some(self.region.clone()), object }
    }

    fn history(&self, ctx: &mut SourceContext<'_>, limiter: &mut api::RateLimiter) -> Result<Episodes, LaneStopped> {
        let lane = self.region.clone();
        let mut cursor = match ctx.cursor(&lane).map_err(LaneStopped)? {
            Some(v) => serde_json::from_value::<HistoryCursor>(v).map_err(|e| LaneStopped(format!("its cursor is unreadable ({e}); delete the state dir's cursor to start over")))?,
            None => HistoryCursor { taken: SliceCursor::starting_at(self.first * 1000), episodes: Episodes::default() },
        };
        let cw = self.session.cloudwatch();
        let stop = self.end * 1000;
        if cursor.taken.time >= stop {
            return Ok(cursor.episodes);
        }
        // A second before the cursor, in case the API takes its start as exclusive: the items
        // at the cursor are told apart by key.
        let (from, to) = (cursor.taken.time - 1000, stop);
        let mut token: Option<String> = None;
        let mut page_no = 0u64;
        while !ctx.stopping() {
            page_no += 1;
            let info = self.info(ctx, self.object(&format!("history/{from}-{to}/page-{page_no}")));
            let req = cw
                .describe_alarm_history()
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .start_date(DateTime::from_millis(from))
                .end_date(DateTime::from_millis(to))
                .scan_by(ScanBy::TimestampAscending)
                .max_records(100)
                .set_next_token(token.clone());
            let page = runtime().block_on(api::call_with_backoff(limiter, 4, Duration::from_secs(1), || {
                let req = req.clone();
                async move { req.send().await.map_err(|e| describe(&e, "cloudwatch:DescribeAlarmHistory")) }
            }));
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    let why = format!("cloudwatch:DescribeAlarmHistory in {}: {e}", self.region);
                    ctx.retry_later(info, Checkpoint::Lane { lane: lane.clone(), cursor: None }, &why);
                    return Err(LaneStopped(why));
                }
            };
            ctx.add_total(1);
            let mut unit = ctx.begin_unit(info, Checkpoint::Lane { lane: lane.clone(), cursor: None });
            for (index, item) in page.alarm_history_items().iter().enumerate() {
                self.push_item(ctx, &mut unit, &mut cursor, to, item, index as u64);
            }
            token = page.next_token().filter(|t| !t.is_empty()).map(str::to_string);
            if token.is_none() {
                cursor.taken.advance_to(to);
            }
            ctx.end_unit_with_cursor(unit, serde_json::to_value(&cursor).expect("serializes"));
            if token.is_none() {
                break;
            }
        }
        Ok(cursor.episodes)
    }

    fn push_item(&self, ctx: &mut SourceContext<'_>, unit: &mut UnitHandle, cursor: &mut HistoryCursor, end: i64, item: &aws_sdk_cloudwatch::types::AlarmHistoryItem, index: u64) {
        let (rec, key) = history_record(item);
        let raw = rec.to_string();
        let Some(time) = item.timestamp().map(millis) else {
            ctx.reject_record(unit, index, 0, format!("DescribeAlarmHistory returned an item of alarm {:?} without a Timestamp", item.alarm_name().unwrap_or("")), raw.as_bytes());
            return;
        };
        if time > end || !cursor.taken.advance(time, &key) {
            return;
        }
        // Followed for every item, kept or not, so an episode is known whatever the filter.
        let started = cursor.episodes.follow(&rec);
        let wanted = self.cfg.history_item_types.is_empty() || item.history_item_type().is_some_and(|t| self.cfg.history_item_types.iter().any(|w| w == t.as_str()));
        if !wanted {
            return;
        }
        let enrichment = started.map(|s| json!({ "episode_started_ms": s }).to_string());
        ctx.push_enriched(unit, raw.as_bytes(), index, 0, None, enrichment.as_deref().map(str::as_bytes));
    }

    /// The alarms in `ALARM` now, one unit per page, read again every run (no cursor moves).
    fn current(&self, ctx: &mut SourceContext<'_>, limiter: &mut api::RateLimiter, episodes: &Episodes) -> Result<(), LaneStopped> {
        let cw = self.session.cloudwatch();
        let lane = format!("{}/current", self.region);
        let run = chrono::Utc::now().timestamp_millis();
        let mut token: Option<String> = None;
        let mut page_no = 0u64;
        loop {
            page_no += 1;
            let info = self.info(ctx, self.object(&format!("current/{run}/page-{page_no}")));
            let req = cw
                .describe_alarms()
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .state_value(StateValue::Alarm)
                .max_records(100)
                .set_next_token(token.clone());
            let page = runtime().block_on(api::call_with_backoff(limiter, 4, Duration::from_secs(1), || {
                let req = req.clone();
                async move { req.send().await.map_err(|e| describe(&e, "cloudwatch:DescribeAlarms")) }
            }));
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    let why = format!("cloudwatch:DescribeAlarms in {}: {e}", self.region);
                    ctx.retry_later(info, Checkpoint::Lane { lane, cursor: None }, &why);
                    return Err(LaneStopped(why));
                }
            };
            ctx.add_total(1);
            let mut unit = ctx.begin_unit(info, Checkpoint::Lane { lane: lane.clone(), cursor: None });
            let metric = page.metric_alarms().iter().map(|a| {
                let rec = json!({ "MetricAlarm": {
                    "AlarmName": a.alarm_name(), "AlarmArn": a.alarm_arn(), "AlarmDescription": a.alarm_description(),
                    "StateValue": a.state_value().map(|s| s.as_str()), "StateReason": a.state_reason(), "StateReasonData": a.state_reason_data(),
                    "StateUpdatedTimestamp": a.state_updated_timestamp().map(iso_ms), "StateTransitionedTimestamp": a.state_transitioned_timestamp().map(iso_ms),
                    "Namespace": a.namespace(), "MetricName": a.metric_name(),
                    "Dimensions": a.dimensions().iter().map(|d| json!({ "Name": d.name(), "Value": d.value() })).collect::<Vec<_>>(),
                    "Statistic": a.statistic().map(|s| s.as_str()), "Period": a.period(), "EvaluationPeriods": a.evaluation_periods(),
                    "Threshold": a.threshold(), "ComparisonOperator": a.comparison_operator().map(|c| c.as_str()),
                    "ActionsEnabled": a.actions_enabled(), "AlarmActions": a.alarm_actions(),
                }});
                (a.alarm_name(), a.state_transitioned_timestamp(), rec)
            });
            let composite = page.composite_alarms().iter().map(|a| {
                let rec = json!({ "CompositeAlarm": {
                    "AlarmName": a.alarm_name(), "AlarmArn": a.alarm_arn(), "AlarmDescription": a.alarm_description(), "AlarmRule": a.alarm_rule(),
                    "StateValue": a.state_value().map(|s| s.as_str()), "StateReason": a.state_reason(), "StateReasonData": a.state_reason_data(),
                    "StateUpdatedTimestamp": a.state_updated_timestamp().map(iso_ms), "StateTransitionedTimestamp": a.state_transitioned_timestamp().map(iso_ms),
                    "ActionsEnabled": a.actions_enabled(), "AlarmActions": a.alarm_actions(),
                }});
                (a.alarm_name(), a.state_transitioned_timestamp(), rec)
            });
            for (index, (name, transitioned, rec)) in metric.chain(composite).enumerate() {
                // The episode as the history followed it; else the time the alarm last changed state.
                let started = name.and_then(|n| episodes.0.get(n)).filter(|e| e.ended.is_none()).map(|e| e.started).or_else(|| transitioned.map(millis));
                let enrichment = started.map(|s| json!({ "episode_started_ms": s }).to_string());
                ctx.push_enriched(&mut unit, rec.to_string().as_bytes(), index as u64, 0, None, enrichment.as_deref().map(str::as_bytes));
            }
            ctx.end_unit(unit);
            token = page.next_token().filter(|t| !t.is_empty()).map(str::to_string);
            if token.is_none() {
                return Ok(());
            }
        }
    }
}

impl Source for CloudWatchAlarms {
    /// The account, and the item types when filtered: another filter keeps another cursor.
    fn id(&self) -> String {
        match self.cfg.history_item_types.is_empty() {
            true => format!("cloudwatch_alarms:{}", self.session.account_id),
            false => format!("cloudwatch_alarms:{}?types={}", self.session.account_id, self.cfg.history_item_types.join(",")),
        }
    }

    fn kind(&self) -> &'static str {
        "cloudwatch_alarms"
    }

    fn run(&mut self, ctx: &mut SourceContext<'_>) -> Result<(), SourceError> {
        let mut limiter = api::RateLimiter::new(self.cfg.requests_per_second);
        let mut stopped = Vec::new();
        let episodes = match self.history(ctx, &mut limiter) {
            Ok(e) => e,
            Err(LaneStopped(why)) => {
                stopped.push(why);
                Episodes::default()
            }
        };
        if self.cfg.current_alarms && !ctx.stopping() {
            if let Err(LaneStopped(why)) = self.current(ctx, &mut limiter, &episodes) {
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

    fn item(name: &str, time: &str, kind: &str, data: Value) -> Value {
        json!({ "AlarmName": name, "Timestamp": time, "HistoryItemType": kind, "HistoryData": data })
    }

    fn state(old: &str, new: &str) -> Value {
        json!({ "version": "1.0", "oldState": { "stateValue": old }, "newState": { "stateValue": new } })
    }

    /// Into ALARM starts an episode, its actions and the change out of it belong to it, a
    /// later episode is another, and changes not touching ALARM belong to none.
    #[test]
    fn episodes_follow_the_history() {
        let mut e = Episodes::default();
        let t = |s: &str| parse_ms(s).unwrap();
        let a1 = "2014-04-09T18:59:05.805Z";
        let ok = "2014-04-09T19:10:00.000Z";
        let a2 = "2014-04-09T20:00:00.001Z";
        let steps = [
            (item("cpu", "2014-04-09T18:00:00.000Z", "StateUpdate", state("INSUFFICIENT_DATA", "OK")), None),
            (item("cpu", a1, "StateUpdate", state("OK", "ALARM")), Some(t(a1))),
            (item("cpu", "2014-04-09T18:59:06.000Z", "Action", json!({ "actionState": "Succeeded", "stateUpdateTimestamp": t(a1) + 1 })), Some(t(a1))),
            (item("disk", "2014-04-09T19:00:00.000Z", "StateUpdate", state("ALARM", "OK")), None),
            (item("cpu", ok, "StateUpdate", state("ALARM", "OK")), Some(t(a1))),
            (item("cpu", "2014-04-09T19:10:01.000Z", "Action", json!({ "actionState": "Succeeded", "stateUpdateTimestamp": "2014-04-09T19:10:00.000+0000" })), Some(t(a1))),
            (item("cpu", "2014-04-09T19:11:00.000Z", "ConfigurationUpdate", json!({ "type": "Update" })), None),
            (item("cpu", "2014-04-09T19:20:00.000Z", "StateUpdate", state("OK", "INSUFFICIENT_DATA")), None),
            (item("cpu", a2, "StateUpdate", state("INSUFFICIENT_DATA", "ALARM")), Some(t(a2))),
        ];
        for (i, (it, want)) in steps.iter().enumerate() {
            assert_eq!(e.follow(it), *want, "step {i}: {it}");
        }
        assert_eq!(e.0["cpu"], Episode { started: t(a2), ended: None });
    }

    #[test]
    fn config_checks_and_the_record() {
        let c: CloudWatchAlarmsConfig = toml::from_str("history_item_types = [\"StateUpdate\", \"Alarm\"]").unwrap();
        assert!(c.validate(&ConnectorDefaults { name: "a".into(), region: "us-east-1".into(), sqs_url: None, macie_sqs_url: None, inspector_pull_mode: Default::default() }).unwrap_err().contains("unknown type \"Alarm\""));
        let c: CloudWatchAlarmsConfig = toml::from_str("since = \"2020-01-01\"").unwrap();
        let now = 1_700_000_000;
        assert_eq!(c.window(None, None, now).unwrap(), (now - 30 * 86_400, now - 60));
        let i = aws_sdk_cloudwatch::types::AlarmHistoryItem::builder()
            .alarm_name("myalarm")
            .timestamp(DateTime::from_millis(1_397_069_946_442))
            .history_item_type(aws_sdk_cloudwatch::types::HistoryItemType::StateUpdate)
            .history_data("{\"version\":\"1.0\",\"oldState\":{\"stateValue\":\"ALARM\"}}")
            .build();
        let (rec, key) = history_record(&i);
        assert_eq!(rec["Timestamp"], "2014-04-09T18:59:06.442Z");
        assert_eq!(rec["HistoryData"]["oldState"]["stateValue"], "ALARM", "HistoryData is decoded");
        let other = aws_sdk_cloudwatch::types::AlarmHistoryItem::builder().alarm_name("myalarm").timestamp(DateTime::from_millis(1_397_069_946_442)).history_data("not json").build();
        let (rec2, key2) = history_record(&other);
        assert_eq!(rec2["HistoryData"], "not json");
        assert_ne!(key, key2, "items of one millisecond have different keys");
    }
}
