//! Source `redshift_audit`: Amazon Redshift audit logs in S3, for the clusters of the
//! connector's region, found as the seed connector finds them.
//!
//! **Where the logs are.** By default every cluster is discovered (`redshift:DescribeClusters`),
//! and for each `redshift:DescribeLoggingStatus` says whether audit logging is on and to which
//! bucket and key prefix (or to CloudWatch Logs, which this source does not read);
//! `redshift:DescribeClusterParameters` on its parameter group says whether
//! `enable_user_activity_logging` is on (the user activity log is empty without it). A
//! `bucket` (and `prefix`) in the config reads that bucket instead, with no Redshift call (a
//! central or replicated log bucket); `path` reads a local tree in the same layout.
//!
//! **Objects:** `[prefix/]AWSLogs/<acct>/redshift/<region>/YYYY/MM/DD/<acct>_redshift_<region>_<cluster>_<logtype>_<timestamp>.gz`,
//! listed by day for the date range, filtered by `clusters` and `log_types`, each
//! checkpointed once its records are durable.
//!
//! **Records.** The connection log and the user log are one record per line (pipe-delimited,
//! space-padded fields); a line with fewer fields than the log type has is dead-lettered with
//! its object and offset, and the rest of the file goes on. The user activity log is one
//! record per query: a record starts only at a line `'YYYY-MM-DDTHH:MM:SSZ UTC [ db=`, and
//! every other line continues the query (its SQL keeps its newlines); lines before the first
//! start are dead-lettered. Every record's unit context is its log type (`connectionlog`,
//! `userlog`, `useractivitylog`), so the mapper knows it without parsing the object name.

#[cfg(feature = "redshift")]
pub mod discovery;

use std::{
    io::{BufRead, Read},
    path::{Path, PathBuf},
};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{
    Checkpoint, ConnectorDefaults, DayRange, ProbeRow, Source, SourceContext, SourceEnv, SourceError, SourceSpec,
    common::{
        ingest,
        s3::{AwsLogsLayout, S3Fetcher, is_account},
    },
    probe_session,
};
use crate::{
    aws::{AwsError, AwsSession, describe, runtime},
    batch::ObjectInfo,
    formats::{FormatError, Lines, Record, RecordReader, is_blank, pattern_lines::PatternLinesReader},
};

/// The source kind stamped on Redshift audit records (also when they arrive through `sqs`).
pub const KIND: &str = "redshift_audit";

/// The service folder under `AWSLogs/<acct>/`.
pub const SERVICE_DIR: &str = "redshift";

/// One of the three audit logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogType {
    /// Authentication attempts, connections and disconnections.
    #[serde(rename = "connectionlog")]
    ConnectionLog,
    /// Changes to database users.
    #[serde(rename = "userlog")]
    UserLog,
    /// Every query before it runs (needs `enable_user_activity_logging`).
    #[serde(rename = "useractivitylog")]
    UserActivityLog,
}

impl LogType {
    /// All three, in the order of the docs.
    pub const ALL: [LogType; 3] = [LogType::ConnectionLog, LogType::UserLog, LogType::UserActivityLog];

    /// The name in object keys (and the records' unit context).
    pub fn name(self) -> &'static str {
        match self {
            LogType::ConnectionLog => "connectionlog",
            LogType::UserLog => "userlog",
            LogType::UserActivityLog => "useractivitylog",
        }
    }

    fn from_name(s: &str) -> Option<LogType> {
        LogType::ALL.into_iter().find(|t| t.name() == s)
    }

    /// Fewest `|` a line of this log has: the connection log's first 16 fields are stable
    /// (newer clusters append more), the user log has 11.
    fn min_pipes(self) -> usize {
        match self {
            LogType::ConnectionLog => 15,
            LogType::UserLog => 10,
            LogType::UserActivityLog => 0,
        }
    }
}

/// What an audit log object's name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFile {
    /// Account id.
    pub account: String,
    /// Region.
    pub region: String,
    /// Cluster identifier.
    pub cluster: String,
    /// Which log.
    pub log_type: LogType,
}

