//! Sources: each pulls raw records from somewhere and hands them to the pipeline through a
//! [`SourceContext`]. Adding a source is one folder here plus one variant in [`SourceConfig`].

pub mod cloudtrail_files;

use std::io::Read;

use serde::{Deserialize, Serialize};

pub use crate::pipeline::SourceContext;
use crate::{
    batch::ObjectInfo,
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
}

impl SourceConfig {
    /// The mapper reference (`builtin:<name>` or a `.wasm` path).
    pub fn mapper(&self) -> &str {
        match self {
            SourceConfig::CloudtrailFiles(c) => &c.mapper,
        }
    }

    /// The mapper's config table, as JSON (`null` when absent).
    pub fn mapper_config(&self) -> serde_json::Value {
        match self {
            SourceConfig::CloudtrailFiles(c) => c.mapper_config.clone().unwrap_or(serde_json::Value::Null),
        }
    }

    /// Builds the source.
    pub fn build(&self) -> Box<dyn Source> {
        match self {
            SourceConfig::CloudtrailFiles(c) => Box::new(cloudtrail_files::CloudTrailFiles::new(c.clone())),
        }
    }
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
