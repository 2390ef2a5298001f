//! Source `cloudwatch_logs`: the events of CloudWatch Logs groups through `FilterLogEvents`,
//! resumable exactly once across restarts.
//!
//! `log_groups` names groups (`/aws/lambda/api`) or prefixes (`/aws/lambda/*`), resolved with
//! `DescribeLogGroups`; each group is one cursor lane. A run reads each group from its cursor
//! (or `since`) up to now less `settle_seconds`, oldest first, page by page (a page is at most
//! `page_events` events; nothing more than a page is held).
//!
//! **Exactly once.** FilterLogEvents returns a group's events sorted by timestamp (then
//! ingestion time and request), oldest first, and several events may share a millisecond.
//! Each page is a unit of its lane, and the cursor saved with it ([`SliceCursor`], ms) says
//! exactly what is taken: every event before `time`, and those at `time` whose event ids are
//! in `keys` (a page may end inside a millisecond). A run killed anywhere resumes from the
//! last durable page's cursor, querying from `time` again and skipping the ids listed: no
//! event is lost and none is written twice, however many share the boundary millisecond. The
//! last page of a query moves the cursor to the query's end. A cursor holds only the ids of
//! one millisecond, so many events at one millisecond cost one list, not one per event.
//!
//! **Late events.** Events reach CloudWatch Logs some time after their timestamp (agents
//! batch, Lambda flushes, PutLogEvents accepts timestamps up to 14 days old). The cursor only
//! passes a millisecond once the query that covered it ended `settle_seconds` before the run,
//! so every event ingested within `settle_seconds` of its timestamp is read exactly once, and
//! so is an event at the cursor's own millisecond ingested at any time. An event ingested
//! later than that, with a timestamp the cursor has passed, is **not read** (never read twice
//! either): raise `settle_seconds` above the group's worst ingestion delay. Each run counts
//! the events it reads whose ingestion time is more than `settle_seconds` after their
//! timestamp and warns: such a group is one where events can be missed.
//!
//! **Records.** An event's message is the record's bytes, its index in its page the record's
//! index; its enrichment ([`trawl_guest_sdk::RawRecord::enrichment`]) is `{"log_group",
//! "log_stream", "event_id", "timestamp", "ingestion_time"}`. A page's object is
//! `cloudwatch-logs://<account>/<region>/<group>?from=<ms>&taken=<n>&page=<n>`: the query's
//! start, how many ids at it were taken already, and the page's number, so two pages that can
//! hold different events never share a name (the records' position uids stay unique: the
//! cursor only moves forward, and moves with every page that has a new event).
//! `builtin:passthrough` names each row by its event,
//! `cloudwatch-logs://<account>/<region>/<group>:<stream>#<event id>`. With `log_format` set
//! (a VPC Flow Logs custom format delivered to the group, which has no header line), the
//! format is each record's unit context, as a flow log file's header is. Subscription
//! `CONTROL_MESSAGE` events are not data: skipped, and counted in the log.

use std::{collections::BTreeSet, time::Duration};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{
    Checkpoint, ConnectorDefaults, ProbeOutcome, ProbeRow, Source, SourceContext, SourceEnv, SourceError, SourceSpec, UnitHandle, probe_session,
    common::{api, window, window::SliceCursor},
};
use crate::{
    aws::{AwsError, AwsSession, describe, runtime},
    batch::ObjectInfo,
};

/// The longest retention a log group can have (10 years): the farthest back `since` reaches.
const HORIZON_DAYS: u64 = 3653;

/// FilterLogEvents returns at most this many events a page.
const MAX_PAGE_EVENTS: u32 = 10_000;