/// Parses `<acct>_redshift_<region>_<cluster>_<logtype>_<timestamp>[.gz]` (the file name,
/// or a key or path ending in it).
pub fn parse_name(key: &str) -> Option<AuditFile> {
    let name = key.rsplit(['/', '\\']).next()?;
    if name.starts_with('.') {
        return None;
    }
    let stem = name.strip_suffix(".gz").unwrap_or(name);
    let parts: Vec<&str> = stem.split('_').collect();
    if parts.len() < 6 || !is_account(parts[0]) || parts[1] != SERVICE_DIR || !parts[2].contains('-') {
        return None;
    }
    let n = parts.len();
    let log_type = LogType::from_name(parts[n - 2])?;
    // The timestamp (`2013-10-29T18:01`) starts with a year.
    if !parts[n - 1].starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let cluster = parts[3..n - 2].join("_");
    if cluster.is_empty() {
        return None;
    }
    Some(AuditFile { account: parts[0].into(), region: parts[2].into(), cluster, log_type })
}

/// Whether a key is in the Redshift audit layout: under `AWSLogs/<acct>/redshift/` and named
/// like an audit log.
pub fn is_audit_key(key: &str) -> bool {
    key.split('/').any(|c| c == SERVICE_DIR) && parse_name(key).is_some()
}

/// Whether a line starts a user activity log record: `'YYYY-MM-DDTHH:MM:SSZ UTC [ db=`.
pub fn is_activity_start(l: &[u8]) -> bool {
    const SHAPE: &[u8] = b"'####-##-##T##:##:##Z UTC [ db=";
    l.len() >= SHAPE.len() && SHAPE.iter().zip(l).all(|(s, c)| if *s == b'#' { c.is_ascii_digit() } else { s == c })
}

/// Reads one audit log object: lines for the connection and user logs, multi-line queries for
/// the user activity log. Records whose shape is wrong are refused one by one
/// ([`FormatError::BadRecord`]); the unit context is the log type.
pub struct AuditReader<R>(Inner<R>);

enum Inner<R> {
    /// Connection log, user log.
    Lines { lines: Lines<R>, log_type: LogType, next_index: u64 },
    /// User activity log.
    Activity(PatternLinesReader<R>),
}

const WHAT: &str = "Redshift audit log";

impl<R: BufRead> AuditReader<R> {
    /// A reader of a decompressed stream of `log_type`.
    pub fn new(r: R, log_type: LogType) -> Self {
        AuditReader(match log_type {
            LogType::UserActivityLog => Inner::Activity(PatternLinesReader::new(r, is_activity_start, "Redshift user activity log")),
            _ => Inner::Lines { lines: Lines::new(r, WHAT), log_type, next_index: 0 },
        })
    }
}

impl<R: BufRead> RecordReader for AuditReader<R> {
    fn next_record(&mut self) -> Result<Option<Record>, FormatError> {
        match &mut self.0 {
            Inner::Lines { lines, log_type, next_index } => {
                while let Some((offset, line)) = lines.next_line()? {
                    if is_blank(&line) {
                        continue;
                    }
                    let index = *next_index;
                    *next_index += 1;
                    let pipes = memchr::memchr_iter(b'|', &line).count();
                    let rec = Record { index, offset, bytes: line };
                    if pipes < log_type.min_pipes() {
                        let detail = format!("a {} line has {} fields, at least {} expected", log_type.name(), pipes + 1, log_type.min_pipes() + 1);
                        return Err(FormatError::BadRecord { what: WHAT, offset, detail, record: Some(rec) });
                    }
                    return Ok(Some(rec));
                }
                Ok(None)
            }
            Inner::Activity(r) => match r.next_record()? {
                Some(rec) if !is_activity_start(&rec.bytes) => Err(FormatError::BadRecord {
                    what: "Redshift user activity log",
                    offset: rec.offset,
                    detail: "text before the first record (a record starts with 'YYYY-MM-DDTHH:MM:SSZ UTC [ db=)".into(),
                    record: Some(rec),
                }),
                other => Ok(other),
            },
        }
    }

    fn context(&self) -> Option<&[u8]> {
        Some(match &self.0 {
            Inner::Lines { log_type, .. } => log_type.name().as_bytes(),
            Inner::Activity(_) => LogType::UserActivityLog.name().as_bytes(),
        })
    }
}

/// Reads one audit log object (gzip'd or not) as one unit, done once durable. Shared by the
/// sources that deliver Redshift audit objects (`redshift_audit`, `sqs`).
pub fn ingest_object(ctx: &mut SourceContext<'_>, info: ObjectInfo, log_type: LogType, input: impl Read + Send + 'static) {
    ingest::records(ctx, info, Checkpoint::Done, input, move |s| AuditReader::new(s, log_type));
}

