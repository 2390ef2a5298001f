//! API sources: a client-side rate limit per account and region, and backoff on throttling
//! past the SDK's own retries.
//!
//! AWS documents per-account, per-region request rates for the APIs sources page through
//! (CloudTrail LookupEvents: 2 per second). Staying under them is cheaper than being
//! throttled: a throttled call costs a round trip and a backoff, and eats the retry budget the
//! SDK shares across calls.

use std::{future::Future, time::Duration};

use tokio::time::Instant;

use crate::aws::AwsError;

/// At most `per_second` calls per second, spaced evenly (no bursts).
pub struct RateLimiter {
    interval: Duration,
    next: Instant,
}

impl RateLimiter {
    /// A limiter for `per_second` calls per second.
    pub fn new(per_second: f64) -> Self {
        Self { interval: Duration::from_secs_f64(1.0 / per_second.max(0.001)), next: Instant::now() }
    }

    /// Waits until the next call may go.
    pub async fn acquire(&mut self) {
        let now = Instant::now();
        if self.next > now {
            tokio::time::sleep_until(self.next).await;
        }
        self.next = self.next.max(now) + self.interval;
    }
}

/// The config check of a source's `requests_per_second` (the limiter's rate): above 0.
pub fn check_rate(per_second: f64) -> Result<(), String> {
    if !(per_second > 0.0) {
        return Err(format!("requests_per_second must be above 0, got {per_second}"));
    }
    Ok(())
}

/// Whether an AWS error code means "slow down".
pub fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException" | "Throttling" | "ThrottledException" | "TooManyRequestsException" | "RequestLimitExceeded" | "SlowDown" | "RequestThrottled" | "RequestThrottledException" | "ProvisionedThroughputExceededException"
    )
}

/// Calls `call` through the limiter; a throttling error (after the SDK's own retries) is
/// retried up to `attempts` times in all, with exponential backoff from `base` (doubling, with
/// jitter, at most 30 s). Other errors are returned at once.
pub async fn call_with_backoff<T, F, Fut>(limiter: &mut RateLimiter, attempts: u32, base: Duration, mut call: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let mut attempt = 0;
    loop {
        limiter.acquire().await;
        match call().await {
            Err(e) if is_throttling(&e.code) && attempt + 1 < attempts => {
                let wait = base.saturating_mul(1 << attempt.min(8)).min(Duration::from_secs(30));
                // Jitter without a random source: the low bits of the clock.
                let jitter = Duration::from_millis((chrono::Utc::now().timestamp_subsec_nanos() % 100) as u64);
                tracing::info!(code = %e.code, ?wait, "throttled; backing off");
                tokio::time::sleep(wait + jitter).await;
                attempt += 1;
            }
            r => return r,
        }
    }
}

/// Keeps the body of the response a call received, for sources whose raw record is the
/// service's own JSON (a GuardDuty finding, a Shield attack) rather than the SDK's typed
/// copy of it: attach a fresh one per call with `.customize().interceptor(body.clone())`, then
/// [`take`](Self::take) it after a successful `send`. Each attempt's response replaces the
/// last, so a retried call keeps the reply that succeeded.
#[derive(Debug, Clone, Default)]
pub struct RawBody(std::sync::Arc<std::sync::Mutex<Option<Vec<u8>>>>);

impl RawBody {
    /// The body received, once.
    pub fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().expect("not poisoned").take()
    }
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for RawBody {
    fn name(&self) -> &'static str {
        "trawl::RawBody"
    }

    fn read_after_deserialization(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        *self.0.lock().expect("not poisoned") = context.response().body().bytes().map(<[u8]>::to_vec);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_spaces_calls_and_throttling_is_retried_then_given_up() {
        crate::aws::runtime().block_on(async {
            let mut l = RateLimiter::new(20.0);
            let t0 = Instant::now();
            for _ in 0..5 {
                l.acquire().await;
            }
            assert!(t0.elapsed() >= Duration::from_millis(195), "5 calls at 20/s take at least 200 ms less one interval: {:?}", t0.elapsed());
            let mut l = RateLimiter::new(1000.0);
            let mut calls = 0;
            let throttled = || AwsError { code: "ThrottlingException".into(), message: "Rate exceeded".into(), permission: None };
            let r: Result<u32, AwsError> = call_with_backoff(&mut l, 3, Duration::from_millis(1), || {
                calls += 1;
                let n = calls;
                async move { if n < 3 { Err(throttled()) } else { Ok(n) } }
            })
            .await;
            assert_eq!(r.unwrap(), 3);
            calls = 0;
            let r: Result<u32, AwsError> = call_with_backoff(&mut l, 2, Duration::from_millis(1), || {
                calls += 1;
                async { Err(throttled()) }
            })
            .await;
            assert_eq!((r.unwrap_err().code.as_str(), calls), ("ThrottlingException", 2));
            calls = 0;
            let r: Result<u32, AwsError> = call_with_backoff(&mut l, 5, Duration::from_millis(1), || {
                calls += 1;
                async { Err(AwsError { code: "AccessDeniedException".into(), message: String::new(), permission: None }) }
            })
            .await;
            assert!(r.is_err() && calls == 1, "a denial is not retried");
        });
    }
}
