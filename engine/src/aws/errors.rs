//! AWS errors in plain words: the service's error code, its message, and — for denials — the
//! permission (and the managed policy that grants it) that is missing.

use aws_smithy_runtime_api::client::{orchestrator::HttpResponse, result::SdkError};
use aws_smithy_types::error::{display::DisplayErrorContext, metadata::ProvideErrorMetadata};

/// An AWS call that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The AWS error code (`AccessDenied`, `NoSuchBucket`, …), or trawl's own for transport
    /// failures (`ConnectionFailed`, `Timeout`, `AccountMismatch`, `Config`).
    pub code: String,
    /// What happened, without secrets.
    pub message: String,
    /// For denials: `<ManagedPolicy>: <action> denied`.
    pub permission: Option<String>,
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.permission {
            Some(p) => write!(f, "{p} ({}: {})", self.code, self.message),
            None => write!(f, "{}: {}", self.code, self.message),
        }
    }
}

impl std::error::Error for AwsError {}

impl AwsError {
    pub(crate) fn config(message: String) -> Self {
        Self { code: "Config".into(), message, permission: None }
    }

    /// A config problem found while preparing a call.
    pub fn config_error(message: String) -> Self {
        Self::config(message)
    }

    /// Prefixes the message with what was being done.
    pub fn with_context(mut self, what: impl std::fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// Whether the error is a permission denial.
    pub fn is_denied(&self) -> bool {
        self.permission.is_some()
    }

    /// Whether the error says the object or key does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self.code.as_str(), "NoSuchKey" | "NotFound" | "404")
    }
}

/// The AWS managed policy that grants `action` read access, for the hint in denials.
pub fn managed_policy_for(action: &str) -> &'static str {
    match action.split(':').next().unwrap_or("") {
        "s3" if action.contains("Put") || action.contains("Multipart") => "AmazonS3FullAccess (or s3:PutObject on the output prefix)",
        "s3" => "AmazonS3ReadOnlyAccess",
        "sqs" => "AmazonSQSFullAccess (or sqs:ReceiveMessage, sqs:DeleteMessage, sqs:ChangeMessageVisibility, sqs:GetQueueAttributes on the queue)",
        "cloudtrail" => "AWSCloudTrailReadOnlyAccess",
        "sts" => "sts:GetCallerIdentity (allowed to every principal unless an SCP denies it)",
        "guardduty" => "AmazonGuardDutyReadOnlyAccess",
        "inspector2" => "AmazonInspector2ReadOnlyAccess",
        "inspector" => "AmazonInspectorReadOnlyAccess (Inspector Classic, end of support: use Amazon Inspector v2)",
        "shield" => "AWSShieldDRTAccessPolicy (or shield:DescribeSubscription, shield:ListAttacks, shield:DescribeAttack)",
        "iam" => "IAMReadOnlyAccess",
        "logs" => "CloudWatchLogsReadOnlyAccess",
        "cloudwatch" => "CloudWatchReadOnlyAccess",
        "ec2" => "AmazonEC2ReadOnlyAccess",
        "redshift" => "AmazonRedshiftReadOnlyAccess",
        _ => "a policy allowing it",
    }
}

const DENIED: &[&str] = &["AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "AllAccessDisabled", "AuthorizationErrorException"];
const BAD_CREDENTIALS: &[&str] = &["InvalidClientTokenId", "SignatureDoesNotMatch", "InvalidAccessKeyId", "UnrecognizedClientException", "ExpiredToken", "ExpiredTokenException", "InvalidToken"];

/// Describes a failed SDK call of `action` (`s3:ListBucket`).
pub fn describe<E>(err: &SdkError<E, HttpResponse>, action: &str) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let raw = se.raw();
            // A body the SDK could not parse (an XML error where JSON was expected — moto's
            // IAM layer, proxies, load balancers): take the code from the body or the status.
            let fallback = || {
                let body = std::str::from_utf8(raw.body().bytes().unwrap_or_default()).unwrap_or("");
                let tag = |t: &str| body.split_once(&format!("<{t}>")).and_then(|(_, r)| r.split_once(&format!("</{t}>"))).map(|(v, _)| v.to_string());
                let code = tag("Code").unwrap_or_else(|| {
                    match raw.status().as_u16() {
                        401 | 403 => "AccessDenied",
                        404 => "NotFound",
                        429 => "Throttling",
                        s if s >= 500 => "ServiceUnavailable",
                        _ => "Unknown",
                    }
                    .to_string()
                });
                (code, tag("Message").unwrap_or_else(|| format!("HTTP {}", raw.status().as_u16())))
            };
            let (code, mut message) = match e.code() {
                Some(c) => (c.to_string(), e.message().unwrap_or("").to_string()),
                None => fallback(),
            };
            if message.is_empty() {
                message = DisplayErrorContext(e).to_string();
            }
            let permission = DENIED.contains(&code.as_str()).then(|| format!("{}: {action} denied", managed_policy_for(action)));
            if BAD_CREDENTIALS.contains(&code.as_str()) {
                message = format!("the credentials were rejected ({message}); check the access key, secret and session token");
            }
            AwsError { code, message, permission }
        }
        SdkError::TimeoutError(_) => AwsError { code: "Timeout".into(), message: format!("{action} timed out"), permission: None },
        SdkError::DispatchFailure(d) => {
            let text = DisplayErrorContext(err).to_string();
            // Credential resolution failures surface here too; say which it is.
            let code = if text.contains("credentials") || text.contains("Credentials") {
                "NoCredentials"
            } else if d.is_timeout() {
                "Timeout"
            } else {
                "ConnectionFailed"
            };
            AwsError { code: code.into(), message: format!("{action}: {text}"), permission: None }
        }
        _ => AwsError { code: "RequestFailed".into(), message: format!("{action}: {}", DisplayErrorContext(err)), permission: None },
    }
}
