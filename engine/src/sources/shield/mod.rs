//! Source `shield`: the DDoS attacks Shield Advanced detected on the account's protected
//! resources, through `ListAttacks` and `DescribeAttack` (Shield's API is in us-east-1).
//!
//! One cursor lane (`attacks`). A run lists the attacks that started in [cursor, now −
//! `settle_seconds`) — `since` for the first run — all pages (`NextToken`), takes the ones not
//! taken yet in start-time order, and describes each (`DescribeAttack`: sub-resources,
//! vectors, counters, top contributors, mitigations). Each attack is a unit whose cursor
//! ([`LaneCursor`]) says exactly what is taken: every attack that started before `time`, and
//! those that started at `time` whose ids are listed; a run killed after any attack resumes
//! after it.
//!
//! An attack still going on (no `EndTime`) is written with what is known so far and its id is
//! kept in the cursor's `ongoing` list. Each later run describes the ongoing attacks again
//! first: one that has ended is written again, with the unit context [`UPDATE_CONTEXT`], which
//! `builtin:shield` maps as an Update, and leaves the list. `builtin:shield` makes
//! `metadata.uid` `<AttackId>/ongoing` or `<AttackId>/ended`, so a rerun of either writes no
//! duplicate. Each attack's `Attack` object, exactly as `DescribeAttack` returns it, is the
//! raw record.

use std::time::Duration;

use aws_sdk_shield::types::TimeRange;
use aws_smithy_types::DateTime;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{ConnectorDefaults, Checkpoint, Source, SourceContext, SourceEnv, SourceError, SourceSpec, common::api, probe_session};
use crate::{
    aws::{AwsError, AwsSession, describe, runtime},
    batch::ObjectInfo,
};

/// The source kind stamped on records; `builtin:shield` reads it.
pub const KIND: &str = "shield";

/// The unit context of an attack described again because it has ended since it was written
/// as ongoing: `builtin:shield` writes it as an Update.
pub const UPDATE_CONTEXT: &[u8] = b"update";

/// The lane: Shield's attacks are the account's, in one region.
const LANE: &str = "attacks";

/// `type = "shield"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShieldConfig {
    /// Only attacks on these protected resources (ARNs). Default: every resource.
    #[serde(default)]
    pub resource_arns: Vec<String>,
    /// Where the first run starts: `YYYY-MM-DD` or `<N>d` (N days ago). Default `7d`.
    /// `trawl run --since` overrides it before the first run; then the cursor decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Attacks that started less than this long ago wait for the next run, so that one listed
    /// late is not behind the cursor already. Default 300.
    #[serde(default = "default_settle_seconds")]
    pub settle_seconds: u64,
    /// Requests per second (`ListAttacks` and `DescribeAttack` together). Default 2. (An
    /// emulator can take more.)
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: f64,
    /// Mapper: `builtin:shield` (default), `builtin:passthrough` or a `.wasm` path.
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
    2.0
}
fn default_mapper() -> String {
    "builtin:shield".into()
}

impl ShieldConfig {
    /// The millisecond the first run starts at.
    fn first_ms(&self, since: Option<NaiveDate>, now_ms: i64) -> Result<i64, String> {
        super::common::days::first_ms(self.since.as_deref(), since, "7d", now_ms)
    }
}

impl SourceSpec for ShieldConfig {
    fn mapper(&self) -> &str {
        &self.mapper
    }

    fn mapper_config(&self) -> Option<&serde_json::Value> {
        self.mapper_config.as_ref()
    }

    fn validate(&self, _: &ConnectorDefaults) -> Result<(), String> {
        api::check_rate(self.requests_per_second)?;
        if let Some(a) = self.resource_arns.iter().find(|a| !a.starts_with("arn:")) {
            return Err(format!("resource_arns: {a:?} is not an ARN"));
        }
        self.first_ms(None, chrono::Utc::now().timestamp_millis()).map(|_| ())
    }

    fn label(&self, _: &ConnectorDefaults) -> String {
        match self.resource_arns.is_empty() {
            true => "shield attacks".into(),
            false => format!("shield attacks on {}", self.resource_arns.join(",")),
        }
    }

    fn build(&self, env: &SourceEnv<'_>) -> Result<Box<dyn Source>, String> {
        let now = chrono::Utc::now().timestamp_millis();
        Ok(Box::new(Shield { cfg: self.clone(), session: env.session()?, first_ms: self.first_ms(env.since, now)?, end_ms: now - self.settle_seconds as i64 * 1000 }))
    }

    /// `DescribeSubscription`: without Shield Advanced there are no attacks to list, and the
    /// user is told that rather than shown a bare error; then `ListAttacks`.
    fn probe(&self, _: &ConnectorDefaults, aws: Option<&AwsSession>) -> Result<String, AwsError> {
        let shield = probe_session(aws)?.shield();
        match runtime().block_on(shield.describe_subscription().send()) {
            Ok(_) => {}
            Err(e) => {
                let e = describe(&e, "shield:DescribeSubscription");
                if e.code == "ResourceNotFoundException" {
                    return Err(AwsError {
                        code: "NoSubscription".into(),
                        message: "this account has no Shield Advanced subscription, so Shield reports no attacks to read: subscribe to Shield Advanced, or remove this source".into(),
                        permission: None,
                    });
                }
                return Err(e);
            }
        }
        runtime().block_on(shield.list_attacks().max_results(1).send()).map_err(|e| describe(&e, "shield:ListAttacks"))?;
        Ok("Shield Advanced subscription active; shield:ListAttacks OK".into())
    }
}

