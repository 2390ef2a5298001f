//! Source `cloudtrail_files`: a local directory tree of CloudTrail log files, exactly as
//! CloudTrail delivers them to S3 (`AWSLogs/[o-org/]<acct>/CloudTrail/<region>/YYYY/MM/DD/`,
//! `.json.gz` or `.json`; Insights files under `CloudTrail-Insight/` too), or of CloudTrail
//! events in any other container users hand over (`.json`, `.ndjson`, `.jsonl`, gzip'd or
//! not: one event, one per line, a bare array, a CloudWatch Logs message; see
//! [`crate::formats::cloudtrail`]). Digest files are skipped.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ConnectorDefaults, Checkpoint, Source, SourceContext, SourceEnv, SourceError, SourceSpec, common::ingest};
use crate::{
    aws::{AwsError, AwsSession},
    batch::ObjectInfo,
};

/// `type = "cloudtrail_files"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudTrailFilesConfig {
    /// Root of the tree (the directory holding `AWSLogs/`, or any directory below it).
    pub path: PathBuf,
    /// Mapper: `builtin:cloudtrail` (default), `builtin:passthrough` or a `.wasm` path.
    #[serde(default = "super::default_cloudtrail_mapper")]
    pub mapper: String,
    /// Config table handed to the mapper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapper_config: Option<serde_json::Value>,
}

impl SourceSpec for CloudTrailFilesConfig {
    fn mapper(&self) -> &str {
        &self.mapper
    }

    fn mapper_config(&self) -> Option<&serde_json::Value> {
        self.mapper_config.as_ref()
    }

    fn needs_aws(&self) -> bool {
        false
    }

    fn local_input(&self) -> Option<&Path> {
        Some(&self.path)
    }

    fn label(&self, _: &ConnectorDefaults) -> String {
        format!("cloudtrail_files {}", self.path.display())
    }

    fn build(&self, _: &SourceEnv<'_>) -> Result<Box<dyn Source>, String> {
        Ok(Box::new(CloudTrailFiles::new(self.clone())))
    }

    fn probe(&self, _: &ConnectorDefaults, _: Option<&AwsSession>) -> Result<String, AwsError> {
        match std::fs::read_dir(&self.path) {
            Ok(_) => Ok(format!("{} is readable", self.path.display())),
            Err(e) => Err(AwsError { code: "NotReadable".into(), message: format!("{}: {e}", self.path.display()), permission: None }),
        }
    }
}

/// The source.
pub struct CloudTrailFiles {
    cfg: CloudTrailFilesConfig,
}

impl CloudTrailFiles {
    /// A source over `cfg.path`.
    pub fn new(cfg: CloudTrailFilesConfig) -> Self {
        Self { cfg }
    }
}

/// File name endings of CloudTrail objects: JSON documents and JSON lines, gzip'd or not.
const EXTENSIONS: &[&str] = &[".json", ".json.gz", ".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz"];

/// The service folders of an `AWSLogs/` tree that hold CloudTrail events: log files and
/// Insights files (`CloudTrail-Digest/` holds digests, not events).
pub const SERVICE_DIRS: &[&str] = &["CloudTrail", "CloudTrail-Insight"];

/// Whether a path is a CloudTrail object to read: a `.json`, `.ndjson` or `.jsonl` file
/// (`.gz` or not), not hidden, not a digest (`CloudTrail-Digest/`, `_CloudTrail-Digest_`);
/// inside an `AWSLogs/` tree only under a CloudTrail service folder ([`SERVICE_DIRS`]: other
/// services deliver other logs there).
pub fn is_log_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let has = |dir: &str| path.components().any(|c| matches!(c, Component::Normal(s) if s == dir));
    let digest = has("CloudTrail-Digest") || name.contains("_CloudTrail-Digest_");
    let other_service = has("AWSLogs") && !SERVICE_DIRS.iter().any(|d| has(d));
    !digest && !other_service && !name.starts_with('.') && EXTENSIONS.iter().any(|e| name.ends_with(e))
}

/// `(account id, region)` from a CloudTrail key or path: the components around `CloudTrail`
/// (or `CloudTrail-Insight`).
pub fn account_region(path: &str) -> (Option<String>, Option<String>) {
    let parts: Vec<&str> = path.split(['/', '\\']).collect();
    match parts.iter().position(|p| SERVICE_DIRS.contains(p)) {
        Some(i) => {
            let account = i.checked_sub(1).map(|j| parts[j]).filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()));
            let region = parts.get(i + 1).filter(|r| !r.is_empty() && r.contains('-'));
            (account.map(str::to_string), region.map(|r| r.to_string()))
        }
        None => (None, None),
    }
}

