//! Sinks: where mapped events land.
//!
//! [`LakeSink`] lays files out like Amazon Security Lake —
//! `<root>/<source>/region=<r>/accountId=<a>/eventDay=YYYYMMDD/<name>` with one OCSF class per
//! file — in a [`FileFormat`] ([`parquet`] or [`ndjson`]); `<source>` is `<mapper>_<class>`,
//! or `ext/<custom source name>` in the [`Layout::SecurityLake`] layout ([`layout`]). [`DeadLetter`] takes every record
//! that is not written, with its reason and provenance.

mod dead_letter;
mod lake;
pub mod layout;
pub mod ndjson;
pub mod parquet;
pub mod s3_upload;

use std::{
    fs::File,
    path::{Path, PathBuf},
    sync::Arc,
};

use sha2::Digest;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use serde::{Deserialize, Serialize};

pub use dead_letter::{DeadLetter, DeadLetterEntry, publish as publish_dead_letters};
pub use lake::{Destination, LakeSink, PartitionRow, WrittenFile};
pub use layout::{EventClass, Layout};

use crate::aws::{AuthConfig, AwsSession, AwsTarget, parse_s3_url};

/// `trawl run --help`: the output types and layouts.
pub fn help() -> String {
    [
        "Output types (`type = ...` in [[outputs]]; `path` is a directory or s3://bucket/prefix):",
        "  parquet  zstd Parquet, one OCSF class per file",
        "  ndjson   newline-delimited JSON (gzip = true for .json.gz)",
        "Layouts (`layout = ...`):",
        "  trawl          <path>/<mapper>_<class>/region=<r>/accountId=<a>/eventDay=YYYYMMDD/ (default)",
        "  security_lake  <path>/ext/<custom source name>/region=<r>/accountId=<a>/eventDay=YYYYMMDD/:",
        "                 an Amazon Security Lake custom source per class (parquet only); names",
        "                 default to <mapper>_<class_uid> (cloudtrail_6003), or set them, at most",
        "                 20 characters, in [outputs.source_names] (cloudtrail_api_activity = \"…\")",
    ]
    .map(|l| format!("{l}\n"))
    .concat()
}

/// What outputs need of the rest of the config: where staging files go, and the connectors an
/// S3 output may borrow credentials from (`s3 = { connector = "…" }`).
pub struct OutputEnv<'a> {
    /// The state directory.
    pub state_dir: &'a Path,
    /// Connector names and how each reaches AWS.
    pub connectors: Vec<(&'a str, AwsTarget)>,
}

/// `[[outputs]]`: one destination; every event goes to every output.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputConfig {
    /// Parquet files (zstd), the data-lake format.
    Parquet(parquet::ParquetConfig),
    /// Newline-delimited JSON (optionally gzip), for SIEMs.
    Ndjson(ndjson::NdjsonConfig),
}

impl OutputConfig {
    /// The output's root: a directory or `s3://bucket/prefix`.
    pub fn path(&self) -> &PathBuf {
        match self {
            OutputConfig::Parquet(c) => &c.path,
            OutputConfig::Ndjson(c) => &c.path,
        }
    }

    /// `(bucket, prefix)` when the output is in S3.
    pub fn s3_location(&self) -> Option<(String, String)> {
        self.path().to_str().and_then(parse_s3_url)
    }

    fn s3_options(&self) -> Option<&S3OutputOptions> {
        match self {
            OutputConfig::Parquet(c) => c.s3.as_ref(),
            OutputConfig::Ndjson(c) => c.s3.as_ref(),
        }
    }

    /// The directory layout, and `[outputs.source_names]`.
    pub fn layout(&self) -> (Layout, &std::collections::BTreeMap<String, String>) {
        static NONE: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
        match self {
            OutputConfig::Parquet(c) => (c.layout, &c.source_names),
            OutputConfig::Ndjson(c) => (c.layout, &NONE),
        }
    }

    /// Config checks that need no network.
    pub fn check(&self, env: &OutputEnv<'_>) -> Result<(), String> {
        let path = self.path().display().to_string();
        if let OutputConfig::Ndjson(c) = self
            && c.layout == Layout::SecurityLake
        {
            return Err(format!("output {path}: layout = \"security_lake\" needs type = \"parquet\": Security Lake custom sources take Parquet files only"));
        }
        let (layout, names) = self.layout();
        layout::check_source_names(layout, names).map_err(|e| format!("output {path}: {e}"))?;
        let is_s3 = path.starts_with("s3://");
        if is_s3 && self.s3_location().is_none() {
            return Err(format!("output path {path:?}: expected s3://bucket[/prefix]"));
        }
        match (is_s3, self.s3_options()) {
            (false, Some(_)) => Err(format!("output {path}: [outputs.s3] only applies to s3:// paths")),
            (true, Some(o)) => o.target(env).map(|_| ()).map_err(|e| format!("output {path}: {e}")),
            _ => Ok(()),
        }
    }

