//! S3 for sources: listing log buckets in the `AWSLogs/` layout that AWS services deliver to,
//! and fetching objects with a sliding window of concurrent GetObject calls whose results
//! come back in the order they were asked for.
//!
//! Why whole bodies and not streams: CloudTrail and other AWS log objects are small (a few
//! KB to a few MB compressed), so holding `concurrency` of them costs little, and a finished
//! download never holds a connection open while the slower, synchronous reader parses it.

use std::collections::VecDeque;

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::days::DayRange;
use crate::aws::{AwsError, describe, runtime};

/// GETs of one object whose body breaks off before the object is given up for this run.
const BODY_ATTEMPTS: u32 = 3;

/// One object to fetch, with the caller's tag.
pub struct Fetched<T> {
    /// The caller's tag.
    pub tag: T,
    /// `s3://bucket/key`.
    pub url: String,
    /// The body, or why not.
    pub body: Result<Bytes, AwsError>,
}

/// Up to `concurrency` GetObject calls in flight; [`S3Fetcher::next`] yields them in order.
pub struct S3Fetcher<T> {
    client: aws_sdk_s3::Client,
    concurrency: usize,
    queued: VecDeque<(T, String, String)>,
    in_flight: VecDeque<(T, String, JoinHandle<Result<Bytes, AwsError>>)>,
}

impl<T> S3Fetcher<T> {
    /// A fetcher using `client`.
    pub fn new(client: aws_sdk_s3::Client, concurrency: usize) -> Self {
        Self { client, concurrency: concurrency.max(1), queued: VecDeque::new(), in_flight: VecDeque::new() }
    }

    /// Queues `s3://bucket/key`.
    pub fn push(&mut self, tag: T, bucket: &str, key: &str) {
        self.queued.push_back((tag, bucket.to_string(), key.to_string()));
        self.fill();
    }

    /// Objects queued or in flight.
    pub fn len(&self) -> usize {
        self.queued.len() + self.in_flight.len()
    }

    /// Whether nothing is queued or in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn fill(&mut self) {
        while self.in_flight.len() < self.concurrency {
            let Some((tag, bucket, key)) = self.queued.pop_front() else { break };
            let url = format!("s3://{bucket}/{key}");
            let client = self.client.clone();
            let handle = runtime().spawn(async move {
                // The SDK retries failed requests, but not a body cut off mid-stream (a reset
                // connection, a proxy timing out): that gets a fresh GET here, twice.
                let mut attempt = 1;
                loop {
                    let out = client.get_object().bucket(&bucket).key(&key).send().await.map_err(|e| describe(&e, "s3:GetObject"))?;
                    match out.body.collect().await {
                        Ok(body) => return Ok(body.into_bytes()),
                        Err(e) if attempt < BODY_ATTEMPTS => {
                            tracing::info!(object = %format!("s3://{bucket}/{key}"), attempt, "the body was cut off ({e}); fetching it again");
                            attempt += 1;
                        }
                        Err(e) => {
                            return Err(AwsError {
                                code: "ReadFailed".into(),
                                message: format!("reading the body of s3://{bucket}/{key} failed {BODY_ATTEMPTS} times: {e}"),
                                permission: None,
                            });
                        }
                    }
                }
            });
            self.in_flight.push_back((tag, url, handle));
        }
    }

    /// The next object in request order, blocking until it is downloaded.
    pub fn next(&mut self) -> Option<Fetched<T>> {
        let (tag, url, handle) = self.in_flight.pop_front()?;
        let body = runtime().block_on(handle).unwrap_or_else(|e| {
            Err(AwsError { code: "TaskFailed".into(), message: format!("fetch of {url} did not finish: {e}"), permission: None })
        });
        self.fill();
        Some(Fetched { tag, url, body })
    }
}

/// Lists one level under `prefix` (delimiter `/`): the sub-prefixes.
pub async fn list_dirs(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<String>, AwsError> {
    let mut out = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).prefix(prefix).delimiter("/").into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| describe(&e, "s3:ListBucket"))?;
        out.extend(page.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_string)));
    }
    Ok(out)
}

/// Lists every key under `prefix`.
pub async fn list_keys(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<String>, AwsError> {
    let mut out = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| describe(&e, "s3:ListBucket"))?;
        out.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
    }
    Ok(out)
}

/// Whether `s` is a 12-digit AWS account id.
pub fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A bucket an AWS service delivers logs to, in its layout:
/// `[prefix/]AWSLogs/[o-org/]<account>/<service>/<region>/YYYY/MM/DD/<file>`, for one or
/// more service folders (CloudTrail's log files and its Insights files).
pub struct AwsLogsLayout<'a> {
    /// The bucket.
    pub bucket: &'a str,
    /// The key prefix before `AWSLogs/` (may be empty).
    pub prefix: &'a str,
    /// The service folders (`CloudTrail` and `CloudTrail-Insight`, `vpcflowlogs`, `redshift`).
    pub services: &'a [&'a str],
    /// Accounts to read; empty: every account found (also under an organization's `o-…/`).
    pub accounts: &'a [String],
    /// Regions to read; empty: every region found per account.
    pub regions: &'a [String],
}

impl AwsLogsLayout<'_> {
    /// `[prefix/]AWSLogs/`.
    pub fn root(&self) -> String {
        let p = self.prefix.trim_matches('/');
        if p.is_empty() { "AWSLogs/".into() } else { format!("{p}/AWSLogs/") }
    }

    /// The `…/<account>/` prefixes to read.
    async fn account_prefixes(&self, s3: &aws_sdk_s3::Client) -> Result<Vec<String>, AwsError> {
        let root = self.root();
        let mut accounts = Vec::new();
        for dir in list_dirs(s3, self.bucket, &root).await? {
            let name = dir[root.len()..].trim_end_matches('/');
            if name.starts_with("o-") {
                for sub in list_dirs(s3, self.bucket, &dir).await? {
                    if is_account(sub[dir.len()..].trim_end_matches('/')) {
                        accounts.push(sub);
                    }
                }
            } else if is_account(name) {
                accounts.push(dir);
            }
        }
        if !self.accounts.is_empty() {
            accounts.retain(|p| self.accounts.iter().any(|a| p.ends_with(&format!("/{a}/"))));
        }
        Ok(accounts)
    }

    /// Every key of the days in `days`, sorted, that `keep` accepts.
    pub async fn keys(&self, s3: &aws_sdk_s3::Client, days: &DayRange, keep: impl Fn(&str) -> bool) -> Result<Vec<String>, AwsError> {
        let mut keys = Vec::new();
        for account in self.account_prefixes(s3).await? {
            for service in self.services {
                let service = format!("{account}{service}/");
                let regions = if self.regions.is_empty() {
                    list_dirs(s3, self.bucket, &service).await?
                } else {
                    self.regions.iter().map(|r| format!("{service}{r}/")).collect()
                };
                for region in regions {
                    for day in days.iter() {
                        let prefix = format!("{region}{}/", day.format("%Y/%m/%d"));
                        keys.extend(list_keys(s3, self.bucket, &prefix).await?.into_iter().filter(|k| keep(k)));
                    }
                }
            }
        }
        keys.sort();
        Ok(keys)
    }
}
