//! Source `cloudtrail_s3`: a CloudTrail trail bucket, read for a range of days.
//!
//! Keys look like `[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>`.
//! Accounts (including those under an organization trail's `o-…/` folder) and regions are
//! discovered by listing with a delimiter unless the config names them; then one listing per
//! account, region and day. Digest and Insights files are skipped. Objects are fetched with
//! bounded concurrency and go through the same reader as local files; each object is
//! checkpointed once its records are durable, so an interrupted backfill resumes where it was.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{
    DayRange, Source, SourceContext, SourceEnv, SourceError, cloudtrail_files::account_region, cloudtrail_files::is_log_file,
    ingest_cloudtrail_log, s3_objects::S3Fetcher,
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

impl CloudTrailS3Config {
    /// The days to read, with `--since`/`--until` taking precedence.
    pub fn days(&self, since: Option<NaiveDate>, until: Option<NaiveDate>, today: NaiveDate) -> Result<DayRange, String> {
        let first = match since {
            Some(d) => d,
            None => super::parse_day(self.since.as_deref().unwrap_or("7d"), today).map_err(|e| format!("since: {e}"))?,
        };
        let last = match until {
            Some(d) => d,
            None => match &self.until {
                Some(u) => super::parse_day(u, today).map_err(|e| format!("until: {e}"))?,
                None => today,
            },
        };
        if first > last {
            return Err(format!("since ({first}) is after until ({last})"));
        }
        Ok(DayRange { first, last })
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
        let session = env.aws.cloned().ok_or("needs AWS credentials")?;
        let today = chrono::Utc::now().date_naive();
        let days = cfg.days(env.since, env.until, today)?;
        Ok(Self { cfg, session, days })
    }

    fn root(&self) -> String {
        let p = self.cfg.prefix.trim_matches('/');
        if p.is_empty() { "AWSLogs/".into() } else { format!("{p}/AWSLogs/") }
    }
}

/// Lists one level under `prefix` (delimiter `/`): the sub-prefixes.
async fn list_dirs(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<String>, AwsError> {
    let mut out = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).prefix(prefix).delimiter("/").into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| describe(&e, "s3:ListBucket"))?;
        out.extend(page.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_string)));
    }
    Ok(out)
}

/// Lists every key under `prefix`.
async fn list_keys(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<String>, AwsError> {
    let mut out = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| describe(&e, "s3:ListBucket"))?;
        out.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
    }
    Ok(out)
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

impl CloudTrailS3 {
    /// The `…/<account>/` prefixes to read.
    async fn account_prefixes(&self, s3: &aws_sdk_s3::Client) -> Result<Vec<String>, AwsError> {
        let root = self.root();
        let top = list_dirs(s3, &self.cfg.bucket, &root).await?;
        let mut accounts = Vec::new();
        for dir in top {
            let name = dir[root.len()..].trim_end_matches('/');
            if name.starts_with("o-") {
                for sub in list_dirs(s3, &self.cfg.bucket, &dir).await? {
                    if is_account(sub[dir.len()..].trim_end_matches('/')) {
                        accounts.push(sub);
                    }
                }
            } else if is_account(name) {
                accounts.push(dir);
            }
        }
        if !self.cfg.accounts.is_empty() {
            accounts.retain(|p| self.cfg.accounts.iter().any(|a| p.ends_with(&format!("/{a}/"))));
        }
        Ok(accounts)
    }

    /// Every log file key in the day range, sorted.
    async fn keys(&self) -> Result<Vec<String>, AwsError> {
        let s3 = self.session.s3();
        let mut keys = Vec::new();
        for account in self.account_prefixes(&s3).await? {
            let regions = if self.cfg.regions.is_empty() {
                list_dirs(&s3, &self.cfg.bucket, &format!("{account}CloudTrail/")).await?
            } else {
                self.cfg.regions.iter().map(|r| format!("{account}CloudTrail/{r}/")).collect()
            };
            for region in regions {
                for day in self.days.iter() {
                    let prefix = format!("{region}{}/", day.format("%Y/%m/%d"));
                    keys.extend(list_keys(&s3, &self.cfg.bucket, &prefix).await?.into_iter().filter(|k| is_log_file(std::path::Path::new(k))));
                }
            }
        }
        keys.sort();
        Ok(keys)
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
        let keys = runtime().block_on(self.keys()).map_err(fail)?;
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
        ctx.set_total_objects(todo);
        while let Some(f) = fetcher.next() {
            let (aws_account_id, region) = account_region(&f.url);
            let info = ObjectInfo { connector: ctx.connector(), source_kind: self.kind(), aws_account_id, region, object: f.url };
            match f.body {
                Ok(body) => ingest_cloudtrail_log(ctx, info, ctx.count_bytes(std::io::Cursor::new(body))),
                Err(e) => {
                    ctx.unreadable_object(info, format!("cannot fetch: {e}"), None);
                }
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
}