/// `type = "cloudwatch_logs"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchLogsConfig {
    /// Log groups to read, one cursor lane each: a name (`/aws/lambda/api`), or a prefix ending
    /// in `*` (`/aws/lambda/*`; `*` alone is every group), resolved with DescribeLogGroups at
    /// the start of each run. Required.
    #[serde(default)]
    pub log_groups: Vec<String>,
    /// A CloudWatch Logs filter pattern: only matching events are read. Default: every event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_pattern: Option<String>,
    /// Only these log streams of each group (at most 100). Default: every stream.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_streams: Vec<String>,
    /// Where a lane's first run starts: `YYYY-MM-DD` or `<N>d` (N days ago). Default `1d`.
    /// `trawl run --since` overrides it for lanes without a cursor; a lane with a cursor always
    /// resumes from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Last day to read, inclusive; same forms. Default: up to now. `--until` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Events younger than this are left for the next run: an event is exactly-once only if it
    /// reaches CloudWatch Logs within this long of its timestamp (see the module docs).
    /// Default 300 (5 minutes).
    #[serde(default = "default_settle_seconds")]
    pub settle_seconds: u64,
    /// Requests per second, shared by every group (the quota is per account and region).
    /// Default 5, FilterLogEvents' default quota; more gets throttled.
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: f64,
    /// Events per FilterLogEvents page, 1 to 10000. Default 10000.
    #[serde(default = "default_page_events")]
    pub page_events: u32,
    /// The log format of VPC Flow Logs delivered to these groups: the field names in order,
    /// `version account-id interface-id …`, or the flow log's `LogFormat` as given to it with
    /// each `${` written `$${` (`${…}` in a config is an environment variable). Every
    /// record's unit context, which `builtin:vpc_flow` reads as a file's header. Default: none
    /// (`builtin:vpc_flow` reads the default format).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    /// Mapper: `builtin:passthrough` (default), `builtin:cloudtrail` (a trail delivered to
    /// CloudWatch Logs), `builtin:vpc_flow` (flow logs), `builtin:redshift` (Redshift's
    /// `/aws/redshift/cluster/<cluster>/<log type>` groups) or a `.wasm` path.
    #[serde(default = "default_mapper")]
    pub mapper: String,
    /// Config table handed to the mapper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapper_config: Option<serde_json::Value>,
}

fn default_settle_seconds() -> u64 {
    300
}
fn default_requests_per_second() -> f64 {
    5.0
}
fn default_page_events() -> u32 {
    MAX_PAGE_EVENTS
}
fn default_mapper() -> String {
    "builtin:passthrough".into()
}

/// One entry of `log_groups`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum GroupPattern {
    Name(String),
    Prefix(String),
}

impl GroupPattern {
    fn parse(s: &str) -> Result<GroupPattern, String> {
        match s.strip_suffix('*') {
            Some(p) if p.contains('*') => Err(format!("log_groups: {s:?}: `*` may only end a prefix")),
            Some(p) => Ok(GroupPattern::Prefix(p.to_string())),
            None if s.is_empty() || s.contains('*') => Err(format!("log_groups: {s:?} is no log group name or prefix* ")),
            None => Ok(GroupPattern::Name(s.to_string())),
        }
    }

    /// The prefix DescribeLogGroups is asked for.
    fn prefix(&self) -> &str {
        match self {
            GroupPattern::Name(n) | GroupPattern::Prefix(n) => n,
        }
    }

    fn matches(&self, group: &str) -> bool {
        match self {
            GroupPattern::Name(n) => n == group,
            GroupPattern::Prefix(p) => group.starts_with(p.as_str()),
        }
    }
}

impl CloudWatchLogsConfig {
    fn patterns(&self) -> Result<Vec<GroupPattern>, String> {
        if self.log_groups.is_empty() {
            return Err("log_groups: name at least one log group (or prefix*)".into());
        }
        self.log_groups.iter().map(|g| GroupPattern::parse(g)).collect()
    }

    /// The first and last millisecond a run reads (a lane with a cursor starts there instead).
    fn window_ms(&self, since: Option<NaiveDate>, until: Option<NaiveDate>, now: i64) -> Result<(i64, i64), String> {
        let (first, end) = window::read_window("CloudWatch Logs", self.since.as_deref(), self.until.as_deref(), since, until, "1d", HORIZON_DAYS, self.settle_seconds, now)?;
        Ok((first * 1000, end * 1000))
    }