/// How far the lane is: every attack that started before `time` is taken, and those that
/// started at `time` whose ids are listed; `ongoing` are attacks written before they ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneCursor {
    /// Start time, epoch milliseconds.
    pub time: i64,
    /// Ids of the attacks taken that started at `time`.
    pub ids: Vec<String>,
    /// Attacks written while still going on: described again by each run until they end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ongoing: Vec<String>,
}

impl LaneCursor {
    fn taken(&self, time: i64, id: &str) -> bool {
        time < self.time || (time == self.time && self.ids.iter().any(|i| i == id))
    }

    /// Notes an attack taken; attacks are taken in start-time order.
    fn take(&mut self, time: i64, id: &str, ongoing: bool) {
        if time > self.time {
            self.time = time;
            self.ids.clear();
        }
        if time == self.time && !self.ids.iter().any(|i| i == id) {
            self.ids.push(id.to_string());
        }
        if ongoing && !self.ongoing.iter().any(|i| i == id) {
            self.ongoing.push(id.to_string());
        }
    }
}

/// `DescribeAttack`'s reply, the attack kept as the bytes Shield sent.
#[derive(Deserialize)]
struct DescribeAttackBody<'a> {
    #[serde(rename = "Attack", borrow)]
    attack: Option<&'a RawValue>,
}

/// The source.
pub struct Shield {
    cfg: ShieldConfig,
    session: AwsSession,
    first_ms: i64,
    end_ms: i64,
}

/// Why the lane stopped before its end.
struct LaneStopped(String);

/// An attack described: its raw `Attack` and whether it has ended.
struct Described {
    raw: Vec<u8>,
    ended: bool,
}

impl Shield {
    fn info(&self, ctx: &SourceContext<'_>, object: String) -> ObjectInfo {
        ObjectInfo { connector: ctx.connector(), source_kind: KIND, aws_account_id: Some(self.session.account_id.clone()), region: Some("us-east-1".into()), object }
    }

    fn object(&self, what: &str) -> String {
        format!("shield://{}/{what}", self.session.account_id)
    }

    fn describe_attack(&self, shield: &aws_sdk_shield::Client, limiter: &mut api::RateLimiter, id: &str) -> Result<Described, String> {
        let body = api::RawBody::default();
        let out = runtime()
            .block_on(api::call_with_backoff(limiter, 4, Duration::from_secs(1), || {
                let req = shield.describe_attack().attack_id(id).customize().interceptor(body.clone());
                async move { req.send().await.map_err(|e| describe(&e, "shield:DescribeAttack")) }
            }))
            .map_err(|e| format!("shield:DescribeAttack of attack {id}: {e}"))?;
        let ended = out.attack().and_then(|a| a.end_time()).is_some();
        let bytes = body.take().ok_or_else(|| format!("shield:DescribeAttack of attack {id}: the reply had no body"))?;
        let parsed: DescribeAttackBody<'_> = serde_json::from_slice(&bytes).map_err(|e| format!("shield:DescribeAttack of attack {id}: unreadable reply ({e})"))?;
        let raw = parsed.attack.ok_or_else(|| format!("shield:DescribeAttack of attack {id}: the reply has no Attack"))?;
        Ok(Described { raw: raw.get().as_bytes().to_vec(), ended })
    }

