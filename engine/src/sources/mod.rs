//! Sources: each pulls raw records from somewhere and hands them to the pipeline through a
//! [`SourceContext`]. Adding a source is one folder here plus one variant in [`SourceConfig`].

pub mod cloudtrail_files;
pub mod cloudtrail_s3;
pub mod s3_objects;
pub mod sqs;

use std::{io::Read, time::Duration};

use chrono::NaiveDate;

use serde::{Deserialize, Serialize};

pub use crate::pipeline::SourceContext;
use crate::{
    aws::AwsSession,
    batch::ObjectInfo,
    config::ConnectorConfig,
    formats::{
        cloudtrail_log::{CloudTrailLogReader, LogError},
        compression::decompressed,
    },
};

/// `[[connectors.sources]]`, by `type`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceConfig {
    /// CloudTrail log files in a local directory tree.
    CloudtrailFiles(cloudtrail_files::CloudTrailFilesConfig),
    /// A CloudTrail trail bucket in S3, for a range of days.
    CloudtrailS3(cloudtrail_s3::CloudTrailS3Config),
    /// CloudTrail log objects announced by S3 notifications on the connector's SQS queue.
    Sqs(sqs::SqsConfig),
}

impl SourceConfig {
    /// The source type, as written in the config.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::CloudtrailFiles(_) => "cloudtrail_files",
            SourceConfig::CloudtrailS3(_) => "cloudtrail_s3",
            SourceConfig::Sqs(_) => "sqs",
        }
    }

    /// The mapper reference (`builtin:<name>` or a `.wasm` path).
    pub fn mapper(&self) -> &str {
        match self {
            SourceConfig::CloudtrailFiles(c) => &c.mapper,
            SourceConfig::CloudtrailS3(c) => &c.mapper,
            SourceConfig::Sqs(c) => &c.mapper,
        }
    }

    /// The mapper's config table, as JSON (`null` when absent).
    pub fn mapper_config(&self) -> serde_json::Value {
        let c = match self {
            SourceConfig::CloudtrailFiles(c) => &c.mapper_config,
            SourceConfig::CloudtrailS3(c) => &c.mapper_config,
            SourceConfig::Sqs(c) => &c.mapper_config,
        };
        c.clone().unwrap_or(serde_json::Value::Null)
    }

    /// Whether the source calls AWS (and so needs the connector's credentials).
    pub fn needs_aws(&self) -> bool {
        !matches!(self, SourceConfig::CloudtrailFiles(_))
    }

    /// Config checks that need no network.
    pub fn check(&self, connector: &ConnectorConfig) -> Result<(), String> {
        match self {
            SourceConfig::CloudtrailFiles(_) => Ok(()),
            SourceConfig::CloudtrailS3(c) => {
                if c.bucket.is_empty() || c.bucket.contains('/') {
                    return Err(format!("source cloudtrail_s3: bucket must be a bucket name (no s3://, no /), got {:?}", c.bucket));
                }
                c.days(None, None, chrono::Utc::now().date_naive()).map(|_| ()).map_err(|e| format!("source cloudtrail_s3: {e}"))
            }
            SourceConfig::Sqs(c) => c.queue_url(connector).map(|_| ()).map_err(|e| format!("source sqs: {e}")),
        }
    }

    /// Builds the source.
    pub fn build(&self, env: &SourceEnv<'_>) -> Result<Box<dyn Source>, String> {
        Ok(match self {
            SourceConfig::CloudtrailFiles(c) => Box::new(cloudtrail_files::CloudTrailFiles::new(c.clone())),
            SourceConfig::CloudtrailS3(c) => Box::new(cloudtrail_s3::CloudTrailS3::new(c.clone(), env)?),
            SourceConfig::Sqs(c) => Box::new(sqs::SqsSource::new(c.clone(), env)?),
        })
    }
}

/// The mapper of every CloudTrail source unless its config names another.
fn default_cloudtrail_mapper() -> String {
    "builtin:cloudtrail".into()
}

/// What a source is built from beyond its own config.
pub struct SourceEnv<'a> {
    /// Its connector.
    pub connector: &'a ConnectorConfig,
    /// The connector's AWS session, when connected.
    pub aws: Option<&'a AwsSession>,
    /// `--since`: first day to read (backfill sources).
    pub since: Option<NaiveDate>,
    /// `--until`: last day to read.
    pub until: Option<NaiveDate>,
    /// `--max-duration`: queue sources stop receiving after this long.
    pub max_duration: Option<Duration>,
}

/// An inclusive range of UTC days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    /// First day.
    pub first: NaiveDate,
    /// Last day.
    pub last: NaiveDate,
}

impl DayRange {
    /// Every day, in order.
    pub fn iter(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.first.iter_days().take_while(|d| d <= &self.last)
    }
}

/// A day: `YYYY-MM-DD`, or `<N>d` for N days before `today`.
pub fn parse_day(s: &str, today: NaiveDate) -> Result<NaiveDate, String> {
    if let Some(n) = s.strip_suffix('d').and_then(|n| n.parse::<u32>().ok()) {
        return today.checked_sub_days(chrono::Days::new(n.into())).ok_or_else(|| format!("{s:?} is too far back"));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("{s:?} is not a day: use YYYY-MM-DD or <N>d (N days ago)"))
}

/// A source of raw records.
///
/// Contract: [`Source::run`] reads every object that [`SourceContext::is_done`] does not
/// report as done, announcing each with [`SourceContext::begin_object`] and ending it with
/// [`SourceContext::end_object`]. A bad object is reported with
/// [`SourceContext::object_failed`] and the source moves on; `Err` is only for failures that
/// stop the whole source (its location does not exist, credentials are refused). The source
/// never commits: the pipeline records an object as done once everything read from it is
/// durable.
pub trait Source: Send {
    /// Stable id, used in checkpoint keys: `<type>:<location>`.
    fn id(&self) -> String;
    /// The source kind stamped on records (`cloudtrail_files`).
    fn kind(&self) -> &'static str;
    /// Reads the source once.
    fn run(&mut self, ctx: &mut SourceContext<'_>) -> Result<(), SourceError>;
}

/// A failure that stops a source.
#[derive(Debug, thiserror::Error)]
#[error("source {source_id}: {message}")]
pub struct SourceError {
    /// The source.
    pub source_id: String,
    /// What went wrong.
    pub message: String,
}

/// Reads one CloudTrail log object (any byte stream, gzip or not) into the pipeline:
/// every record, and a dead-letter entry for whatever cannot be read. Shared by every
/// source that delivers CloudTrail log files.
pub fn ingest_cloudtrail_log(ctx: &mut SourceContext<'_>, info: ObjectInfo, input: impl Read + Send + 'static) {
    let mut obj = ctx.begin_object(info);
    let stream = match decompressed(input) {
        Ok(s) => s,
        Err(e) => {
            ctx.object_failed(&mut obj, 0, format!("cannot read: {e}"), None);
            ctx.end_object(obj);
            return;
        }
    };
    let mut reader = CloudTrailLogReader::new(stream);
    loop {
        match reader.next_record() {
            Ok(Some(rec)) => ctx.push(&mut obj, &rec.bytes, rec.index, rec.offset),
            Ok(None) => break,
            Err(mut e) => {
                let partial = e.take_partial();
                let reason = match &e {
                    LogError::Io { .. } => format!("{e} (corrupt or truncated compressed stream?)"),
                    _ => e.to_string(),
                };
                ctx.object_failed(&mut obj, e.offset(), reason, partial.map(|p| (p.index, p.offset, p.bytes)));
                break;
            }
        }
    }
    ctx.end_object(obj);
}
