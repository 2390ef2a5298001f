//! Source `sqs`: CloudTrail log objects (typically data events) announced on an SQS queue by
//! S3 event notifications — direct, SNS-wrapped or through EventBridge.
//!
//! The loop: long-poll ReceiveMessage; parse each body ([`notification`]); fetch and read the
//! objects it names; every `commit_every_messages` messages (and at the end) ask the
//! pipeline to make those objects durable, and only then DeleteMessageBatch. While objects are
//! being read or committed, messages older than half the visibility timeout get their
//! visibility extended, so nobody else receives them meanwhile. A message received more than
//! `max_receive_count` times, or one that is not an S3 notification, goes to the dead-letter
//! output (its body is the raw record) and is deleted. The run ends when a receive comes back
//! empty (the queue is drained) or after `--max-duration`.

pub mod notification;

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use serde::{Deserialize, Serialize};

use self::notification::Notification;
use super::{ConnectorDefaults, 
    Checkpoint, Source, SourceContext, SourceEnv, SourceError, SourceSpec,
    cloudtrail_files::{account_region, is_log_file},
    common::{ingest, s3::S3Fetcher},
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
        if !(0..=20).contains(&self.wait_seconds) {
            return Err(format!("wait_seconds must be 0–20, got {}", self.wait_seconds));
        }
        if self.visibility_timeout_seconds < 10 {
            return Err(format!("visibility_timeout_seconds must be at least 10, got {}", self.visibility_timeout_seconds));
        }
        self.queue_url
            .as_deref()
            .or(connector.sqs_url.as_deref())
            .ok_or_else(|| "no queue: set sqs_url on the connector (or queue_url on the source)".to_string())
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

/// A received message whose objects are being processed.
struct Pending {
    receipt: String,
    /// `s3://…` objects (or the message's own id when it was dead-lettered).
    objects: Vec<String>,
    /// Since when the message is invisible for the visibility timeout.
    visible_since: Instant,
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

    fn fail(&self, what: &str, e: AwsError) -> SourceError {
        let message = match e.code.as_str() {
            "AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist" => format!("queue {} does not exist ({})", self.queue_url, e.code),
            _ => format!("{what} on {}: {e}", self.queue_url),
        };
        SourceError { source_id: self.id(), message }
    }

    /// Records a message that cannot be processed in the dead-letter output (as a record, with
    /// its body); returns the object id it is tracked under.
    fn dead_letter_message(&self, ctx: &mut SourceContext<'_>, message_id: &str, body: &str, reason: String) -> String {
        let object = format!("{}#{message_id}", self.queue_url);
        let info = ObjectInfo { connector: ctx.connector(), source_kind: self.kind(), aws_account_id: None, region: None, object: object.clone() };
        ctx.unreadable_unit(info, Checkpoint::Done, reason, Some(body.as_bytes()));
        object
    }

    /// Keeps messages that have been invisible for half the timeout invisible for longer.
    fn extend_visibility(&self, sqs: &aws_sdk_sqs::Client, pending: &mut [Pending]) {
        let half = Duration::from_secs(self.cfg.visibility_timeout_seconds as u64 / 2);
        let mut due: Vec<&mut Pending> = pending.iter_mut().filter(|p| p.visible_since.elapsed() >= half).collect();
        for chunk in due.chunks_mut(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&p.receipt)
                        .visibility_timeout(self.cfg.visibility_timeout_seconds)
                        .build()
                        .expect("id and receipt handle are set")
                })
                .collect();
            let req = sqs.change_message_visibility_batch().queue_url(&self.queue_url).set_entries(Some(entries));
            match runtime().block_on(req.send()) {
                Ok(_) => {
                    tracing::debug!(messages = chunk.len(), "extended message visibility");
                    chunk.iter_mut().for_each(|p| p.visible_since = Instant::now());
                }
                Err(e) => tracing::warn!(queue = %self.queue_url, "cannot extend message visibility: {}", describe(&e, "sqs:ChangeMessageVisibility")),
            }
        }
    }

    fn delete(&self, sqs: &aws_sdk_sqs::Client, receipts: &[String]) {
        for chunk in receipts.chunks(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(r).build().expect("id and receipt handle are set"))
                .collect();
            let req = sqs.delete_message_batch().queue_url(&self.queue_url).set_entries(Some(entries));
            match runtime().block_on(req.send()) {
                Ok(out) => {
                    for f in out.failed() {
                        // The message comes back; its objects are done by then and are skipped.
                        tracing::warn!(queue = %self.queue_url, code = f.code(), "cannot delete a message: {}", f.message().unwrap_or(""));
                    }
                }
                Err(e) => tracing::warn!(queue = %self.queue_url, "cannot delete messages (they will be received again and skipped): {}", describe(&e, "sqs:DeleteMessage")),
            }
        }
    }

    /// Makes every pending message's objects durable (a commit), then deletes the messages.
    fn settle(&self, ctx: &mut SourceContext<'_>, sqs: &aws_sdk_sqs::Client, pending: &mut Vec<Pending>, retry_later: &HashSet<String>) -> Result<(), SourceError> {
        if pending.is_empty() {
            return Ok(());
        }
        let wait = ctx.request_commit();
        loop {
            match wait.recv_timeout(Duration::from_secs(5)) {
                Ok(Ok(())) => break,
                Ok(Err(e)) => return Err(SourceError { source_id: self.id(), message: format!("not deleting messages: the commit failed: {e}") }),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => self.extend_visibility(sqs, pending),
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    return Err(SourceError { source_id: self.id(), message: "not deleting messages: the pipeline stopped".into() });
                }
            }
        }
        let receipts: Vec<String> = pending.drain(..).filter(|p| !p.objects.iter().any(|o| retry_later.contains(o))).map(|p| p.receipt).collect();
        self.delete(sqs, &receipts);
        Ok(())
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
        let sqs = self.session.sqs();
        let s3 = self.session.s3();
        let deadline = self.max_duration.map(|d| Instant::now() + d);
        let mut pending: Vec<Pending> = Vec::new();
        // Objects read in this run: a duplicate notification must not read them twice.
        let mut seen: HashSet<String> = HashSet::new();
        // Objects that could not be fetched for a reason that may pass (throttling, 5xx after
        // retries, access): their messages are left on the queue to come back.
        let mut retry_later: HashSet<String> = HashSet::new();
        loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                tracing::info!(queue = %self.queue_url, "--max-duration reached; finishing");
                break;
            }
            let receive = sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(self.cfg.wait_seconds)
                .visibility_timeout(self.cfg.visibility_timeout_seconds)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount);
            let received_at = Instant::now();
            let out = runtime().block_on(receive.send()).map_err(|e| self.fail("sqs:ReceiveMessage", describe(&e, "sqs:ReceiveMessage")))?;
            let messages = out.messages();
            if messages.is_empty() {
                tracing::debug!(queue = %self.queue_url, "queue drained");
                break;
            }
            let mut fetcher: S3Fetcher<()> = S3Fetcher::new(s3.clone(), self.cfg.concurrency);
            let mut ignorable = Vec::new();
            for m in messages {
                let (Some(receipt), body) = (m.receipt_handle(), m.body().unwrap_or("")) else { continue };
                let id = m.message_id().unwrap_or("unknown");
                let count: u32 = m.attributes().and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount)).and_then(|c| c.parse().ok()).unwrap_or(1);
                let mut track = |objects| pending.push(Pending { receipt: receipt.to_string(), objects, visible_since: received_at });
                if count > self.cfg.max_receive_count {
                    let reason = format!("message received {count} times, over max_receive_count = {}; giving up on it", self.cfg.max_receive_count);
                    track(vec![self.dead_letter_message(ctx, id, body, reason)]);
                    continue;
                }
                match notification::parse(body) {
                    Err(reason) => track(vec![self.dead_letter_message(ctx, id, body, reason)]),
                    Ok(Notification::TestEvent) => ignorable.push(receipt.to_string()),
                    Ok(Notification::Objects(objects)) => {
                        let mut urls = Vec::new();
                        for o in objects {
                            if !is_log_file(std::path::Path::new(&o.key)) {
                                tracing::debug!(bucket = %o.bucket, key = %o.key, "not a CloudTrail log file; ignored");
                                continue;
                            }
                            let url = format!("s3://{}/{}", o.bucket, o.key);
                            if !seen.contains(&url) && !ctx.is_done(&url) {
                                seen.insert(url.clone());
                                retry_later.remove(&url);
                                fetcher.push((), &o.bucket, &o.key);
                                ctx.add_total(1);
                            }
                            urls.push(url);
                        }
                        track(urls);
                    }
                }
            }
            self.delete(&sqs, &ignorable);
            while let Some(f) = fetcher.next() {
                let (aws_account_id, region) = account_region(&f.url);
                let info = ObjectInfo { connector: ctx.connector(), source_kind: self.kind(), aws_account_id, region, object: f.url.clone() };
                match f.body {
                    Ok(body) => ingest::cloudtrail_log(ctx, info, ctx.count_bytes(std::io::Cursor::new(body))),
                    Err(e) if e.is_not_found() => {
                        ctx.unreadable_unit(info, Checkpoint::Done, format!("object was deleted before it could be read ({e})"), None);
                    }
                    Err(e) => {
                        tracing::warn!(object = %f.url, "cannot fetch; its message stays on the queue to be retried: {e}");
                        seen.remove(&f.url);
                        retry_later.insert(f.url);
                    }
                }
                self.extend_visibility(&sqs, &mut pending);
            }
            let oldest = pending.iter().map(|p| p.visible_since.elapsed()).max().unwrap_or_default();
            if pending.len() >= self.cfg.commit_every_messages || oldest >= Duration::from_secs(self.cfg.visibility_timeout_seconds as u64 / 2) {
                self.settle(ctx, &sqs, &mut pending, &retry_later)?;
            }
        }
        self.settle(ctx, &sqs, &mut pending, &retry_later)?;
        if !retry_later.is_empty() {
            return Err(SourceError {
                source_id: self.id(),
                message: format!("{} object(s) could not be fetched; their messages stay on the queue for the next run (see the warnings above)", retry_later.len()),
            });
        }
        Ok(())
    }
}
