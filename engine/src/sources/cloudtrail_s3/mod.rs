//! Source `cloudtrail_s3`: a CloudTrail trail bucket, read for a range of days.
//!
//! Keys look like `[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>`,
//! and for a trail with CloudTrail Insights, `…/<account>/CloudTrail-Insight/<region>/…`
//! (read unless `insights = false`). Accounts (including those under an organization trail's
//! `o-…/` folder) and regions are discovered by listing with a delimiter unless the config
//! names them; then one listing per account, service folder, region and day. Digest files
//! are skipped. Objects are fetched with
//! bounded concurrency and go through the same reader as local files; each object is
//! checkpointed once its records are durable, so an interrupted backfill resumes where it was.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{ConnectorDefaults, 
    Checkpoint, DayRange, Source, SourceContext, SourceEnv, SourceError, SourceSpec,
    cloudtrail_files::{SERVICE_DIRS, account_region, is_log_file},
    common::{
        ingest,
        s3::{AwsLogsLayout, S3Fetcher},
    },
    probe_session,
};
use crate::{
    aws::{AwsError, AwsSession, describe, runtime},
    batch::ObjectInfo,
};

/// `type = "cloudtrail_s3"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudTrailS3Config {
    /// The trail's bucket.
    pub bucket: String,
    /// The trail's S3 key prefix (the part before `AWSLogs/`), if it has one.
    #[serde(default)]
    pub prefix: String,
    /// Account ids to read. Default: every account found under `AWSLogs/` (and `AWSLogs/o-…/`).
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Regions to read. Default: every region found per account.
    #[serde(default)]
    pub regions: Vec<String>,
    /// First day (UTC) to read: `YYYY-MM-DD` or `<N>d` (N days ago). Default `7d`.
    /// `trawl run --since` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Last day (UTC) to read, inclusive; same forms. Default today. `--until` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Objects downloaded at once. Default 8.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Also read the trail's Insights files (`…/<account>/CloudTrail-Insight/<region>/…`:
    /// unusual API call or error rates, events of their own). Default true.
    #[serde(default = "default_insights")]
    pub insights: bool,
    /// Mapper: `builtin:cloudtrail` (default), `builtin:passthrough` or a `.wasm` path.
    #[serde(default = "super::default_cloudtrail_mapper")]
    pub mapper: String,
    /// Config table handed to the mapper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapper_config: Option<serde_json::Value>,
}

fn default_concurrency() -> usize {
    8
}

fn default_insights() -> bool {
    true
}

impl CloudTrailS3Config {
    /// The days to read, with `--since`/`--until` taking precedence.
    pub fn days(&self, since: Option<NaiveDate>, until: Option<NaiveDate>, today: NaiveDate) -> Result<DayRange, String> {
        DayRange::resolve(self.since.as_deref(), self.until.as_deref(), since, until, "7d", today)
    }

    fn layout(&self) -> AwsLogsLayout<'_> {
        let services: &[&str] = if self.insights { SERVICE_DIRS } else { &SERVICE_DIRS[..1] };
        AwsLogsLayout { bucket: &self.bucket, prefix: &self.prefix, services, accounts: &self.accounts, regions: &self.regions }
    }
}

impl SourceSpec for CloudTrailS3Config {
    fn mapper(&self) -> &str {
        &self.mapper
    }

    fn mapper_config(&self) -> Option<&serde_json::Value> {
        self.mapper_config.as_ref()
    }

    fn validate(&self, _: &ConnectorDefaults) -> Result<(), String> {
        if self.bucket.is_empty() || self.bucket.contains('/') {
            return Err(format!("bucket must be a bucket name (no s3://, no /), got {:?}", self.bucket));
        }
        self.days(None, None, chrono::Utc::now().date_naive()).map(|_| ())
    }

    fn label(&self, _: &ConnectorDefaults) -> String {
        format!("cloudtrail_s3 s3://{}/{}", self.bucket, self.prefix.trim_matches('/'))
    }

    fn build(&self, env: &SourceEnv<'_>) -> Result<Box<dyn Source>, String> {
        Ok(Box::new(CloudTrailS3::new(self.clone(), env)?))
    }

    fn probe(&self, _: &ConnectorDefaults, aws: Option<&AwsSession>) -> Result<String, AwsError> {
        let s3 = probe_session(aws)?.s3();
        let prefix = self.layout().root();
        let r = runtime().block_on(s3.list_objects_v2().bucket(&self.bucket).prefix(&prefix).max_keys(1).send());
        match r {
            Ok(o) if o.key_count().unwrap_or(0) == 0 => Ok(format!("s3:ListBucket OK; nothing under {prefix} yet")),
            Ok(_) => Ok("s3:ListBucket OK (s3:GetObject is checked when objects are read)".into()),
            Err(e) => Err(crate::check::bucket_error(describe(&e, "s3:ListBucket"), &self.bucket)),
        }
    }
}