    /// Every attack that started in [from, end), all pages: (start ms, id), oldest first.
    fn list_attacks(&self, shield: &aws_sdk_shield::Client, limiter: &mut api::RateLimiter, from: i64) -> Result<Vec<(i64, String)>, AwsError> {
        let range = TimeRange::builder().from_inclusive(DateTime::from_millis(from)).to_exclusive(DateTime::from_millis(self.end_ms)).build();
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = shield
                .list_attacks()
                .start_time(range.clone())
                .set_resource_arns((!self.cfg.resource_arns.is_empty()).then(|| self.cfg.resource_arns.clone()))
                .set_next_token(token.clone());
            let page = runtime().block_on(api::call_with_backoff(limiter, 4, Duration::from_secs(1), || {
                let req = req.clone();
                async move { req.send().await.map_err(|e| describe(&e, "shield:ListAttacks")) }
            }))?;
            for a in page.attack_summaries() {
                if let (Some(id), Some(start)) = (a.attack_id(), a.start_time()) {
                    out.push((start.to_millis().unwrap_or(i64::MIN), id.to_string()));
                }
            }
            token = page.next_token().filter(|t| !t.is_empty()).map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn lane(&self, ctx: &mut SourceContext<'_>) -> Result<(), LaneStopped> {
        let mut cursor = match ctx.cursor(LANE).map_err(LaneStopped)? {
            Some(v) => serde_json::from_value::<LaneCursor>(v).map_err(|e| LaneStopped(format!("its cursor is unreadable ({e}); delete the state dir's cursor to start over")))?,
            None => LaneCursor { time: self.first_ms, ids: Vec::new(), ongoing: Vec::new() },
        };
        let shield = self.session.shield();
        let mut limiter = api::RateLimiter::new(self.cfg.requests_per_second);
        let lane = || Checkpoint::Lane { lane: LANE.to_string(), cursor: None };
        // The attacks written while ongoing, first: those that have ended are written again.
        for id in cursor.ongoing.clone() {
            if ctx.stopping() {
                return Ok(());
            }
            let info = self.info(ctx, self.object(&format!("ongoing/{id}")));
            let d = match self.describe_attack(&shield, &mut limiter, &id) {
                Ok(d) => d,
                Err(why) => return Err(self.stop(ctx, info, why)),
            };
            ctx.add_total(1);
            let mut unit = ctx.begin_unit(info, lane());
            if d.ended {
                ctx.push_with_context(&mut unit, &d.raw, 0, 0, Some(UPDATE_CONTEXT));
                cursor.ongoing.retain(|i| *i != id);
            }
            ctx.end_unit_with_cursor(unit, serde_json::to_value(&cursor).expect("serializes"));
        }
        if cursor.time >= self.end_ms {
            return Ok(());
        }
        let listed = match self.list_attacks(&shield, &mut limiter, cursor.time) {
            Ok(l) => l,
            Err(e) => {
                let why = format!("shield:ListAttacks: {e}");
                let info = self.info(ctx, self.object(&format!("attacks>={}", cursor.time)));
                return Err(self.stop(ctx, info, why));
            }
        };
        for (start, id) in listed {
            if ctx.stopping() {
                return Ok(());
            }
            if cursor.taken(start, &id) {
                continue;
            }
            let info = self.info(ctx, self.object(&format!("attack/{id}")));
            let d = match self.describe_attack(&shield, &mut limiter, &id) {
                Ok(d) => d,
                Err(why) => return Err(self.stop(ctx, info, why)),
            };
            ctx.add_total(1);
            let mut unit = ctx.begin_unit(info, lane());
            ctx.push(&mut unit, &d.raw, 0, 0);
            cursor.take(start, &id, !d.ended);
            ctx.end_unit_with_cursor(unit, serde_json::to_value(&cursor).expect("serializes"));
        }
        Ok(())
    }

    /// Leaves the unit for the next run (the cursor stays before it) and says why.
    fn stop(&self, ctx: &mut SourceContext<'_>, info: ObjectInfo, why: String) -> LaneStopped {
        ctx.retry_later(info, Checkpoint::Lane { lane: LANE.to_string(), cursor: None }, &why);
        LaneStopped(why)
    }
}

impl Source for Shield {
    /// The account, and the resources when filtered: another filter keeps another cursor.
    fn id(&self) -> String {
        match self.cfg.resource_arns.is_empty() {
            true => format!("shield:{}", self.session.account_id),
            false => format!("shield:{}?{}", self.session.account_id, self.cfg.resource_arns.join(",")),
        }
    }

    fn kind(&self) -> &'static str {
        KIND
    }

    fn run(&mut self, ctx: &mut SourceContext<'_>) -> Result<(), SourceError> {
        self.lane(ctx).map_err(|LaneStopped(why)| SourceError { source_id: self.id(), message: format!("stopped early, the next run resumes there: {why}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_takes_each_attack_once_and_keeps_the_ongoing_ones() {
        let mut c = LaneCursor { time: 100, ids: Vec::new(), ongoing: Vec::new() };
        c.take(100, "a", false);
        c.take(100, "b", true);
        assert!(c.taken(100, "a") && c.taken(100, "b") && !c.taken(100, "c") && c.taken(99, "z"));
        c.take(200, "c", true);
        assert_eq!((c.time, c.ids.clone(), c.ongoing.clone()), (200, vec!["c".to_string()], vec!["b".to_string(), "c".to_string()]));
        assert!(c.taken(100, "anything"), "everything before the cursor's start is taken");
        let round: LaneCursor = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(round, c);
    }

    #[test]
    fn config_checks() {
        let c: ShieldConfig = toml::from_str("since = \"2024-01-10\"").unwrap();
        assert_eq!(c.first_ms(None, 1_705_000_000_000).unwrap(), 1_704_844_800_000);
        assert_eq!(c.mapper, "builtin:shield");
        let c: ShieldConfig = toml::from_str("resource_arns = [\"distribution/E1\"]").unwrap();
        let connector = ConnectorDefaults { name: "a".into(), region: "eu-west-1".into(), sqs_url: None, macie_sqs_url: None, inspector_pull_mode: Default::default() };
        assert!(c.validate(&connector).unwrap_err().contains("not an ARN"));
        assert!(toml::from_str::<ShieldConfig>("region = \"us-east-1\"").unwrap_err().to_string().contains("unknown field"));
    }
}