/// The provenance of an audit object: account and region from its name.
pub fn object_info(ctx: &SourceContext<'_>, object: String, file: &AuditFile) -> ObjectInfo {
    ObjectInfo { connector: ctx.connector(), source_kind: KIND, aws_account_id: Some(file.account.clone()), region: Some(file.region.clone()), object }
}

/// `type = "redshift_audit"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedshiftAuditConfig {
    /// Cluster identifiers to read. Default: every cluster (discovered in the connector's
    /// region, or found in the bucket or tree).
    #[serde(default)]
    pub clusters: Vec<String>,
    /// Read this bucket instead of the ones the clusters log to (no Redshift call is made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// With `bucket`: its key prefix, the part before `AWSLogs/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Read a local tree in the same layout instead of S3 (a copy of a bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// The logs to read: `connectionlog`, `userlog`, `useractivitylog`. Default all three.
    #[serde(default = "all_log_types")]
    pub log_types: Vec<LogType>,
    /// First day (UTC) to read: `YYYY-MM-DD` or `<N>d`. Default `7d`. `--since` overrides it.
    /// (A local `path` is read whole.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Last day (UTC) to read, inclusive; same forms. Default today. `--until` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Objects downloaded at once. Default 8.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Mapper: `builtin:redshift` (default), `builtin:passthrough` or a `.wasm` path.
    #[serde(default = "default_mapper")]
    pub mapper: String,
    /// Config table handed to the mapper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapper_config: Option<serde_json::Value>,
}

fn all_log_types() -> Vec<LogType> {
    LogType::ALL.to_vec()
}

fn default_concurrency() -> usize {
    8
}

/// The standard mapper of Redshift audit records.
pub fn default_mapper() -> String {
    "builtin:redshift".into()
}

/// Where the source reads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    /// The buckets the clusters log to.
    Discover,
    /// One bucket.
    Bucket { bucket: String, prefix: String },
    /// A local tree.
    Path(PathBuf),
}

impl RedshiftAuditConfig {
    fn location(&self) -> Location {
        match (&self.path, &self.bucket) {
            (Some(p), _) => Location::Path(p.clone()),
            (None, Some(b)) => Location::Bucket { bucket: b.clone(), prefix: self.prefix.clone().unwrap_or_default() },
            (None, None) => Location::Discover,
        }
    }

    /// The days to read, with `--since`/`--until` taking precedence.
    pub fn days(&self, since: Option<NaiveDate>, until: Option<NaiveDate>, today: NaiveDate) -> Result<DayRange, String> {
        DayRange::resolve(self.since.as_deref(), self.until.as_deref(), since, until, "7d", today)
    }

    /// Whether an audit object is one to read (its cluster and log type are configured).
    pub fn wants(&self, f: &AuditFile) -> bool {
        self.log_types.contains(&f.log_type) && (self.clusters.is_empty() || self.clusters.iter().any(|c| c.eq_ignore_ascii_case(&f.cluster)))
    }
}

impl SourceSpec for RedshiftAuditConfig {
    fn mapper(&self) -> &str {
        &self.mapper
    }

    fn mapper_config(&self) -> Option<&serde_json::Value> {
        self.mapper_config.as_ref()
    }

    fn needs_aws(&self) -> bool {
        self.path.is_none()
    }

