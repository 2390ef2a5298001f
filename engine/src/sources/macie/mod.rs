//! Source `macie`: Amazon Macie findings from an SQS queue that an EventBridge rule
//! (`source: aws.macie`, `detail-type: Macie Finding`) feeds, directly or through an SNS
//! topic (the event JSON in the SNS envelope's `Message`).
//!
//! The queue loop is [`common::queue`](super::common::queue): one message is one unit with
//! one record, the finding in the event's `detail`, exactly as Macie wrote it (the same JSON
//! GetFindings returns). A message is deleted once its record is durable; a message that is
//! not a Macie finding event is dead-lettered with the reason and deleted.
//!
//! **Duplicates.** Macie publishes an event when it creates a finding and again each time it
//! updates one (a new `updatedAt`, a higher `count`); SQS delivers at least once, and a rule
//! with both a queue and a topic target delivers twice. The unit of a message is the finding
//! *version*, `macie-finding://<finding id>@<updatedAt>`: a version already durable (an
//! earlier run's [`Checkpoint::Done`]) is not read again and its message is deleted at once,
//! and a second delivery within the run waits for the first's commit and is then deleted
//! without a second row. The mapper's `metadata.uid` is the same `<id>@<updatedAt>`, so even
//! outputs merged from two connectors on the same queue collapse by uid.

use std::{collections::HashSet, time::Duration};

use serde::{Deserialize, Serialize};

use super::{
    Checkpoint, ConnectorDefaults, Source, SourceContext, SourceEnv, SourceError, SourceSpec,
    common::queue::{self, MessageReader, QueueLoop, QueueSettings},
    probe_session,
};
use crate::{
    aws::{AwsError, AwsSession},
    batch::ObjectInfo,
};

/// The source kind stamped on records.
pub const KIND: &str = "macie";

/// `type = "macie"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacieConfig {
    /// The queue. Default: the connector's `macie_sqs_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_url: Option<String>,
    /// Long-poll wait per ReceiveMessage, 0–20 s. An empty receive ends the run. Default 20.
    #[serde(default = "default_wait_seconds")]
    pub wait_seconds: i32,
    /// Visibility timeout asked for on receive, and extended to while the messages' records
    /// are not yet durable. Default 300.
    #[serde(default = "default_visibility_timeout")]
    pub visibility_timeout_seconds: i32,
    /// A message received more than this many times is dead-lettered and deleted. Default 5.
    #[serde(default = "default_max_receive_count")]
    pub max_receive_count: u32,
    /// Commit (and delete the messages) after this many messages. Default 100.
    #[serde(default = "default_commit_every_messages")]
    pub commit_every_messages: usize,
    /// Mapper: `builtin:macie` (default), `builtin:passthrough` or a `.wasm` path.
    #[serde(default = "default_mapper")]
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
fn default_mapper() -> String {
    "builtin:macie".into()
}

impl MacieConfig {
    fn settings(&self, max_duration: Option<Duration>) -> QueueSettings {
        QueueSettings {
            wait_seconds: self.wait_seconds,
            visibility_timeout_seconds: self.visibility_timeout_seconds,
            max_receive_count: self.max_receive_count,
            commit_every_messages: self.commit_every_messages,
            max_duration,
        }
    }

    /// The queue URL: the source's own, else the connector's `macie_sqs_url`.
    fn queue_url<'a>(&'a self, connector: &'a ConnectorDefaults) -> Result<&'a str, String> {
        self.settings(None).check()?;
        self.queue_url
            .as_deref()
            .or(connector.macie_sqs_url.as_deref())
            .ok_or_else(|| "no queue: set macie_sqs_url on the connector (or queue_url on the source)".to_string())
    }
}

impl SourceSpec for MacieConfig {
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
        format!("macie {}", self.queue_url(connector).unwrap_or("?"))
    }

    fn build(&self, env: &SourceEnv<'_>) -> Result<Box<dyn Source>, String> {
        Ok(Box::new(Macie { cfg: self.clone(), queue_url: self.queue_url(env.connector)?.to_string(), session: env.session()?, max_duration: env.max_duration }))
    }

    fn probe(&self, connector: &ConnectorDefaults, aws: Option<&AwsSession>) -> Result<String, AwsError> {
        let url = self.queue_url(connector).map_err(AwsError::config_error)?;
        let n = queue::probe_queue(&probe_session(aws)?.sqs(), url)?;
        Ok(format!("sqs:GetQueueAttributes OK; about {n} Macie finding messages waiting"))
    }
}