/// The source.
pub struct CloudTrailS3 {
    cfg: CloudTrailS3Config,
    session: AwsSession,
    days: DayRange,
}

impl CloudTrailS3 {
    /// A source over the configured bucket, reading `days`.
    pub fn new(cfg: CloudTrailS3Config, env: &SourceEnv<'_>) -> Result<Self, String> {
        let session = env.session()?;
        let today = chrono::Utc::now().date_naive();
        let days = cfg.days(env.since, env.until, today)?;
        Ok(Self { cfg, session, days })
    }
}

impl Source for CloudTrailS3 {
    fn id(&self) -> String {
        let p = self.cfg.prefix.trim_matches('/');
        format!("cloudtrail_s3:s3://{}/{}", self.cfg.bucket, p)
    }

    fn kind(&self) -> &'static str {
        "cloudtrail_s3"
    }

    fn run(&mut self, ctx: &mut SourceContext<'_>) -> Result<(), SourceError> {
        let fail = |e: AwsError| SourceError { source_id: self.id(), message: format!("bucket {}: {e}", self.cfg.bucket) };
        let keys = runtime().block_on(self.cfg.layout().keys(&self.session.s3(), &self.days, |k| is_log_file(std::path::Path::new(k)))).map_err(fail)?;
        tracing::info!(bucket = %self.cfg.bucket, objects = keys.len(), first = %self.days.first, last = %self.days.last, "listed trail bucket");
        let mut fetcher = S3Fetcher::new(self.session.s3(), self.cfg.concurrency);
        let mut todo = 0;
        for key in keys {
            let url = format!("s3://{}/{key}", self.cfg.bucket);
            if !ctx.is_done(&url) {
                fetcher.push((), &self.cfg.bucket, &key);
                todo += 1;
            }
        }
        ctx.set_total(todo);
        while let Some(f) = fetcher.next() {
            if ctx.stopping() {
                break;
            }
            let (aws_account_id, region) = account_region(&f.url);
            let info = ObjectInfo { connector: ctx.connector(), source_kind: self.kind(), aws_account_id, region, object: f.url };
            match f.body {
                Ok(body) => ingest::cloudtrail_log(ctx, info, ctx.count_bytes(std::io::Cursor::new(body))),
                Err(e) if e.is_not_found() => ctx.unreadable_unit(info, Checkpoint::Done, format!("object was deleted before it could be read ({e})"), None),
                // Throttling past the retries, a cut-off body, access: may pass, so not checkpointed.
                Err(e) => ctx.retry_later(info, Checkpoint::Done, &format!("cannot fetch: {e}")),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(since: Option<&str>, until: Option<&str>) -> CloudTrailS3Config {
        let mut c: CloudTrailS3Config = toml::from_str("bucket = \"b\"").unwrap();
        c.since = since.map(Into::into);
        c.until = until.map(Into::into);
        c
    }

    #[test]
    fn day_range_from_config_and_flags() {
        let today = NaiveDate::from_ymd_opt(2024, 3, 10).unwrap();
        let r = cfg(None, None).days(None, None, today).unwrap();
        assert_eq!((r.first.to_string(), r.last.to_string()), ("2024-03-03".into(), "2024-03-10".into()));
        let r = cfg(Some("2024-02-28"), Some("2024-03-01")).days(None, None, today).unwrap();
        assert_eq!(r.iter().map(|d| d.to_string()).collect::<Vec<_>>(), ["2024-02-28", "2024-02-29", "2024-03-01"]);
        let flag = NaiveDate::from_ymd_opt(2024, 3, 9).unwrap();
        let r = cfg(Some("2024-02-28"), None).days(Some(flag), None, today).unwrap();
        assert_eq!(r.first, flag);
        assert!(cfg(Some("2024-03-05"), Some("2024-03-01")).days(None, None, today).unwrap_err().contains("after"));
        assert!(cfg(Some("yesterday"), None).days(None, None, today).unwrap_err().contains("since"));
    }

    #[test]
    fn insights_files_are_read_unless_switched_off() {
        assert_eq!(cfg(None, None).layout().services, ["CloudTrail", "CloudTrail-Insight"]);
        let off: CloudTrailS3Config = toml::from_str("bucket = \"b\"\ninsights = false").unwrap();
        assert_eq!(off.layout().services, ["CloudTrail"]);
    }
}
