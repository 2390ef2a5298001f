//! Source `sqs`: log objects announced on an SQS queue by S3 event notifications — direct,
//! SNS-wrapped or through EventBridge — CloudTrail logs (typically data events), Redshift
//! audit logs and VPC Flow Logs, so one queue can carry several kinds.
//!
//! The queue loop is [`common::queue`](super::common::queue): this source is what reads a
//! message — parse the notification ([`notification`]), route each object it names by its key
//! layout ([`route`]) to the reader and mapper of its kind, then fetch and read them; a
//! message is deleted once those objects are durable. An object that cannot be fetched for a
//! reason that may pass keeps its message on the queue for the next run.
//!
//! | key layout | kind | read as | mapper (default) |
//! |---|---|---|---|
//! | `…/CloudTrail/…`, `…/CloudTrail-Insight/…` (and CloudTrail objects outside `AWSLogs/`) | `cloudtrail_sqs` | [`ingest::cloudtrail_log`] | `mapper` (`builtin:cloudtrail`) |
//! | `…/AWSLogs/<acct>/redshift/…/<acct>_redshift_<region>_<cluster>_<logtype>_<time>.gz` | `redshift_audit` | [`redshift_audit::ingest_object`] | `redshift_audit.mapper` (`builtin:redshift`) |
//! | `…/vpcflowlogs/…` or `…/aws-service=vpcflowlogs/…` `.log.gz`/`.parquet` | `vpc_flow` | [`vpc_flow::FlowReader`] (enriched) | `vpc_flow.mapper` (`builtin:vpc_flow`) |

pub mod notification;

use std::{collections::HashSet, time::Duration};

use serde::{Deserialize, Serialize};

use self::notification::Notification;
use super::{ConnectorDefaults, KindMapper, ProbeRow,
    Checkpoint, Source, SourceContext, SourceEnv, SourceError, SourceSpec,
    cloudtrail_files::{account_region, is_log_file},
    common::{
        ingest,
        queue::{self, MessageReader, QueueLoop, QueueSettings},
        s3::S3Fetcher,
    },
    probe_session, redshift_audit, vpc_flow,
};
use crate::{
    aws::{AwsError, AwsSession},
    batch::ObjectInfo,
};

/// A kind of log object a queue announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// CloudTrail log files (and the other CloudTrail containers).
    Cloudtrail,
    /// Redshift audit logs.
    RedshiftAudit,
    /// VPC Flow Logs.
    VpcFlow,
}

fn all_kinds() -> Vec<LogKind> {
    vec![LogKind::Cloudtrail, LogKind::RedshiftAudit, LogKind::VpcFlow]
}

/// How an object is read, by its key layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A CloudTrail object.
    CloudTrail,
    /// A Redshift audit log.
    Redshift(redshift_audit::AuditFile),
    /// A VPC flow log.
    Flow,
}

/// The route of a key, if it is a log object of one of the three kinds.
pub fn route(key: &str) -> Option<Route> {
    if is_log_file(std::path::Path::new(key)) {
        Some(Route::CloudTrail)
    } else if redshift_audit::is_audit_key(key) {
        redshift_audit::parse_name(key).map(Route::Redshift)
    } else if vpc_flow::is_flow_key(key) {
        Some(Route::Flow)
    } else {
        None
    }
}

impl Route {
    fn kind(&self) -> LogKind {
        match self {
            Route::CloudTrail => LogKind::Cloudtrail,
            Route::Redshift(_) => LogKind::RedshiftAudit,
            Route::Flow => LogKind::VpcFlow,
        }
    }
}

/// `[connectors.sources.redshift_audit]` of an `sqs` source: how Redshift audit objects are mapped.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RedshiftRoute {
    /// Mapper: `builtin:redshift` (default), `builtin:passthrough` or a `.wasm` path.
    #[serde(default = "redshift_audit::default_mapper")]
    pub mapper: String,
    /// Config table handed to the mapper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapper_config: Option<serde_json::Value>,
}

