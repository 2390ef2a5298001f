//! `trawl check`: per connector, do the credentials resolve to the expected account; per
//! source, does one cheap read call that needs the source's permission succeed (each source's
//! [`probe`](crate::sources::SourceSpec::probe)); per output, can it be reached. Nothing is
//! written and no queue message is received.

use serde::Serialize;

use crate::{
    aws::{AwsError, AwsSession, describe, runtime},
    config::{Config, ConnectorConfig},
    sinks::OutputConfig,
    sources::ProbeOutcome,
};

/// One line of the check.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckResult {
    /// Connector name, or `output` for outputs.
    pub connector: String,
    /// `credentials`, a source (`sqs https://…`) or an output path.
    pub target: String,
    /// Whether it passed.
    pub ok: bool,
    /// AWS error code (`AccessDenied`), for failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The missing permission, for denials: `AmazonS3ReadOnlyAccess: s3:ListBucket denied`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
    /// What was checked, or what went wrong.
    pub detail: String,
    /// Passed, but not everything will be read (`WARN` in the table); the detail says what to do.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub warning: bool,
}

impl CheckResult {
    fn ok(connector: &str, target: String, detail: String) -> Self {
        Self { connector: connector.into(), target, ok: true, code: None, permission: None, detail, warning: false }
    }

    fn warn(connector: &str, target: String, detail: String) -> Self {
        Self { warning: true, ..Self::ok(connector, target, detail) }
    }

    fn failed(connector: &str, target: String, e: &AwsError) -> Self {
        Self { connector: connector.into(), target, ok: false, code: Some(e.code.clone()), permission: e.permission.clone(), detail: e.message.clone(), warning: false }
    }
}

/// Checks the connectors of `cfg` (only `only`, when given) and its outputs.
pub fn check(cfg: &Config, only: Option<&str>) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for c in cfg.connectors.iter().filter(|c| only.is_none_or(|n| n == c.name)) {
        check_connector(c, &mut out);
    }
    if only.is_none() {
        for o in &cfg.outputs {
            out.push(check_output(cfg, o));
        }
    }
    out
}

fn check_connector(c: &ConnectorConfig, out: &mut Vec<CheckResult>) {
    let session = if c.sources.iter().any(|s| s.needs_aws()) {
        let r = AwsSession::connect(&c.aws_target());
        out.push(match &r {
            Ok(s) => CheckResult::ok(&c.name, "credentials".into(), format!("account {} as {} ({} auth)", s.account_id, s.arn, c.auth.mode())),
            Err(e) => CheckResult::failed(&c.name, "credentials".into(), e),
        });
        Some(r)
    } else {
        None
    };
    let defaults = c.defaults();
    for s in &c.sources {
        let label = s.label(&defaults);
        let session = match &session {
            Some(Ok(sess)) => Some(sess),
            Some(Err(_)) => {
                let e = AwsError { code: "NoCredentials".into(), message: "not checked: the connector's credentials failed".into(), permission: None };
                out.push(CheckResult::failed(&c.name, label, &e));
                continue;
            }
            None => None,
        };
        for row in s.probe_rows(&defaults, session) {
            let target = match &row.target {
                Some(t) => format!("{label} {t}"),
                None => label.clone(),
            };
            out.push(match row.outcome {
                ProbeOutcome::Ok(detail) => CheckResult::ok(&c.name, target, detail),
                ProbeOutcome::Warn(detail) => CheckResult::warn(&c.name, target, detail),
                ProbeOutcome::Failed(e) => CheckResult::failed(&c.name, target, &e),
            });
        }
    }
}

/// Says which bucket, when it does not exist.
pub(crate) fn bucket_error(mut e: AwsError, bucket: &str) -> AwsError {
    if e.code == "NoSuchBucket" {
        e.message = format!("bucket {bucket} does not exist");
    }
    e
}

fn check_output(cfg: &Config, o: &OutputConfig) -> CheckResult {
    let label = o.path().display().to_string();
    let Some((bucket, prefix)) = o.s3_location() else {
        let r = std::fs::create_dir_all(o.path()).and_then(|_| tempfile_in(o.path()));
        return match r {
            Ok(()) => CheckResult::ok("output", label, "directory is writable".into()),
            Err(e) => CheckResult::failed("output", label, &AwsError { code: "NotWritable".into(), message: e.to_string(), permission: None }),
        };
    };
    let r = o
        .aws_target(&cfg.output_env())
        .map_err(AwsError::config_error)
        .and_then(|t| AwsSession::connect(&t))
        .and_then(|s| runtime().block_on(s.s3().list_objects_v2().bucket(&bucket).prefix(&prefix).max_keys(1).send()).map_err(|e| bucket_error(describe(&e, "s3:ListBucket"), &bucket)));
    match r {
        Ok(_) => CheckResult::ok("output", label, "s3:ListBucket OK (s3:PutObject is not tested: check writes nothing)".into()),
        Err(e) => CheckResult::failed("output", label, &e),
    }
}

fn tempfile_in(dir: &std::path::Path) -> std::io::Result<()> {
    let p = dir.join(format!(".trawl-check-{}", std::process::id()));
    std::fs::write(&p, b"")?;
    std::fs::remove_file(p)
}
