//! Fetching S3 objects for sources: a sliding window of concurrent GetObject calls whose
//! results come back in the order they were asked for.
//!
//! Why whole bodies and not streams: CloudTrail and other AWS log objects are small (a few
//! KB to a few MB compressed), so holding `concurrency` of them costs little, and a finished
//! download never holds a connection open while the slower, synchronous reader parses it.

use std::collections::VecDeque;

use bytes::Bytes;
use tokio::task::JoinHandle;

use crate::aws::{AwsError, describe, runtime};

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
                let out = client.get_object().bucket(&bucket).key(&key).send().await.map_err(|e| describe(&e, "s3:GetObject"))?;
                let body = out.body.collect().await.map_err(|e| AwsError {
                    code: "ReadFailed".into(),
                    message: format!("reading the body of s3://{bucket}/{key}: {e}"),
                    permission: None,
                })?;
                Ok(body.into_bytes())
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
