//! AWS access for connectors and S3 outputs: credentials per auth mode, account verification,
//! SDK clients, and plain-language errors.
//!
//! The pipeline is synchronous (a reader thread per source, mapper threads, a writer); the AWS
//! SDK is async. One process-wide tokio runtime ([`runtime`]) runs every AWS call; sources
//! and sinks `block_on` it from their own threads, and use its tasks for concurrent fetches.

pub mod errors;

use std::{sync::OnceLock, time::Duration};

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig, sts::AssumeRoleProvider};
use aws_credential_types::{Credentials, provider::SharedCredentialsProvider};
use serde::{Deserialize, Serialize};

pub use errors::{AwsError, describe};

/// The process-wide runtime for AWS calls.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("trawl-aws")
            .enable_all()
            .build()
            .expect("cannot start the tokio runtime")
    })
}

/// How a connector (or an S3 output) gets AWS credentials: `auth = { type = "…", … }`.
#[derive(Clone, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthConfig {
    /// aws-config's default chain: environment, shared profile, SSO, web identity, ECS, IMDS.
    #[default]
    Default,
    /// A static access key, normally given as `${ENV}` references.
    Basic {
        /// `AKIA…` / `ASIA…`.
        access_key_id: String,
        /// The secret key. Never printed.
        secret_access_key: String,
        /// For temporary credentials.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_token: Option<String>,
    },
    /// STS AssumeRole, from a static key or (when none is given) the default chain.
    AssumeRole {
        /// `arn:aws:iam::<account>:role/<name>`.
        role_arn: String,
        /// Shows up in the account's CloudTrail as the session name. Default `trawl`.
        #[serde(default = "default_session_name")]
        session_name: String,
        /// When the role's trust policy requires one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        external_id: Option<String>,
        /// The 12-digit account the role must belong to (checked with sts:GetCallerIdentity).
        account_id: String,
        /// Base credentials; the default chain when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access_key_id: Option<String>,
        /// Base credentials.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_access_key: Option<String>,
        /// Base credentials.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_token: Option<String>,
    },
    /// The EC2 instance profile, through IMDSv2.
    InstanceProfile {
        /// The 12-digit account the instance's role must belong to.
        account_id: String,
        /// IMDS endpoint override (default: `AWS_EC2_METADATA_SERVICE_ENDPOINT` or 169.254.169.254).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        imds_endpoint: Option<String>,
    },
}

/// Secrets stay out of logs and panics: only the mode and the non-secret fields are shown.
impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthConfig::Default => f.write_str("Default"),
            AuthConfig::Basic { .. } => f.write_str("Basic { <redacted> }"),
            AuthConfig::AssumeRole { role_arn, session_name, account_id, .. } => {
                write!(f, "AssumeRole {{ role_arn: {role_arn:?}, session_name: {session_name:?}, account_id: {account_id:?}, <credentials redacted> }}")
            }
            AuthConfig::InstanceProfile { account_id, imds_endpoint } => {
                write!(f, "InstanceProfile {{ account_id: {account_id:?}, imds_endpoint: {imds_endpoint:?} }}")
            }
        }
    }
}

fn default_session_name() -> String {
    "trawl".into()
}

impl AuthConfig {
    /// The account id the config says to expect, if any.
    pub fn expected_account(&self) -> Option<&str> {
        match self {
            AuthConfig::AssumeRole { account_id, .. } | AuthConfig::InstanceProfile { account_id, .. } => Some(account_id),
            _ => None,
        }
    }