    /// The groups the patterns name now, each once, in order; and the patterns that name none.
    fn resolve(&self, logs: &aws_sdk_cloudwatchlogs::Client, limiter: &mut api::RateLimiter) -> Result<(Vec<String>, Vec<String>), AwsError> {
        let mut groups = Vec::new();
        let mut unmatched = Vec::new();
        for pattern in self.patterns().map_err(|e| AwsError { code: "InvalidConfig".into(), message: e, permission: None })? {
            let mut token: Option<String> = None;
            let mut found = false;
            loop {
                // `*` alone lists every group: the API refuses an empty prefix.
                let prefix = Some(pattern.prefix().to_string()).filter(|p| !p.is_empty());
                let req = logs.describe_log_groups().set_log_group_name_prefix(prefix).set_next_token(token.clone());
                let page = runtime().block_on(api::call_with_backoff(limiter, 4, Duration::from_secs(1), || {
                    let req = req.clone();
                    async move { req.send().await.map_err(|e| describe(&e, "logs:DescribeLogGroups")) }
                }))?;
                for name in page.log_groups().iter().filter_map(|g| g.log_group_name()) {
                    if pattern.matches(name) {
                        found = true;
                        if !groups.iter().any(|g| g == name) {
                            groups.push(name.to_string());
                        }
                    }
                }
                token = page.next_token().filter(|t| !t.is_empty()).map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
            if !found {
                unmatched.push(pattern.prefix().to_string() + if matches!(pattern, GroupPattern::Prefix(_)) { "*" } else { "" });
            }
        }
        Ok((groups, unmatched))
    }
}

impl CloudWatchLogsConfig {
    /// `trawl check`: the groups resolve (DescribeLogGroups) and the first can be read
    /// (FilterLogEvents, one event); what was verified, and the patterns that match no group.
    fn check(&self, aws: Option<&AwsSession>) -> Result<(String, Vec<String>), AwsError> {
        let logs = probe_session(aws)?.cloudwatch_logs();
        let (groups, unmatched) = self.resolve(&logs, &mut api::RateLimiter::new(self.requests_per_second))?;
        if let Some(g) = groups.first() {
            runtime().block_on(logs.filter_log_events().log_group_name(g).limit(1).send()).map_err(|e| describe(&e, "logs:FilterLogEvents").with_context(format!("log group {g}")))?;
        }
        Ok((format!("logs:DescribeLogGroups, logs:FilterLogEvents OK ({} log groups)", groups.len()), unmatched))
    }
}

impl SourceSpec for CloudWatchLogsConfig {
    fn mapper(&self) -> &str {
        &self.mapper
    }

    fn mapper_config(&self) -> Option<&serde_json::Value> {
        self.mapper_config.as_ref()
    }

    fn validate(&self, _: &ConnectorDefaults) -> Result<(), String> {
        self.patterns()?;
        api::check_rate(self.requests_per_second)?;
        if !(1..=MAX_PAGE_EVENTS).contains(&self.page_events) {
            return Err(format!("page_events must be 1 to {MAX_PAGE_EVENTS}, got {}", self.page_events));
        }
        if self.log_streams.len() > 100 {
            return Err(format!("log_streams: FilterLogEvents takes at most 100 streams, got {}", self.log_streams.len()));
        }
        self.window_ms(None, None, chrono::Utc::now().timestamp()).map(|_| ())
    }

    fn label(&self, connector: &ConnectorDefaults) -> String {
        format!("cloudwatch_logs {} {}", connector.region, self.log_groups.join(","))
    }

    fn build(&self, env: &SourceEnv<'_>) -> Result<Box<dyn Source>, String> {
        let (first, end) = self.window_ms(env.since, env.until, chrono::Utc::now().timestamp())?;
        Ok(Box::new(CloudWatchLogs { cfg: self.clone(), session: env.session()?, first, end }))
    }

    fn probe(&self, _: &ConnectorDefaults, aws: Option<&AwsSession>) -> Result<String, AwsError> {
        self.check(aws).map(|(ok, _)| ok)
    }

    /// One row; `WARN` when a name or prefix matches no log group (nothing to read there).
    fn probe_rows(&self, _: &ConnectorDefaults, aws: Option<&AwsSession>) -> Vec<ProbeRow> {
        let outcome = match self.check(aws) {
            Err(e) => ProbeOutcome::Failed(e),
            Ok((ok, unmatched)) if unmatched.is_empty() => ProbeOutcome::Ok(ok),
            Ok((ok, unmatched)) => ProbeOutcome::Warn(format!("{ok}; no log group matches {}", unmatched.join(", "))),
        };
        vec![ProbeRow { target: None, outcome }]
    }
}

/// The source.
pub struct CloudWatchLogs {
    cfg: CloudWatchLogsConfig,
    session: AwsSession,
    /// First millisecond of a lane without a cursor.
    first: i64,
    /// Last millisecond any lane reads.
    end: i64,
}

/// Why a lane stopped before its end.
struct LaneStopped(String);

/// What a lane's read noticed, for the log.
#[derive(Default)]
struct LaneCounts {
    events: u64,
    control_messages: u64,
    late: u64,
    out_of_order: u64,
}

/// Whether a message is a subscription's `CONTROL_MESSAGE` (CloudWatch Logs checking that a
/// destination is reachable), which carries no log data.
fn is_control_message(message: &str) -> bool {
    message.contains("CONTROL_MESSAGE")
        && serde_json::from_str::<serde_json::Value>(message).is_ok_and(|v| v.get("messageType").and_then(|t| t.as_str()) == Some("CONTROL_MESSAGE"))
}

impl CloudWatchLogs {
    fn info(&self, ctx: &SourceContext<'_>, object: String) -> ObjectInfo {
        ObjectInfo { connector: ctx.connector(), source_kind: self.kind(), aws_account_id: Some(self.session.account_id.clone()), region: Some(self.session.region().to_string()), object }
    }