/// A Macie finding event as the queue carries it.
#[derive(Debug, PartialEq)]
pub struct FindingEvent<'a> {
    /// The finding's id.
    pub id: String,
    /// When the finding was last updated (as Macie writes it), `""` when absent.
    pub updated_at: String,
    /// The account and region of the finding.
    pub account: Option<String>,
    /// Its region.
    pub region: Option<String>,
    /// The finding: the event's `detail`, as written.
    pub detail: &'a str,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "Type")]
    sns_type: Option<&'a str>,
    #[serde(rename = "Message")]
    sns_message: Option<String>,
    source: Option<String>,
    #[serde(rename = "detail-type")]
    detail_type: Option<String>,
    #[serde(borrow)]
    detail: Option<&'a serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct DetailKeys {
    id: Option<String>,
    #[serde(rename = "updatedAt")]
    updated_at: Option<String>,
    #[serde(rename = "accountId")]
    account_id: Option<String>,
    region: Option<String>,
}

/// Reads a message body: a Macie finding event, or one wrapped in an SNS notification.
/// `Err` says why it is not one. The SNS case returns the inner event's text to parse again.
pub fn parse(body: &str) -> Result<Parsed<'_>, String> {
    let env: Envelope = serde_json::from_str(body).map_err(|e| format!("the message is not a JSON event ({e})"))?;
    if env.sns_type == Some("Notification") {
        return match env.sns_message {
            Some(inner) => Ok(Parsed::Sns(inner)),
            None => Err("an SNS notification without a Message".into()),
        };
    }
    let (source, kind) = (env.source.as_deref().unwrap_or(""), env.detail_type.as_deref().unwrap_or(""));
    if source != "aws.macie" || kind != "Macie Finding" {
        return Err(format!("not a Macie finding event: source {source:?}, detail-type {kind:?} (expected \"aws.macie\", \"Macie Finding\")"));
    }
    let detail = env.detail.ok_or("a Macie finding event without a detail")?;
    let keys: DetailKeys = serde_json::from_str(detail.get()).map_err(|e| format!("the event's detail is not a finding ({e})"))?;
    let id = keys.id.filter(|i| !i.is_empty()).ok_or("the event's detail has no finding id")?;
    Ok(Parsed::Event(FindingEvent { id, updated_at: keys.updated_at.unwrap_or_default(), account: keys.account_id, region: keys.region, detail: detail.get() }))
}

/// What a message body is.
#[derive(Debug, PartialEq)]
pub enum Parsed<'a> {
    /// The event.
    Event(FindingEvent<'a>),
    /// An SNS notification: the event's text.
    Sns(String),
}

/// The source.
pub struct Macie {
    cfg: MacieConfig,
    queue_url: String,
    session: AwsSession,
    max_duration: Option<Duration>,
}

/// Reads each message as one record.
struct FindingMessages {
    /// Finding versions read in this run: a second delivery is deleted after the first's commit.
    read: HashSet<String>,
    /// Never filled: a message is its own record, there is nothing to fetch later.
    retry: HashSet<String>,
}

impl FindingMessages {
    fn plan_event(&mut self, ctx: &mut SourceContext<'_>, ev: FindingEvent<'_>) -> Vec<String> {
        let object = format!("macie-finding://{}@{}", ev.id, ev.updated_at);
        if self.read.contains(&object) {
            return vec![object];
        }
        if ctx.is_done(&object) {
            return Vec::new();
        }
        self.read.insert(object.clone());
        ctx.add_total(1);
        let info = ObjectInfo { connector: ctx.connector(), source_kind: KIND, aws_account_id: ev.account, region: ev.region, object: object.clone() };
        let mut unit = ctx.begin_unit(info, Checkpoint::Done);
        ctx.push(&mut unit, ev.detail.as_bytes(), 0, 0);
        ctx.end_unit(unit);
        vec![object]
    }
}

