//! Source `sqs`: CloudTrail log objects (typically data events) announced on an SQS queue by
//! S3 event notifications — direct, SNS-wrapped or through EventBridge.
//!
//! The queue loop is [`common::queue`](super::common::queue): this source is what reads a
//! message — parse the notification ([`notification`]), then fetch and read the objects it
//! names; a message is deleted once those objects are durable. An object that cannot be
//! fetched for a reason that may pass keeps its message on the queue for the next run.

pub mod notification;

use std::{collections::HashSet, time::Duration};

use serde::{Deserialize, Serialize};

use self::notification::Notification;
use super::{ConnectorDefaults, 
    Checkpoint, Source, SourceContext, SourceEnv, SourceError, SourceSpec,
    cloudtrail_files::{account_region, is_log_file},
    common::{
        ingest,
        queue::{MessageReader, QueueLoop, QueueSettings},
        s3::S3Fetcher,
    },
    probe_session,
};
use crate::{
    aws::{AwsError, AwsSession, describe, runtime},
    batch::ObjectInfo,
};

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
    /// Mapper: `builtin:cloudtrail` (default), `builtin:passthrough` or a `.wasm` path.
    #[serde(default = "super::default_cloudtrail_mapper")]
    pub mapper: String,
    /// Config table handed to the mapper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapper_config: Option<serde_json::Value>,
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
        self.queue_url(connector).map(|_| ())
    }

    fn label(&self, connector: &ConnectorDefaults) -> String {
        format!("sqs {}", self.queue_url(connector).unwrap_or("?"))
    }

    fn build(&self, env: &SourceEnv<'_>) -> Result<Box<dyn Source>, String> {
        Ok(Box::new(SqsSource::new(self.clone(), env)?))
    }

    fn probe(&self, connector: &ConnectorDefaults, aws: Option<&AwsSession>) -> Result<String, AwsError> {
        use aws_sdk_sqs::types::QueueAttributeName;
        let url = self.queue_url(connector).map_err(AwsError::config_error)?;
        let sqs = probe_session(aws)?.sqs();
        let r = runtime().block_on(sqs.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::ApproximateNumberOfMessages).send());
        match r {
            Ok(o) => {
                let n = o.attributes().and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages)).cloned().unwrap_or_default();
                Ok(format!("sqs:GetQueueAttributes OK; about {n} messages waiting"))
            }
            Err(e) => {
                let mut e = describe(&e, "sqs:GetQueueAttributes");
                if e.code.contains("NonExistentQueue") || e.code == "QueueDoesNotExist" {
                    e.message = format!("queue {url} does not exist");
                }
                Err(e)
            }
        }
    }
}

/// The source.
pub struct SqsSource {
    cfg: SqsConfig,
    queue_url: String,
    session: AwsSession,
    max_duration: Option<Duration>,
}

impl SqsSource {
    /// A source on the configured queue.
    pub fn new(cfg: SqsConfig, env: &SourceEnv<'_>) -> Result<Self, String> {
        let queue_url = cfg.queue_url(env.connector)?.to_string();
        let session = env.session()?;
        Ok(Self { cfg, queue_url, session, max_duration: env.max_duration })
    }
}

/// Reads S3 notifications: the log objects they name.
struct NotifiedObjects {
    fetcher: S3Fetcher<()>,
    /// Objects read in this run: a duplicate notification must not read them twice.
    seen: HashSet<String>,
    /// Objects that could not be fetched for a reason that may pass (throttling, 5xx after
    /// retries, access).
    retry: HashSet<String>,
    kind: &'static str,
}

impl MessageReader for NotifiedObjects {
    fn plan(&mut self, ctx: &mut SourceContext<'_>, _message_id: &str, body: &str) -> Result<Vec<String>, String> {
        let objects = match notification::parse(body)? {
            Notification::TestEvent => return Ok(Vec::new()),
            Notification::Objects(objects) => objects,
        };
        let mut urls = Vec::new();
        for o in objects {
            if !is_log_file(std::path::Path::new(&o.key)) {
                tracing::debug!(bucket = %o.bucket, key = %o.key, "not a CloudTrail log file; ignored");
                continue;
            }
            let url = format!("s3://{}/{}", o.bucket, o.key);
            if !self.seen.contains(&url) && !ctx.is_done(&url) {
                self.seen.insert(url.clone());
                self.retry.remove(&url);
                self.fetcher.push((), &o.bucket, &o.key);
                ctx.add_total(1);
            }
            urls.push(url);
        }
        Ok(urls)
    }

    fn read(&mut self, ctx: &mut SourceContext<'_>, keep_alive: &mut dyn FnMut()) {
        while let Some(f) = self.fetcher.next() {
            let (aws_account_id, region) = account_region(&f.url);
            let info = ObjectInfo { connector: ctx.connector(), source_kind: self.kind, aws_account_id, region, object: f.url.clone() };
            match f.body {
                Ok(body) => ingest::cloudtrail_log(ctx, info, ctx.count_bytes(std::io::Cursor::new(body))),
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

    /// Records are CloudTrail records; `sqs` is only how they were announced.
    fn kind(&self) -> &'static str {
        "cloudtrail_sqs"
    }

    fn run(&mut self, ctx: &mut SourceContext<'_>) -> Result<(), SourceError> {
        let settings = self.cfg.settings(self.max_duration);
        let queue = QueueLoop { sqs: self.session.sqs(), queue_url: &self.queue_url, settings: &settings, source_id: self.id(), kind: self.kind() };
        let mut reader = NotifiedObjects { fetcher: S3Fetcher::new(self.session.s3(), self.cfg.concurrency), seen: HashSet::new(), retry: HashSet::new(), kind: self.kind() };
        queue.run(ctx, &mut reader)
    }
}