impl Default for RedshiftRoute {
    fn default() -> Self {
        Self { mapper: redshift_audit::default_mapper(), mapper_config: None }
    }
}

/// `[connectors.sources.vpc_flow]` of an `sqs` source: how flow log objects are mapped and enriched.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlowRoute {
    /// Mapper: `builtin:vpc_flow` (default), `builtin:passthrough` or a `.wasm` path.
    #[serde(default = "vpc_flow::default_mapper")]
    pub mapper: String,
    /// Config table handed to the mapper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapper_config: Option<serde_json::Value>,
    /// Enrich with the EC2 instances and the account alias (as `vpc_flow` does). Default true.
    #[serde(default = "vpc_flow::yes")]
    pub enrich: bool,
    /// Fetch the instances again after this many minutes of a long run. Default 60.
    #[serde(default = "vpc_flow::default_refresh")]
    pub enrich_refresh_minutes: u64,
    /// Instances kept per region. Default 100000.
    #[serde(default = "vpc_flow::default_max_instances")]
    pub enrich_max_instances: usize,
}

impl Default for FlowRoute {
    fn default() -> Self {
        Self {
            mapper: vpc_flow::default_mapper(),
            mapper_config: None,
            enrich: true,
            enrich_refresh_minutes: vpc_flow::default_refresh(),
            enrich_max_instances: vpc_flow::default_max_instances(),
        }
    }
}

impl FlowRoute {
    fn enrichment(&self) -> vpc_flow::EnrichSettings {
        vpc_flow::EnrichSettings { enrich: self.enrich, enrich_refresh_minutes: self.enrich_refresh_minutes, enrich_max_instances: self.enrich_max_instances }
    }
}

/// `type = "sqs"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqsConfig {
    /// The queue. Default: the connector's `sqs_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_url: Option<String>,
    /// Long-poll wait per ReceiveMessage, 0–20 s. An empty receive ends the run. Default 20.
    #[serde(default = "default_wait_seconds")]
    pub wait_seconds: i32,
    /// Visibility timeout asked for on receive, and extended to while work is in progress.
    /// Default 300.
    #[serde(default = "default_visibility_timeout")]
    pub visibility_timeout_seconds: i32,
    /// A message received more than this many times is dead-lettered and deleted. Default 5.
    #[serde(default = "default_max_receive_count")]
    pub max_receive_count: u32,
    /// Commit (and delete the messages) after this many messages. Default 100.
    #[serde(default = "default_commit_every_messages")]
    pub commit_every_messages: usize,
    /// Objects downloaded at once. Default 8.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// The kinds of log object to read: `cloudtrail`, `redshift_audit`, `vpc_flow`, told
    /// apart by their key layout. Default all three; objects of other kinds are ignored.
    #[serde(default = "all_kinds")]
    pub log_kinds: Vec<LogKind>,
    /// Mapper of CloudTrail objects: `builtin:cloudtrail` (default), `builtin:passthrough` or a
    /// `.wasm` path.
    #[serde(default = "super::default_cloudtrail_mapper")]
    pub mapper: String,
    /// Config table handed to the mapper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapper_config: Option<serde_json::Value>,
    /// Redshift audit objects: their mapper.
    #[serde(default)]
    pub redshift_audit: RedshiftRoute,
    /// VPC flow log objects: their mapper and enrichment.
    #[serde(default)]
    pub vpc_flow: FlowRoute,
}

fn default_wait_seconds() -> i32 {
    20
}
fn default_visibility_timeout() -> i32 {
    300
}
fn default_max_receive_count() -> u32 {
    5
}
fn default_commit_every_messages() -> usize {
    100
}
fn default_concurrency() -> usize {
    8
}