impl MessageReader for FindingMessages {
    fn plan(&mut self, ctx: &mut SourceContext<'_>, _message_id: &str, body: &str) -> Result<Vec<String>, String> {
        match parse(body)? {
            Parsed::Event(ev) => Ok(self.plan_event(ctx, ev)),
            Parsed::Sns(inner) => match parse(&inner).map_err(|e| format!("SNS Message: {e}"))? {
                Parsed::Event(ev) => Ok(self.plan_event(ctx, ev)),
                Parsed::Sns(_) => Err("SNS Message: an SNS notification inside an SNS notification".into()),
            },
        }
    }

    fn to_retry(&self) -> &HashSet<String> {
        &self.retry
    }
}

impl Source for Macie {
    fn id(&self) -> String {
        format!("macie:{}", self.queue_url)
    }

    fn kind(&self) -> &'static str {
        KIND
    }

    fn run(&mut self, ctx: &mut SourceContext<'_>) -> Result<(), SourceError> {
        let settings = self.cfg.settings(self.max_duration);
        let queue = QueueLoop { sqs: self.session.sqs(), queue_url: &self.queue_url, settings: &settings, source_id: self.id(), kind: KIND };
        queue.run(ctx, &mut FindingMessages { read: HashSet::new(), retry: HashSet::new() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"version":"0","id":"0948ba87-d3b8-c6d4-f2da-732a1example","detail-type":"Macie Finding","source":"aws.macie","account":"123456789012","time":"2024-09-30T19:54:15Z","region":"us-east-1","resources":[],"detail":{"schemaVersion":"1.0","id":"64b917aa3ed3b6b5a2f6d1example","accountId":"123456789012","partition":"aws","region":"us-east-1","type":"SensitiveData:S3Object/Personal","updatedAt":"2024-09-30T19:54:15.055Z"}}"#;

    #[test]
    fn direct_and_sns_wrapped_events_and_what_is_refused() {
        let Parsed::Event(ev) = parse(EVENT).unwrap() else { panic!() };
        assert_eq!((ev.id.as_str(), ev.updated_at.as_str(), ev.region.as_deref()), ("64b917aa3ed3b6b5a2f6d1example", "2024-09-30T19:54:15.055Z", Some("us-east-1")));
        assert!(ev.detail.starts_with("{\"schemaVersion\"") && ev.detail.ends_with("}"));
        let sns = serde_json::json!({"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:123456789012:macie", "Message": EVENT}).to_string();
        assert_eq!(parse(&sns).unwrap(), Parsed::Sns(EVENT.to_string()));
        let err = |b: &str| parse(b).unwrap_err();
        assert!(err("not json").contains("not a JSON event"));
        assert!(err(&EVENT.replace("aws.macie", "aws.guardduty")).contains("not a Macie finding event: source \"aws.guardduty\""));
        assert!(err(&EVENT.replace("\"id\":\"64b9", "\"idx\":\"64b9")).contains("no finding id"));
        assert!(err(r#"{"Type":"Notification"}"#).contains("without a Message"));
        assert!(err(r#"{"source":"aws.macie","detail-type":"Macie Finding"}"#).contains("without a detail"));
    }

    #[test]
    fn the_queue_is_the_sources_or_the_connectors() {
        let mut d = ConnectorDefaults { name: "c".into(), region: "us-east-1".into(), sqs_url: None, macie_sqs_url: None, inspector_pull_mode: Default::default() };
        let c: MacieConfig = toml::from_str("").unwrap();
        assert!(c.validate(&d).unwrap_err().contains("macie_sqs_url"));
        d.macie_sqs_url = Some("https://sqs/q".into());
        assert_eq!(c.queue_url(&d).unwrap(), "https://sqs/q");
        let c: MacieConfig = toml::from_str("queue_url = \"https://sqs/own\"\nwait_seconds = 30").unwrap();
        assert!(c.validate(&d).unwrap_err().contains("wait_seconds"));
        assert_eq!(c.mapper, "builtin:macie");
    }
}