    fn local_input(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn validate(&self, _: &ConnectorDefaults) -> Result<(), String> {
        if self.path.is_some() && (self.bucket.is_some() || self.prefix.is_some()) {
            return Err("give either path (a local tree) or bucket/prefix, not both".into());
        }
        if self.prefix.is_some() && self.bucket.is_none() {
            return Err("prefix needs bucket (without bucket, each cluster's own bucket and prefix are read)".into());
        }
        if let Some(b) = &self.bucket
            && (b.is_empty() || b.contains('/'))
        {
            return Err(format!("bucket must be a bucket name (no s3://, no /), got {b:?}"));
        }
        if self.log_types.is_empty() {
            return Err("log_types is empty: name at least one of connectionlog, userlog, useractivitylog".into());
        }
        if cfg!(not(feature = "redshift")) && self.location() == Location::Discover {
            return Err("finding the clusters' buckets needs the `redshift` feature of this build: set bucket or path".into());
        }
        self.days(None, None, chrono::Utc::now().date_naive()).map(|_| ())
    }

    fn label(&self, connector: &ConnectorDefaults) -> String {
        match self.location() {
            Location::Discover => format!("redshift_audit clusters in {}", connector.region),
            Location::Bucket { bucket, prefix } => format!("redshift_audit s3://{bucket}/{}", prefix.trim_matches('/')),
            Location::Path(p) => format!("redshift_audit {}", p.display()),
        }
    }

    fn build(&self, env: &SourceEnv<'_>) -> Result<Box<dyn Source>, String> {
        Ok(Box::new(RedshiftAudit::new(self.clone(), env)?))
    }

    fn probe(&self, connector: &ConnectorDefaults, aws: Option<&AwsSession>) -> Result<String, AwsError> {
        match self.location() {
            Location::Path(p) => match std::fs::read_dir(&p) {
                Ok(_) => Ok(format!("{} is readable", p.display())),
                Err(e) => Err(AwsError { code: "NotReadable".into(), message: format!("{}: {e}", p.display()), permission: None }),
            },
            Location::Bucket { bucket, prefix } => {
                let layout = AwsLogsLayout { bucket: &bucket, prefix: &prefix, services: &[SERVICE_DIR], accounts: &[], regions: &[] };
                probe_bucket(probe_session(aws)?, &bucket, &layout.root())
            }
            Location::Discover => {
                #[cfg(feature = "redshift")]
                {
                    discovery::probe_clusters(self, connector, probe_session(aws)?).map(|(detail, _)| detail)
                }
                #[cfg(not(feature = "redshift"))]
                {
                    let _ = connector;
                    Err(AwsError::config_error("this build has no `redshift` feature: set bucket or path".into()))
                }
            }
        }
    }

    fn probe_rows(&self, connector: &ConnectorDefaults, aws: Option<&AwsSession>) -> Vec<ProbeRow> {
        #[cfg(feature = "redshift")]
        if self.location() == Location::Discover {
            return match probe_session(aws).and_then(|s| discovery::probe_clusters(self, connector, s).map(|r| (s, r))) {
                Err(e) => vec![ProbeRow { target: None, outcome: super::ProbeOutcome::Failed(e) }],
                Ok((session, (detail, clusters))) => {
                    let mut rows = vec![ProbeRow { target: None, outcome: super::ProbeOutcome::Ok(detail) }];
                    rows.extend(clusters.iter().map(|c| discovery::probe_cluster(self, session, c)));
                    rows
                }
            };
        }
        vec![ProbeRow { target: None, outcome: self.probe(connector, aws).into() }]
    }
}

/// `trawl check` of a log bucket: one listing under `prefix`.
fn probe_bucket(session: &AwsSession, bucket: &str, prefix: &str) -> Result<String, AwsError> {
    let r = runtime().block_on(session.s3().list_objects_v2().bucket(bucket).prefix(prefix).max_keys(1).send());
    match r {
        Ok(o) if o.key_count().unwrap_or(0) == 0 => Ok(format!("s3:ListBucket OK on s3://{bucket}; nothing under {prefix} yet")),
        Ok(_) => Ok(format!("s3:ListBucket OK on s3://{bucket} (s3:GetObject is checked when objects are read)")),
        Err(e) => Err(crate::check::bucket_error(describe(&e, "s3:ListBucket"), bucket)),
    }
}

/// The source.
pub struct RedshiftAudit {
    cfg: RedshiftAuditConfig,
    session: Option<AwsSession>,
    region: String,
    days: DayRange,
}

impl RedshiftAudit {
    /// A source over the configured clusters, bucket or tree.
    pub fn new(cfg: RedshiftAuditConfig, env: &SourceEnv<'_>) -> Result<Self, String> {
        let session = if cfg.path.is_some() { None } else { Some(env.session()?) };
        let days = cfg.days(env.since, env.until, chrono::Utc::now().date_naive())?;
        Ok(Self { cfg, session, region: env.connector.region.clone(), days })
    }

    fn fail(&self, message: String) -> SourceError {
        SourceError { source_id: self.id(), message }
    }