impl SqsConfig {
    /// The queue URL: the source's own, else the connector's `sqs_url`.
    pub fn queue_url<'a>(&'a self, connector: &'a ConnectorDefaults) -> Result<&'a str, String> {
        self.settings(None).check()?;
        self.queue_url
            .as_deref()
            .or(connector.sqs_url.as_deref())
            .ok_or_else(|| "no queue: set sqs_url on the connector (or queue_url on the source)".to_string())
    }
}

impl SqsConfig {
    /// The kinds routed: those configured, less a kind whose default builtin mapper this build
    /// does not embed (its objects are then ignored, with a warning at the start).
    pub fn routed(&self) -> Vec<LogKind> {
        let available = |m: &str| m.strip_prefix("builtin:").is_none_or(|n| crate::mapper::builtin_wasm(n).is_some());
        self.log_kinds
            .iter()
            .copied()
            .filter(|k| match k {
                LogKind::Cloudtrail => true,
                LogKind::RedshiftAudit => self.redshift_audit.mapper != redshift_audit::default_mapper() || available(&self.redshift_audit.mapper),
                LogKind::VpcFlow => self.vpc_flow.mapper != vpc_flow::default_mapper() || available(&self.vpc_flow.mapper),
            })
            .collect()
    }

    fn settings(&self, max_duration: Option<Duration>) -> QueueSettings {
        QueueSettings {
            wait_seconds: self.wait_seconds,
            visibility_timeout_seconds: self.visibility_timeout_seconds,
            max_receive_count: self.max_receive_count,
            commit_every_messages: self.commit_every_messages,
            max_duration,
        }
    }
}

impl SourceSpec for SqsConfig {
    fn mapper(&self) -> &str {
        &self.mapper
    }

    fn mapper_config(&self) -> Option<&serde_json::Value> {
        self.mapper_config.as_ref()
    }

    fn validate(&self, connector: &ConnectorDefaults) -> Result<(), String> {
        if self.log_kinds.is_empty() {
            return Err("log_kinds is empty: name at least one of cloudtrail, redshift_audit, vpc_flow".into());
        }
        self.vpc_flow.enrichment().check().map_err(|e| format!("vpc_flow.{e}"))?;
        self.queue_url(connector).map(|_| ())
    }

    fn kind_mappers(&self) -> Vec<KindMapper> {
        let json = |c: &Option<serde_json::Value>| c.clone().unwrap_or(serde_json::Value::Null);
        self.routed()
            .into_iter()
            .filter_map(|k| match k {
                LogKind::Cloudtrail => None,
                LogKind::RedshiftAudit => Some(KindMapper { kind: redshift_audit::KIND, mapper: self.redshift_audit.mapper.clone(), mapper_config: json(&self.redshift_audit.mapper_config) }),
                LogKind::VpcFlow => Some(KindMapper { kind: vpc_flow::KIND, mapper: self.vpc_flow.mapper.clone(), mapper_config: json(&self.vpc_flow.mapper_config) }),
            })
            .collect()
    }

    fn probe_rows(&self, connector: &ConnectorDefaults, aws: Option<&AwsSession>) -> Vec<ProbeRow> {
        let mut rows = vec![ProbeRow { target: None, outcome: self.probe(connector, aws).into() }];
        if self.routed().contains(&LogKind::VpcFlow) && self.vpc_flow.enrich {
            rows.extend(vpc_flow::probe_enrichment(connector, aws));
        }
        rows
    }

    fn label(&self, connector: &ConnectorDefaults) -> String {
        format!("sqs {}", self.queue_url(connector).unwrap_or("?"))
    }

    fn build(&self, env: &SourceEnv<'_>) -> Result<Box<dyn Source>, String> {
        Ok(Box::new(SqsSource::new(self.clone(), env)?))
    }

    fn probe(&self, connector: &ConnectorDefaults, aws: Option<&AwsSession>) -> Result<String, AwsError> {
        let url = self.queue_url(connector).map_err(AwsError::config_error)?;
        let n = queue::probe_queue(&probe_session(aws)?.sqs(), url)?;
        Ok(format!("sqs:GetQueueAttributes OK; about {n} messages waiting"))
    }
}