    fn group_url(&self, group: &str) -> String {
        format!("cloudwatch-logs://{}/{}/{group}", self.session.account_id, self.session.region())
    }

    fn lane(&self, ctx: &mut SourceContext<'_>, logs: &aws_sdk_cloudwatchlogs::Client, limiter: &mut api::RateLimiter, group: &str) -> Result<(), LaneStopped> {
        let start = match ctx.cursor(group).map_err(LaneStopped)? {
            Some(v) => serde_json::from_value::<SliceCursor>(v).map_err(|e| LaneStopped(format!("log group {group}: its cursor is unreadable ({e}); delete the state dir's cursor to start over")))?,
            None => SliceCursor::starting_at(self.first),
        };
        if start.time > self.end {
            return Ok(());
        }
        let lane = || Checkpoint::Lane { lane: group.to_string(), cursor: None };
        let query = format!("{}?from={}&taken={}", self.group_url(group), start.time, start.keys.len());
        let mut cursor = start.clone();
        let mut counts = LaneCounts::default();
        let mut token: Option<String> = None;
        let mut page_no = 0u64;
        loop {
            page_no += 1;
            // AWS ignores `interleaved` and always interleaves the streams (sorted by time across
            // them); an emulator (moto) honours it and would otherwise return stream after stream.
            #[allow(deprecated)]
            let req = logs
                .filter_log_events()
                .log_group_name(group)
                .start_time(start.time)
                .end_time(self.end)
                .limit(self.cfg.page_events as i32)
                .interleaved(true)
                .set_filter_pattern(self.cfg.filter_pattern.clone())
                .set_log_stream_names((!self.cfg.log_streams.is_empty()).then(|| self.cfg.log_streams.clone()))
                .set_next_token(token.clone());
            let page = runtime().block_on(api::call_with_backoff(limiter, 4, Duration::from_secs(1), || {
                let req = req.clone();
                async move { req.send().await.map_err(|e| describe(&e, "logs:FilterLogEvents")) }
            }));
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    let why = format!("logs:FilterLogEvents on log group {group}: {e}");
                    ctx.retry_later(self.info(ctx, format!("{query}&page={page_no}")), lane(), &why);
                    return Err(LaneStopped(why));
                }
            };
            ctx.add_total(1);
            let mut unit = ctx.begin_unit(self.info(ctx, format!("{query}&page={page_no}")), lane());
            for (index, ev) in page.events().iter().enumerate() {
                self.take_event(ctx, &mut unit, index as u64, group, &start, &mut cursor, &mut counts, ev);
            }
            token = page.next_token().filter(|t| !t.is_empty()).map(str::to_string);
            if token.is_none() {
                // Read to the end of the query: nothing at or before `end` is left to read.
                cursor.advance_to(self.end);
            }
            ctx.end_unit_with_cursor(unit, serde_json::to_value(&cursor).expect("serializes"));
            if token.is_none() {
                break;
            }
            if ctx.stopping() {
                return Ok(());
            }
        }
        tracing::info!(log_group = group, events = counts.events, control_messages = counts.control_messages, "log group read");
        if counts.late > 0 {
            tracing::warn!(log_group = group, events = counts.late, "events reached CloudWatch Logs more than settle_seconds ({}) after their timestamp: later ones like them can be missed; raise settle_seconds", self.cfg.settle_seconds);
        }
        if counts.out_of_order > 0 {
            tracing::warn!(log_group = group, events = counts.out_of_order, "FilterLogEvents returned events out of timestamp order: a kill while reading them could lose some");
        }
        Ok(())
    }

    /// One event of a page: its record (none for a control message), and the cursor moved to
    /// take it.
    #[allow(clippy::too_many_arguments)]
    fn take_event(&self, ctx: &mut SourceContext<'_>, unit: &mut UnitHandle, index: u64, group: &str, start: &SliceCursor, cursor: &mut SliceCursor, counts: &mut LaneCounts, ev: &aws_sdk_cloudwatchlogs::types::FilteredLogEvent) {
        let (id, stream, message) = (ev.event_id().unwrap_or_default(), ev.log_stream_name().unwrap_or_default(), ev.message().unwrap_or_default());
        let Some(time) = ev.timestamp().filter(|_| !id.is_empty()) else {
            // Nothing to place it by: it cannot move the cursor, and is read once, now.
            ctx.reject_record(unit, index, 0, format!("FilterLogEvents returned an event of log group {group} without its eventId or timestamp"), message.as_bytes());
            return;
        };
        // Taken by an earlier run: before its cursor, or at its millisecond and listed.
        if start.taken(time, id) {
            return;
        }
        if !cursor.advance(time, id) {
            counts.out_of_order += 1;
        }
        let ingestion = ev.ingestion_time().unwrap_or(time);
        if ingestion - time > self.cfg.settle_seconds as i64 * 1000 {
            counts.late += 1;
        }
        if is_control_message(message) {
            counts.control_messages += 1;
            return;
        }
        counts.events += 1;
        let enrichment = serde_json::json!({ "log_group": group, "log_stream": stream, "event_id": id, "timestamp": time, "ingestion_time": ingestion }).to_string();
        ctx.push_enriched(unit, message.as_bytes(), index, 0, self.cfg.log_format.as_deref().map(str::as_bytes), Some(enrichment.as_bytes()));
    }
}