    /// Where and how the output reaches AWS (S3 outputs only).
    pub fn aws_target(&self, env: &OutputEnv<'_>) -> Result<AwsTarget, String> {
        match self.s3_options() {
            Some(o) => o.target(env),
            None => S3OutputOptions::default().target(env),
        }
    }

    /// Opens the sink: local, or S3 with its own credentials (checked now, not at the first
    /// commit).
    pub fn open(&self, env: &OutputEnv<'_>) -> Result<LakeSink, SinkError> {
        let (layout, names) = self.layout();
        let Some((bucket, prefix)) = self.s3_location() else {
            return Ok(LakeSink::new(self.path(), self.format())?.with_layout(layout, names.clone()));
        };
        let url = self.path().display().to_string();
        let target = self.aws_target(env).map_err(|e| SinkError::new(&url, e))?;
        let session = AwsSession::connect(&target).map_err(|e| SinkError::new(&url, e))?;
        let opts = self.s3_options().cloned().unwrap_or_default();
        let dest = s3_upload::S3Destination {
            client: session.s3(),
            bucket,
            prefix,
            multipart_threshold: opts.multipart_threshold_mib << 20,
            part_size: opts.part_size_mib.max(5) << 20,
        };
        // Staging files live under the state directory, one folder per output.
        let digest = hex::encode(&sha2::Sha256::digest(url.as_bytes())[..6]);
        let tmp = env.state_dir.join("staging").join(digest);
        Ok(LakeSink::with_destination(Destination::S3(dest), &tmp, self.format())?.with_layout(layout, names.clone()))
    }

    /// The file format it writes.
    pub fn format(&self) -> Arc<dyn FileFormat> {
        match self {
            OutputConfig::Parquet(c) => Arc::new(c.clone()),
            OutputConfig::Ndjson(c) => Arc::new(c.clone()),
        }
    }
}

/// `[outputs.s3]`: how an `s3://` output reaches AWS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3OutputOptions {
    /// Use this connector's region, endpoint and credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    /// Region (without `connector`). Default: `AWS_REGION`, else us-east-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Endpoint override (without `connector`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Credentials (without `connector`). Default: the default chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
    /// Files at least this large are uploaded in parts. Default 64 MiB.
    #[serde(default = "default_multipart_threshold_mib")]
    pub multipart_threshold_mib: u64,
    /// Part size, at least 5 MiB. Default 16 MiB.
    #[serde(default = "default_part_size_mib")]
    pub part_size_mib: u64,
}

fn default_multipart_threshold_mib() -> u64 {
    64
}
fn default_part_size_mib() -> u64 {
    16
}

impl Default for S3OutputOptions {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

impl S3OutputOptions {
    fn target(&self, env: &OutputEnv<'_>) -> Result<AwsTarget, String> {
        if let Some(name) = &self.connector {
            if self.region.is_some() || self.endpoint_url.is_some() || self.auth.is_some() {
                return Err("give either connector or region/endpoint_url/auth in [outputs.s3], not both".into());
            }
            let (_, t) = env.connectors.iter().find(|(n, _)| n == name).ok_or_else(|| format!("no connector named {name:?}"))?;
            return Ok(t.clone());
        }
        let auth = self.auth.clone().unwrap_or_default();
        auth.check()?;
        Ok(AwsTarget {
            region: self.region.clone().or_else(|| std::env::var("AWS_REGION").ok()).unwrap_or_else(|| "us-east-1".into()),
            endpoint_url: self.endpoint_url.clone(),
            endpoints: Default::default(),
            auth,
            max_attempts: 5,
        })
    }
}

/// A sink error, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("output {path}: {message}")]
pub struct SinkError {
    /// The file or directory.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

impl SinkError {
    pub(crate) fn new(path: impl std::fmt::Display, message: impl std::fmt::Display) -> Self {
        Self { path: path.to_string(), message: message.to_string() }
    }
}

/// A file format: opens writers for one file at a time.
pub trait FileFormat: Send + Sync + std::fmt::Debug {
    /// File name extension, without the dot (`parquet`, `json.gz`).
    fn extension(&self) -> &'static str;
    /// Starts a file with `schema` on `file` (a temporary file; the sink renames it).
    fn open(&self, file: File, schema: SchemaRef) -> Result<Box<dyn FileWriter>, String>;
    /// Bytes the open files of one output may buffer in memory together.
    fn buffer_budget(&self) -> usize {
        usize::MAX
    }
}

/// One file being written.
///
/// Contract: nothing written is guaranteed durable until [`FileWriter::finish`] returns `Ok`,
/// which means the file is complete and fsync'd.
pub trait FileWriter: Send {
    /// Appends events.
    fn write(&mut self, batch: &RecordBatch) -> Result<(), String>;
    /// Bytes held in memory for this file (0 for formats that stream).
    fn buffered_bytes(&self) -> usize {
        0
    }
    /// Writes buffered data out to the file to free memory (e.g. ends a Parquet row group).
    fn flush_buffered(&mut self) -> Result<(), String> {
        Ok(())
    }
    /// Completes the file (footer, flush, fsync).
    fn finish(self: Box<Self>) -> Result<(), String>;
}