/// The source.
pub struct SqsSource {
    cfg: SqsConfig,
    queue_url: String,
    session: AwsSession,
    max_duration: Option<Duration>,
    routed: Vec<LogKind>,
    flows: Option<vpc_flow::FlowReader>,
}

impl SqsSource {
    /// A source on the configured queue.
    pub fn new(cfg: SqsConfig, env: &SourceEnv<'_>) -> Result<Self, String> {
        let queue_url = cfg.queue_url(env.connector)?.to_string();
        let session = env.session()?;
        let routed = cfg.routed();
        for k in cfg.log_kinds.iter().filter(|k| !routed.contains(k)) {
            tracing::warn!(queue = %queue_url, "this build has no standard mapper for {k:?} objects; they are ignored (name a mapper for them to read them)");
        }
        let flows = routed.contains(&LogKind::VpcFlow).then(|| vpc_flow::FlowReader::new(&cfg.vpc_flow.enrichment(), env.connector, Some(&session)));
        Ok(Self { cfg, queue_url, session, max_duration: env.max_duration, routed, flows })
    }
}

/// Reads S3 notifications: the log objects they name.
struct NotifiedObjects<'a> {
    fetcher: S3Fetcher<Route>,
    routed: &'a [LogKind],
    flows: Option<&'a mut vpc_flow::FlowReader>,
    /// Objects read in this run: a duplicate notification must not read them twice.
    seen: HashSet<String>,
    /// Objects that could not be fetched for a reason that may pass (throttling, 5xx after
    /// retries, access).
    retry: HashSet<String>,
    kind: &'static str,
}

impl MessageReader for NotifiedObjects<'_> {
    fn plan(&mut self, ctx: &mut SourceContext<'_>, _message_id: &str, body: &str) -> Result<Vec<String>, String> {
        let objects = match notification::parse(body)? {
            Notification::TestEvent => return Ok(Vec::new()),
            Notification::Objects(objects) => objects,
        };
        let mut urls = Vec::new();
        for o in objects {
            let Some(route) = route(&o.key).filter(|r| self.routed.contains(&r.kind())) else {
                tracing::debug!(bucket = %o.bucket, key = %o.key, "not a log object of a kind this source reads; ignored");
                continue;
            };
            let url = format!("s3://{}/{}", o.bucket, o.key);
            if !self.seen.contains(&url) && !ctx.is_done(&url) {
                self.seen.insert(url.clone());
                self.retry.remove(&url);
                self.fetcher.push(route, &o.bucket, &o.key);
                ctx.add_total(1);
            }
            urls.push(url);
        }
        Ok(urls)
    }

    fn read(&mut self, ctx: &mut SourceContext<'_>, keep_alive: &mut dyn FnMut()) {
        while let Some(f) = self.fetcher.next() {
            let info = match &f.tag {
                Route::CloudTrail => {
                    let (aws_account_id, region) = account_region(&f.url);
                    ObjectInfo { connector: ctx.connector(), source_kind: self.kind, aws_account_id, region, object: f.url.clone() }
                }
                Route::Redshift(file) => redshift_audit::object_info(ctx, f.url.clone(), file),
                Route::Flow => vpc_flow::object_info(ctx, f.url.clone()),
            };
            match f.body {
                Ok(body) => {
                    let body = ctx.count_bytes(std::io::Cursor::new(body));
                    match (&f.tag, self.flows.as_deref_mut()) {
                        (Route::CloudTrail, _) => ingest::cloudtrail_log(ctx, info, body),
                        (Route::Redshift(file), _) => redshift_audit::ingest_object(ctx, info, file.log_type, body),
                        (Route::Flow, Some(flows)) => flows.ingest(ctx, info, body),
                        (Route::Flow, None) => unreachable!("flow objects are routed only with a flow reader"),
                    }
                }
                Err(e) if e.is_not_found() => {
                    ctx.unreadable_unit(info, Checkpoint::Done, format!("object was deleted before it could be read ({e})"), None);
                }
                Err(e) => {
                    tracing::warn!(object = %f.url, "cannot fetch; its message stays on the queue to be retried: {e}");
                    self.seen.remove(&f.url);
                    self.retry.insert(f.url);
                }
            }
            keep_alive();
        }
    }

    fn to_retry(&self) -> &HashSet<String> {
        &self.retry
    }
}