impl Source for CloudWatchLogs {
    /// The account and region, and the filter when there is one: sources with other filters
    /// keep other cursors.
    fn id(&self) -> String {
        let mut id = format!("cloudwatch_logs:{}/{}", self.session.account_id, self.session.region());
        let mut sep = '?';
        if let Some(p) = &self.cfg.filter_pattern {
            id.push_str(&format!("{sep}filter={p}"));
            sep = '&';
        }
        if !self.cfg.log_streams.is_empty() {
            let streams: BTreeSet<&str> = self.cfg.log_streams.iter().map(String::as_str).collect();
            id.push_str(&format!("{sep}streams={}", streams.into_iter().collect::<Vec<_>>().join(",")));
        }
        id
    }

    fn kind(&self) -> &'static str {
        "cloudwatch_logs"
    }

    fn run(&mut self, ctx: &mut SourceContext<'_>) -> Result<(), SourceError> {
        let logs = self.session.cloudwatch_logs();
        let mut limiter = api::RateLimiter::new(self.cfg.requests_per_second);
        let fail = |message: String| SourceError { source_id: self.id(), message };
        let (groups, unmatched) = self.cfg.resolve(&logs, &mut limiter).map_err(|e| fail(format!("logs:DescribeLogGroups: {e}")))?;
        for u in &unmatched {
            tracing::warn!(source = %self.id(), "no log group matches {u:?}");
        }
        let mut stopped = Vec::new();
        for group in &groups {
            if ctx.stopping() {
                break;
            }
            if let Err(LaneStopped(why)) = self.lane(ctx, &logs, &mut limiter, group) {
                stopped.push(why);
            }
        }
        if stopped.is_empty() {
            return Ok(());
        }
        Err(fail(format!("stopped early, the next run resumes there: {}", stopped.join("; "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A group's events oldest first, several per millisecond, read by runs that are killed
    /// after any event (a page, and so a commit, can end after any), with events arriving
    /// between runs (at the boundary millisecond and after it): every event is taken once.
    #[test]
    fn a_cursor_saved_after_any_event_resumes_without_loss_or_repeat() {
        // (timestamp ms, event id), in FilterLogEvents' order.
        let first: Vec<(i64, String)> = [100, 100, 100, 101, 105, 105, 110].iter().enumerate().map(|(i, t)| (*t, format!("a{i}"))).collect();
        // Ingested after the first run, at or after wherever it stopped (within the settle window).
        let late: Vec<(i64, String)> = [110, 110, 111].iter().enumerate().map(|(i, t)| (*t, format!("b{i}"))).collect();
        let query = |events: &[(i64, String)], from: i64, to: i64| -> Vec<(i64, String)> {
            let mut v: Vec<(i64, String)> = events.iter().filter(|(t, _)| *t >= from && *t <= to).cloned().collect();
            v.sort_by_key(|e| e.0);
            v
        };
        // One run over [cursor.time, end], killed after `stop` events (None: to the end).
        let run = |events: &[(i64, String)], saved: SliceCursor, end: i64, stop: Option<usize>, taken: &mut Vec<String>| -> SliceCursor {
            let start = saved.clone();
            let mut cursor = saved;
            let mut n = 0;
            for (t, id) in query(events, start.time, end) {
                if start.taken(t, &id) {
                    continue;
                }
                if stop == Some(n) {
                    return cursor;
                }
                assert!(cursor.advance(t, &id), "in order");
                taken.push(id);
                n += 1;
            }
            cursor.advance_to(end);
            cursor
        };
        for stop in 0..=first.len() {
            let mut taken = Vec::new();
            let c = run(&first, SliceCursor::starting_at(100), 110, Some(stop), &mut taken);
            let all: Vec<(i64, String)> = first.iter().chain(&late).cloned().collect();
            let c = run(&all, c, 110, None, &mut taken);
            assert_eq!(c.time, 110);
            let c = run(&all, c, 120, None, &mut taken);
            let mut want: Vec<String> = all.iter().map(|e| e.1.clone()).collect();
            want.sort();
            taken.sort();
            assert_eq!(taken, want, "killed after {stop} events");
            assert_eq!(c, SliceCursor::starting_at(120), "read through the end");
        }
    }

    #[test]
    fn group_patterns() {
        assert_eq!(GroupPattern::parse("/aws/lambda/api"), Ok(GroupPattern::Name("/aws/lambda/api".into())));
        let p = GroupPattern::parse("/aws/lambda/*").unwrap();
        assert_eq!(p.prefix(), "/aws/lambda/");
        assert!(p.matches("/aws/lambda/x") && !p.matches("/aws/rds/x"));
        assert!(GroupPattern::parse("*").unwrap().matches("anything"));
        assert!(GroupPattern::parse("/a*b").unwrap_err().contains("prefix"));
        assert!(GroupPattern::parse("/a*b*").unwrap_err().contains("only end"));
        assert!(!GroupPattern::Name("/a".into()).matches("/ab"), "a name is not a prefix");
    }

    #[test]
    fn control_messages_are_told_from_data() {
        let control = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1432826855000,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}"#;
        assert!(is_control_message(control));
        assert!(!is_control_message("user logged in; messageType=CONTROL_MESSAGE"), "text that merely names it is data");
        assert!(!is_control_message(r#"{"messageType":"DATA_MESSAGE"}"#));
    }

    #[test]
    fn config_checks() {
        let c: CloudWatchLogsConfig = toml::from_str("log_groups = [\"/a\"]").unwrap();
        assert_eq!((c.settle_seconds, c.page_events, c.mapper.as_str()), (300, 10_000, "builtin:passthrough"));
        let conn = ConnectorDefaults { name: "x".into(), region: "us-east-1".into(), sqs_url: None, macie_sqs_url: None, inspector_pull_mode: Default::default() };
        assert!(c.validate(&conn).is_ok());
        let c: CloudWatchLogsConfig = toml::from_str("log_groups = []").unwrap();
        assert!(c.validate(&conn).unwrap_err().contains("log_groups"));
        let c: CloudWatchLogsConfig = toml::from_str("log_groups = [\"/a\"]\npage_events = 20000").unwrap();
        assert!(c.validate(&conn).unwrap_err().contains("page_events"));
        let c: CloudWatchLogsConfig = toml::from_str("log_groups = [\"/a\"]\nsettle_seconds = 60").unwrap();
        let now = 1_700_000_000;
        assert_eq!(c.window_ms(None, None, now).unwrap().1, (now - 60) * 1000, "ends settle_seconds ago");
        assert!(toml::from_str::<CloudWatchLogsConfig>("log_groups = [\"/a\"]\nlog_group = \"x\"").unwrap_err().to_string().contains("unknown field"));
    }
}