impl Source for CloudTrailFiles {
    fn id(&self) -> String {
        format!("cloudtrail_files:{}", self.cfg.path.display())
    }

    fn kind(&self) -> &'static str {
        "cloudtrail_files"
    }

    fn run(&mut self, ctx: &mut SourceContext<'_>) -> Result<(), SourceError> {
        let root = &self.cfg.path;
        let fail = |message: String| SourceError { source_id: self.id(), message };
        if !root.is_dir() {
            return Err(fail(format!("{} is not a directory", root.display())));
        }
        let mut files = Vec::new();
        // Symlinks are followed (copies of buckets are often assembled from links); a link
        // that leads back up the tree is reported and skipped, and a directory that cannot be
        // listed fails the source at the end — its files are not checkpointed, so the next
        // run lists them again.
        let mut unlisted = Vec::new();
        for entry in walkdir::WalkDir::new(root).follow_links(true).sort_by_file_name() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) if e.loop_ancestor().is_some() => {
                    tracing::warn!(path = %e.path().map(|p| p.display().to_string()).unwrap_or_default(), "a symlink loops back to {}; not followed", e.loop_ancestor().expect("checked").display());
                    continue;
                }
                Err(e) => {
                    tracing::warn!("cannot list: {e}");
                    unlisted.push(e.to_string());
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            if is_log_file(entry.path()) {
                files.push(entry.into_path());
            } else {
                tracing::debug!(path = %entry.path().display(), "not a CloudTrail log file; ignored");
            }
        }
        let todo: Vec<PathBuf> = files.into_iter().filter(|p| !ctx.is_done(&p.display().to_string())).collect();
        ctx.set_total(todo.len() as u64);
        for path in todo {
            if ctx.stopping() {
                break;
            }
            let object = path.display().to_string();
            let (aws_account_id, region) = account_region(&object);
            let info = ObjectInfo { connector: ctx.connector(), source_kind: self.kind(), aws_account_id, region, object };
            match std::fs::File::open(&path) {
                Ok(f) => ingest::cloudtrail_log(ctx, info, ctx.count_bytes(f)),
                // Permissions or a file being replaced: may pass, so it is read again next run.
                Err(e) => ctx.retry_later(info, Checkpoint::Done, &format!("cannot open: {e}")),
            }
        }
        if !unlisted.is_empty() {
            return Err(fail(format!("{} path(s) could not be listed, the next run tries again: {}", unlisted.len(), unlisted.join("; "))));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_log_files() {
        let cases = [
            ("AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/111122223333_CloudTrail_us-east-2_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz", true),
            ("AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/x.json", true),
            ("AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/01/x.json.gz", false),
            ("AWSLogs/111122223333/CloudTrail-Insight/us-east-2/2015/08/01/111122223333_CloudTrail-Insight_us-east-2_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz", true),
            ("AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/notes.txt", false),
            ("AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/.x.json", false),
            // Other services' logs in the same bucket are not CloudTrail.
            ("AWSLogs/111122223333/vpcflowlogs/us-east-2/2015/08/01/x.json.gz", false),
            ("AWSLogs/111122223333/Config/us-east-2/2015/08/01/ConfigSnapshot/x.json.gz", false),
            // Outside an AWSLogs tree: any JSON or JSON-lines file, but no digest.
            ("exports/events.json", true),
            ("exports/events.json.gz", true),
            ("exports/events.ndjson", true),
            ("exports/events.ndjson.gz", true),
            ("exports/events.jsonl", true),
            ("exports/events.jsonl.gz", true),
            ("exports/events.csv", false),
            ("exports/111122223333_CloudTrail-Digest_us-east-2_trail_us-east-2_20150801T0210Z.json.gz", false),
        ];
        for (p, want) in cases {
            assert_eq!(is_log_file(Path::new(p)), want, "{p}");
        }
    }

    #[test]
    fn account_and_region_from_key() {
        assert_eq!(
            account_region("trail/AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2024/01/15/f.json.gz"),
            (Some("111122223333".into()), Some("eu-west-1".into()))
        );
        assert_eq!(account_region("random/file.json"), (None, None));
        assert_eq!(
            account_region("AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2024/10/08/f.json.gz"),
            (Some("111122223333".into()), Some("us-east-1".into()))
        );
    }
}