impl Source for SqsSource {
    fn id(&self) -> String {
        format!("sqs:{}", self.queue_url)
    }

    /// CloudTrail records are stamped `cloudtrail_sqs` (`sqs` is only how they were
    /// announced); Redshift and flow records carry their own kinds (`redshift_audit`,
    /// `vpc_flow`), which pick their mappers.
    fn kind(&self) -> &'static str {
        "cloudtrail_sqs"
    }

    fn run(&mut self, ctx: &mut SourceContext<'_>) -> Result<(), SourceError> {
        let settings = self.cfg.settings(self.max_duration);
        let queue = QueueLoop { sqs: self.session.sqs(), queue_url: &self.queue_url, settings: &settings, source_id: self.id(), kind: self.kind() };
        let mut reader = NotifiedObjects {
            fetcher: S3Fetcher::new(self.session.s3(), self.cfg.concurrency),
            routed: &self.routed,
            flows: self.flows.as_mut(),
            seen: HashSet::new(),
            retry: HashSet::new(),
            kind: "cloudtrail_sqs",
        };
        queue.run(ctx, &mut reader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_routed_by_their_key_layout() {
        assert_eq!(route("AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/15/111122223333_CloudTrail_us-east-1_20240115T0000Z_a.json.gz"), Some(Route::CloudTrail));
        let rs = route("audit/AWSLogs/111122223333/redshift/us-east-1/2024/01/15/111122223333_redshift_us-east-1_analytics_connectionlog_2024-01-15T10:00.gz");
        assert!(matches!(rs, Some(Route::Redshift(f)) if f.cluster == "analytics" && f.log_type == redshift_audit::LogType::ConnectionLog));
        assert_eq!(route("AWSLogs/111122223333/vpcflowlogs/us-east-1/2024/01/15/111122223333_vpcflowlogs_us-east-1_fl-1_20240115T1000Z_ab.log.gz"), Some(Route::Flow));
        assert_eq!(route("AWSLogs/aws-account-id=111122223333/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=01/day=15/x.log.parquet"), Some(Route::Flow));
        assert_eq!(route("AWSLogs/111122223333/Config/us-east-1/2024/01/15/ConfigSnapshot/x.json.gz"), None);
        assert_eq!(route("AWSLogs/111122223333/elasticloadbalancing/us-east-1/2024/01/15/x.log.gz"), None);
    }

    #[test]
    fn kinds_and_their_mappers() {
        let c: SqsConfig = toml::from_str("log_kinds = [\"cloudtrail\", \"vpc_flow\"]\n[vpc_flow]\nmapper = \"flows.wasm\"\nenrich = false\n[redshift_audit]\nmapper = \"builtin:passthrough\"").unwrap();
        assert_eq!(c.routed(), [LogKind::Cloudtrail, LogKind::VpcFlow]);
        assert_eq!(c.kind_mappers(), [KindMapper { kind: "vpc_flow", mapper: "flows.wasm".into(), mapper_config: serde_json::Value::Null }]);
        assert!(!c.vpc_flow.enrichment().enrich);
        let d: SqsConfig = toml::from_str("").unwrap();
        assert_eq!((d.log_kinds, d.redshift_audit.mapper.as_str(), d.vpc_flow.mapper.as_str()), (all_kinds(), "builtin:redshift", "builtin:vpc_flow"));
        assert!(toml::from_str::<SqsConfig>("[vpc_flow]\nenrichh = true").is_err());
        assert!(toml::from_str::<SqsConfig>("log_kinds = [\"guardduty\"]").is_err());
    }
}