    /// The mode's name, for messages.
    pub fn mode(&self) -> &'static str {
        match self {
            AuthConfig::Default => "default",
            AuthConfig::Basic { .. } => "basic",
            AuthConfig::AssumeRole { .. } => "assume_role",
            AuthConfig::InstanceProfile { .. } => "instance_profile",
        }
    }

    /// Config checks that need no network.
    pub fn check(&self) -> Result<(), String> {
        if let Some(a) = self.expected_account()
            && !(a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(format!("auth.account_id must be a 12-digit AWS account id, got {a:?}"));
        }
        match self {
            AuthConfig::Basic { access_key_id, secret_access_key, .. } if access_key_id.is_empty() || secret_access_key.is_empty() => {
                Err("auth type \"basic\" needs access_key_id and secret_access_key".into())
            }
            AuthConfig::AssumeRole { role_arn, access_key_id, secret_access_key, .. } => {
                if !role_arn.starts_with("arn:") || !role_arn.contains(":role/") {
                    return Err(format!("auth.role_arn must look like arn:aws:iam::<account>:role/<name>, got {role_arn:?}"));
                }
                if access_key_id.is_some() != secret_access_key.is_some() {
                    return Err("auth: give both access_key_id and secret_access_key, or neither (default chain)".into());
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// The services trawl calls, by the ids of `AWS_ENDPOINT_URL_<SERVICE>` in lower case: the
/// keys of a connector's `endpoints` table.
pub const SERVICES: &[&str] = &["s3", "sqs", "sts", "iam", "ec2", "cloudtrail", "guardduty", "inspector2", "shield", "redshift", "cloudwatch", "cloudwatch_logs"];

/// Checks the keys of an `endpoints` table.
pub fn check_endpoints(endpoints: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in endpoints {
        if !SERVICES.contains(&k.as_str()) {
            return Err(format!("endpoints: unknown service {k:?}; known: {}", SERVICES.join(", ")));
        }
        if !(v.starts_with("http://") || v.starts_with("https://")) {
            return Err(format!("endpoints.{k}: expected an http:// or https:// URL, got {v:?}"));
        }
    }
    Ok(())
}

/// Where and how to reach AWS: what a connector or an S3 output configures.
#[derive(Debug, Clone)]
pub struct AwsTarget {
    /// Region.
    pub region: String,
    /// Endpoint override (VPC endpoints, emulators). S3 then uses path-style addressing.
    pub endpoint_url: Option<String>,
    /// Per-service overrides of `endpoint_url` (keys from [`SERVICES`]).
    pub endpoints: std::collections::BTreeMap<String, String>,
    /// Credentials.
    pub auth: AuthConfig,
    /// SDK attempts per call, including the first (throttling and 5xx are retried with backoff).
    pub max_attempts: u32,
}

/// A connection to one AWS account: SDK config with resolved credentials, and who we are.
#[derive(Clone, Debug)]
pub struct AwsSession {
    /// For building clients.
    pub sdk: SdkConfig,
    /// The account id (from sts:GetCallerIdentity).
    pub account_id: String,
    /// The caller ARN.
    pub arn: String,
    target: AwsTarget,
}

impl AwsTarget {
    /// The endpoint for `service` (an id of [`SERVICES`]): the connector's `endpoints` entry,
    /// else `AWS_ENDPOINT_URL_<SERVICE>` from the environment, else `endpoint_url`; `None`
    /// for AWS's own.
    pub fn endpoint(&self, service: &str) -> Option<String> {
        debug_assert!(SERVICES.contains(&service), "{service}");
        self.endpoints
            .get(service)
            .cloned()
            .or_else(|| std::env::var(format!("AWS_ENDPOINT_URL_{}", service.to_ascii_uppercase())).ok().filter(|v| !v.is_empty()))
            .or_else(|| self.endpoint_url.clone())
    }
}

/// A client of one service from the session's config, with the service's endpoint.
macro_rules! service_client {
    ($session:expr, $sdk:ident, $service:literal) => {{
        let mut b = $sdk::config::Builder::from(&$session.sdk);
        if let Some(url) = $session.target.endpoint($service) {
            b = b.endpoint_url(url);
        }
        $sdk::Client::from_conf(b.build())
    }};
}

impl AwsSession {
    /// Resolves credentials for `target` and checks the account with sts:GetCallerIdentity.
    pub fn connect(target: &AwsTarget) -> Result<AwsSession, AwsError> {
        runtime().block_on(Self::connect_async(target))
    }

    async fn connect_async(target: &AwsTarget) -> Result<AwsSession, AwsError> {
        let base = |creds: Option<SharedCredentialsProvider>, endpoint: Option<String>| {
            let mut l = aws_config::defaults(BehaviorVersion::latest())
                .region(Region::new(target.region.clone()))
                .retry_config(RetryConfig::standard().with_max_attempts(target.max_attempts.max(1)))
                .timeout_config(
                    aws_config::timeout::TimeoutConfig::builder().connect_timeout(Duration::from_secs(10)).read_timeout(Duration::from_secs(120)).build(),
                );
            if let Some(url) = endpoint {
                l = l.endpoint_url(url);
            }
            if let Some(c) = creds {
                l = l.credentials_provider(c);
            }
            l
        };
        let static_creds = |akid: &str, secret: &str, token: &Option<String>| {
            SharedCredentialsProvider::new(Credentials::new(akid, secret, token.clone(), None, "trawl-config"))
        };
        let sdk = match &target.auth {
            AuthConfig::Default => base(None, target.endpoint_url.clone()).load().await,
            AuthConfig::Basic { access_key_id, secret_access_key, session_token } => {
                base(Some(static_creds(access_key_id, secret_access_key, session_token)), target.endpoint_url.clone()).load().await
            }
            AuthConfig::AssumeRole { role_arn, session_name, external_id, access_key_id, secret_access_key, session_token, .. } => {
                let base_creds = match (access_key_id, secret_access_key) {
                    (Some(a), Some(s)) => Some(static_creds(a, s, session_token)),
                    _ => None,
                };
                // AssumeRole goes to STS: its endpoint, not the connector's default one.
                let base_sdk = base(base_creds, target.endpoint("sts")).load().await;
                let mut b = AssumeRoleProvider::builder(role_arn).session_name(session_name).region(Region::new(target.region.clone())).configure(&base_sdk);
                if let Some(id) = external_id {
                    b = b.external_id(id);
                }
                let provider = b.build().await;
                base(Some(SharedCredentialsProvider::new(provider)), target.endpoint_url.clone()).load().await
            }
            AuthConfig::InstanceProfile { imds_endpoint, .. } => {
                let mut b = aws_config::imds::credentials::ImdsCredentialsProvider::builder();
                if let Some(url) = imds_endpoint {
                    let client = aws_config::imds::Client::builder()
                        .endpoint(url)
                        .map_err(|e| AwsError::config(format!("auth.imds_endpoint {url:?}: {e}")))?
                        .build();
                    b = b.imds_client(client);
                }
                base(Some(SharedCredentialsProvider::new(b.build())), target.endpoint_url.clone()).load().await
            }
        };
        let mut session = AwsSession { sdk, account_id: String::new(), arn: String::new(), target: target.clone() };
        let sts = session.sts();
        let who = sts.get_caller_identity().send().await.map_err(|e| describe(&e, "sts:GetCallerIdentity").with_context(format!("credentials ({} auth)", target.auth.mode())))?;
        let account_id = who.account().unwrap_or_default().to_string();
        let arn = who.arn().unwrap_or_default().to_string();
        if let Some(want) = target.auth.expected_account()
            && want != account_id
        {
            return Err(AwsError {
                code: "AccountMismatch".into(),
                message: format!("credentials belong to account {account_id} ({arn}), but auth.account_id is {want}"),
                permission: None,
            });
        }
        (session.account_id, session.arn) = (account_id, arn);
        Ok(session)
    }

    /// The endpoint a service's calls go to, when not AWS's own.
    pub fn endpoint(&self, service: &str) -> Option<String> {
        self.target.endpoint(service)
    }

    /// An S3 client (path-style addressing when an endpoint is configured).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let mut b = aws_sdk_s3::config::Builder::from(&self.sdk);
        if let Some(url) = self.endpoint("s3") {
            b = b.endpoint_url(url).force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(b.build())
    }

    /// An SQS client.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        service_client!(self, aws_sdk_sqs, "sqs")
    }

    /// An STS client.
    pub fn sts(&self) -> aws_sdk_sts::Client {
        service_client!(self, aws_sdk_sts, "sts")
    }

    /// A CloudTrail client for `region`.
    #[cfg(feature = "cloudtrail")]
    pub fn cloudtrail_in(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        let mut b = aws_sdk_cloudtrail::config::Builder::from(&self.sdk).region(Region::new(region.to_string()));
        if let Some(url) = self.endpoint("cloudtrail") {
            b = b.endpoint_url(url);
        }
        aws_sdk_cloudtrail::Client::from_conf(b.build())
    }

    /// A Redshift client (the connector's region).
    #[cfg(feature = "redshift")]
    pub fn redshift(&self) -> aws_sdk_redshift::Client {
        service_client!(self, aws_sdk_redshift, "redshift")
    }

    /// An EC2 client for `region`.
    #[cfg(feature = "vpc_flow")]
    pub fn ec2_in(&self, region: &str) -> aws_sdk_ec2::Client {
        let mut b = aws_sdk_ec2::config::Builder::from(&self.sdk).region(Region::new(region.to_string()));
        if let Some(url) = self.endpoint("ec2") {
            b = b.endpoint_url(url);
        }
        aws_sdk_ec2::Client::from_conf(b.build())
    }

    /// An IAM client (IAM is global).
    #[cfg(any(feature = "vpc_flow", feature = "iam"))]
    pub fn iam(&self) -> aws_sdk_iam::Client {
        service_client!(self, aws_sdk_iam, "iam")
    }

    /// A GuardDuty client (the connector's region).
    #[cfg(feature = "guardduty")]
    pub fn guardduty(&self) -> aws_sdk_guardduty::Client {
        service_client!(self, aws_sdk_guardduty, "guardduty")
    }

    /// An Amazon Inspector (v2) client (the connector's region).
    #[cfg(feature = "inspector")]
    pub fn inspector2(&self) -> aws_sdk_inspector2::Client {
        service_client!(self, aws_sdk_inspector2, "inspector2")
    }

    /// A Shield client. Shield Advanced's API lives in us-east-1 whatever the connector's region.
    #[cfg(feature = "shield")]
    pub fn shield(&self) -> aws_sdk_shield::Client {
        let mut b = aws_sdk_shield::config::Builder::from(&self.sdk).region(Region::new("us-east-1"));
        if let Some(url) = self.endpoint("shield") {
            b = b.endpoint_url(url);
        }
        aws_sdk_shield::Client::from_conf(b.build())
    }

    /// A CloudWatch Logs client (the connector's region).
    #[cfg(feature = "cloudwatch_logs")]
    pub fn cloudwatch_logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        service_client!(self, aws_sdk_cloudwatchlogs, "cloudwatch_logs")
    }

    /// A CloudWatch client (the connector's region).
    #[cfg(feature = "cloudwatch_alarms")]
    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        service_client!(self, aws_sdk_cloudwatch, "cloudwatch")
    }

    /// The connector's region.
    pub fn region(&self) -> &str {
        &self.target.region
    }
}

/// `s3://bucket/prefix` → (bucket, prefix without leading or trailing `/`).
pub fn parse_s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return None;
    }
    Some((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls() {
        assert_eq!(parse_s3_url("s3://b/p/q/"), Some(("b".into(), "p/q".into())));
        assert_eq!(parse_s3_url("s3://b"), Some(("b".into(), "".into())));
        assert_eq!(parse_s3_url("s3:///x"), None);
        assert_eq!(parse_s3_url("/tmp/x"), None);
    }

    #[test]
    fn service_endpoints_come_from_the_table_then_the_environment_then_endpoint_url() {
        let mut t = AwsTarget { region: "us-east-1".into(), endpoint_url: Some("http://all".into()), endpoints: Default::default(), auth: AuthConfig::Default, max_attempts: 1 };
        t.endpoints.insert("cloudtrail".into(), "http://ct".into());
        assert_eq!(t.endpoint("cloudtrail").as_deref(), Some("http://ct"));
        assert_eq!(t.endpoint("sqs").as_deref(), Some("http://all"));
        // SAFETY: the variable is unique to this test.
        unsafe { std::env::set_var("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "http://logs") };
        assert_eq!(t.endpoint("cloudwatch_logs").as_deref(), Some("http://logs"));
        t.endpoint_url = None;
        assert_eq!(t.endpoint("s3"), None);
        let mut bad = std::collections::BTreeMap::new();
        bad.insert("cloudtrial".to_string(), "http://x".to_string());
        assert!(check_endpoints(&bad).unwrap_err().contains("unknown service \"cloudtrial\""));
        bad.clear();
        bad.insert("sqs".to_string(), "localhost:1".to_string());
        assert!(check_endpoints(&bad).unwrap_err().contains("endpoints.sqs"));
    }

    #[test]
    fn auth_checks() {
        let a: AuthConfig = toml::from_str("type = \"assume_role\"\nrole_arn = \"arn:aws:iam::123456789012:role/r\"\naccount_id = \"1234\"").unwrap();
        assert!(a.check().unwrap_err().contains("12-digit"));
        let a: AuthConfig = toml::from_str("type = \"assume_role\"\nrole_arn = \"arn:aws:iam::123456789012:role/r\"\naccount_id = \"123456789012\"").unwrap();
        assert_eq!(a.check(), Ok(()));
        assert_eq!(a.expected_account(), Some("123456789012"));
        let b: AuthConfig = toml::from_str("type = \"basic\"\naccess_key_id = \"AKIAEXAMPLE\"\nsecret_access_key = \"s3cr3t\"").unwrap();
        let shown = format!("{b:?}");
        assert!(!shown.contains("s3cr3t") && !shown.contains("AKIAEXAMPLE"), "{shown}");
        let e = toml::from_str::<AuthConfig>("type = \"basic\"\naccess_key_id = \"a\"\nsecret = \"b\"").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }
}