    /// The `(bucket, key)` of every object to read, sorted per bucket.
    fn list(&self, session: &AwsSession) -> Result<Vec<(String, String, AuditFile)>, SourceError> {
        let s3 = session.s3();
        let mut out = Vec::new();
        let mut list_one = |bucket: &str, prefix: &str, accounts: &[String], regions: &[String], clusters: Option<&[String]>| -> Result<(), AwsError> {
            let layout = AwsLogsLayout { bucket, prefix, services: &[SERVICE_DIR], accounts, regions };
            let keys = runtime().block_on(layout.keys(&s3, &self.days, |k| parse_name(k).is_some_and(|f| self.cfg.wants(&f))))?;
            for key in keys {
                let f = parse_name(&key).expect("filtered above");
                if clusters.is_none_or(|cs| cs.iter().any(|c| c.eq_ignore_ascii_case(&f.cluster))) {
                    out.push((bucket.to_string(), key, f));
                }
            }
            Ok(())
        };
        match self.cfg.location() {
            Location::Bucket { bucket, prefix } => list_one(&bucket, &prefix, &[], &[], None).map_err(|e| self.fail(format!("bucket {bucket}: {e}")))?,
            Location::Path(_) => unreachable!("a local tree is walked"),
            Location::Discover => {
                #[cfg(feature = "redshift")]
                {
                    let targets = discovery::targets(&self.cfg, session).map_err(|e| self.fail(e.to_string()))?;
                    let (accounts, regions) = (vec![session.account_id.clone()], vec![self.region.clone()]);
                    for t in targets {
                        list_one(&t.bucket, &t.prefix, &accounts, &regions, Some(&t.clusters)).map_err(|e| self.fail(format!("bucket {} (audit logs of {}): {e}", t.bucket, t.clusters.join(", "))))?;
                    }
                }
            }
        }
        Ok(out)
    }

    fn run_s3(&mut self, ctx: &mut SourceContext<'_>, session: &AwsSession) -> Result<(), SourceError> {
        let objects = self.list(session)?;
        tracing::info!(source = %self.id(), objects = objects.len(), first = %self.days.first, last = %self.days.last, "listed Redshift audit logs");
        let mut fetcher = S3Fetcher::new(session.s3(), self.cfg.concurrency);
        let mut todo = 0;
        for (bucket, key, file) in objects {
            if !ctx.is_done(&format!("s3://{bucket}/{key}")) {
                fetcher.push(file, &bucket, &key);
                todo += 1;
            }
        }
        ctx.set_total(todo);
        while let Some(f) = fetcher.next() {
            if ctx.stopping() {
                break;
            }
            let info = object_info(ctx, f.url, &f.tag);
            match f.body {
                Ok(body) => ingest_object(ctx, info, f.tag.log_type, ctx.count_bytes(std::io::Cursor::new(body))),
                Err(e) if e.is_not_found() => ctx.unreadable_unit(info, Checkpoint::Done, format!("object was deleted before it could be read ({e})"), None),
                Err(e) => ctx.retry_later(info, Checkpoint::Done, &format!("cannot fetch: {e}")),
            }
        }
        Ok(())
    }

    fn run_local(&mut self, ctx: &mut SourceContext<'_>, root: &Path) -> Result<(), SourceError> {
        if !root.is_dir() {
            return Err(self.fail(format!("{} is not a directory", root.display())));
        }
        let mut files = Vec::new();
        let mut unlisted = Vec::new();
        for entry in walkdir::WalkDir::new(root).follow_links(true).sort_by_file_name() {
            match entry {
                Ok(e) if e.file_type().is_file() => {
                    if let Some(f) = e.path().to_str().and_then(parse_name).filter(|f| self.cfg.wants(f)) {
                        files.push((e.into_path(), f));
                    }
                }
                Ok(_) => {}
                Err(e) if e.loop_ancestor().is_some() => tracing::warn!("a symlink loops back up the tree; not followed: {e}"),
                Err(e) => {
                    tracing::warn!("cannot list: {e}");
                    unlisted.push(e.to_string());
                }
            }
        }
        let todo: Vec<_> = files.into_iter().filter(|(p, _)| !ctx.is_done(&p.display().to_string())).collect();
        ctx.set_total(todo.len() as u64);
        for (path, file) in todo {
            if ctx.stopping() {
                break;
            }
            let info = object_info(ctx, path.display().to_string(), &file);
            match std::fs::File::open(&path) {
                Ok(f) => ingest_object(ctx, info, file.log_type, ctx.count_bytes(f)),
                Err(e) => ctx.retry_later(info, Checkpoint::Done, &format!("cannot open: {e}")),
            }
        }
        if !unlisted.is_empty() {
            return Err(self.fail(format!("{} path(s) could not be listed, the next run tries again: {}", unlisted.len(), unlisted.join("; "))));
        }
        Ok(())
    }
}

impl Source for RedshiftAudit {
    fn id(&self) -> String {
        match self.cfg.location() {
            Location::Discover => format!("redshift_audit:{}", self.region),
            Location::Bucket { bucket, prefix } => format!("redshift_audit:s3://{bucket}/{}", prefix.trim_matches('/')),
            Location::Path(p) => format!("redshift_audit:{}", p.display()),
        }
    }

    fn kind(&self) -> &'static str {
        KIND
    }

    fn run(&mut self, ctx: &mut SourceContext<'_>) -> Result<(), SourceError> {
        match (self.cfg.location(), self.session.clone()) {
            (Location::Path(p), _) => self.run_local(ctx, &p),
            (_, Some(session)) => self.run_s3(ctx, &session),
            (_, None) => Err(self.fail("needs AWS credentials".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names() {
        let f = parse_name("AWSLogs/123456789012/redshift/us-east-1/2013/10/29/123456789012_redshift_us-east-1_mycluster_userlog_2013-10-29T18:01.gz").unwrap();
        assert_eq!(f, AuditFile { account: "123456789012".into(), region: "us-east-1".into(), cluster: "mycluster".into(), log_type: LogType::UserLog });
        let f = parse_name("111122223333_redshift_eu-west-1_analytics-prod-2_useractivitylog_2024-01-15T10:00.gz").unwrap();
        assert_eq!((f.cluster.as_str(), f.log_type), ("analytics-prod-2", LogType::UserActivityLog));
        assert_eq!(parse_name("111122223333_redshift_eu-west-1_c1_connectionlog_2024-01-15T10:00").unwrap().log_type, LogType::ConnectionLog, "unzipped copies too");
        for bad in [
            "123456789012_redshift_us-east-1_mycluster_querylog_2013-10-29T18:01.gz",
            "123456789012_CloudTrail_us-east-1_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz",
            "12345_redshift_us-east-1_c_userlog_2013-10-29T18:01.gz",
            "123456789012_redshift_us-east-1__userlog_2013-10-29T18:01.gz",
            ".123456789012_redshift_us-east-1_c_userlog_2013-10-29T18:01.gz",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
        assert!(is_audit_key("logs/AWSLogs/123456789012/redshift/us-east-1/2013/10/29/123456789012_redshift_us-east-1_mycluster_userlog_2013-10-29T18:01.gz"));
        assert!(!is_audit_key("AWSLogs/123456789012/CloudTrail/us-east-1/2013/10/29/123456789012_redshift_us-east-1_mycluster_userlog_2013-10-29T18:01.gz"));
    }

    #[test]
    fn activity_start_lines() {
        assert!(is_activity_start(b"'2020-12-08T22:00:03Z UTC [ db=dev user=rdsdb pid=685 userid=1 xid=245578 ]' LOG: SET statement_timeout TO 120000"));
        assert!(!is_activity_start(b"        bc.temporary as temporary,"));
        assert!(!is_activity_start(b"'2020-12-08 22:00:03Z UTC [ db=dev"));
        assert!(!is_activity_start(b"'2020-12-08T22:00:03Z UTC [ user=x"));
        assert!(!is_activity_start(b"'2020-12-08T22:00"));
    }

    fn read_all(input: &[u8], t: LogType) -> Vec<Result<(u64, u64, String), (u64, String)>> {
        let mut r = AuditReader::new(input, t);
        let mut out = Vec::new();
        loop {
            match r.next_record() {
                Ok(Some(rec)) => {
                    assert_eq!(r.context(), Some(t.name().as_bytes()));
                    out.push(Ok((rec.index, rec.offset, String::from_utf8(rec.bytes).unwrap())));
                }
                Ok(None) => break,
                Err(FormatError::BadRecord { offset, record: Some(rec), .. }) => {
                    assert_eq!(offset, rec.offset);
                    out.push(Err((rec.index, String::from_utf8(rec.bytes).unwrap())));
                }
                Err(e) => panic!("{e}"),
            }
        }
        out
    }

    #[test]
    fn connection_and_user_log_lines_and_short_ones_refused_alone() {
        // The documented samples (reference notes §1), a short line, a line without a final newline.
        let conn = b"authenticated |Mon, 7 Dec 2020 20:01:55:177|[local] | |5108|dev |rdsdb |Ident |0| | |0| | | | | | |\n\ngarbage|line\ndisconnecting session |Mon, 7 Dec 2020 20:01:55:304|[local] | |5108|dev |rdsdb |Ident |127304| | |0| | | | | | |";
        let got = read_all(conn, LogType::ConnectionLog);
        assert_eq!(got.len(), 3);
        assert!(matches!(&got[0], Ok((0, 0, l)) if l.starts_with("authenticated ")));
        assert_eq!(got[1], Err((1, "garbage|line".into())));
        assert!(matches!(&got[2], Ok((2, 114, l)) if l.starts_with("disconnecting session ")), "{got:?}");
        let user = b"100|awsuser | |create |1|1|0|9223372036854775807|14888|1080|Thu, 3 Dec 2020 10:18:38:695\r\n";
        assert_eq!(read_all(user, LogType::UserLog), [Ok((0, 0, "100|awsuser | |create |1|1|0|9223372036854775807|14888|1080|Thu, 3 Dec 2020 10:18:38:695".into()))]);
    }

    #[test]
    fn user_activity_queries_keep_their_lines_and_leading_text_is_refused() {
        let input = b"stray text\n'2020-12-08T22:00:03Z UTC [ db=dev user=rdsdb pid=685 userid=1 xid=245578 ]' LOG: SET statement_timeout TO 120000\n'2020-12-08T22:01:55Z UTC [ db=dev user=rdsdb pid=23170 userid=1 xid=245636 ]' LOG: SELECT  ss.node as node,\n        bc.temporary as temporary\nFROM t\n";
        let got = read_all(input, LogType::UserActivityLog);
        assert_eq!(got[0], Err((0, "stray text".into())));
        assert!(matches!(&got[1], Ok((1, 11, l)) if l.ends_with("TO 120000")));
        assert!(matches!(&got[2], Ok((2, _, l)) if l.ends_with("SELECT  ss.node as node,\n        bc.temporary as temporary\nFROM t")), "{got:?}");
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn config_forms() {
        let c: RedshiftAuditConfig = toml::from_str("").unwrap();
        assert_eq!((c.location(), c.log_types.clone(), c.mapper.as_str()), (Location::Discover, LogType::ALL.to_vec(), "builtin:redshift"));
        let d = ConnectorDefaults { name: "c".into(), region: "us-east-1".into(), sqs_url: None, macie_sqs_url: None, inspector_pull_mode: Default::default() };
        let c: RedshiftAuditConfig = toml::from_str("bucket = \"logs\"\nprefix = \"rs/\"\nclusters = [\"Analytics\"]\nlog_types = [\"connectionlog\"]").unwrap();
        assert_eq!(c.location(), Location::Bucket { bucket: "logs".into(), prefix: "rs/".into() });
        assert_eq!(c.label(&d), "redshift_audit s3://logs/rs");
        let f = |cluster: &str, t| AuditFile { account: "1".into(), region: "r".into(), cluster: cluster.into(), log_type: t };
        assert!(c.wants(&f("analytics", LogType::ConnectionLog)));
        assert!(!c.wants(&f("analytics", LogType::UserLog)) && !c.wants(&f("other", LogType::ConnectionLog)));
        assert!(toml::from_str::<RedshiftAuditConfig>("log_types = [\"querylog\"]").is_err());
        let both: RedshiftAuditConfig = toml::from_str("bucket = \"b\"\npath = \"/x\"").unwrap();
        assert!(both.validate(&d).unwrap_err().contains("not both"));
        let prefix_only: RedshiftAuditConfig = toml::from_str("prefix = \"p\"").unwrap();
        assert!(prefix_only.validate(&d).unwrap_err().contains("prefix needs bucket"));
        let none: RedshiftAuditConfig = toml::from_str("log_types = []").unwrap();
        assert!(none.validate(&d).unwrap_err().contains("log_types"));
        let local: RedshiftAuditConfig = toml::from_str("path = \"/data/rs\"").unwrap();
        assert!(!local.needs_aws());
    }
}
