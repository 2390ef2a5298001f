//! Finding the clusters' audit logs, as the seed connector does: `redshift:DescribeClusters`
//! → per cluster `redshift:DescribeLoggingStatus` (on or off, S3 bucket and prefix, or
//! CloudWatch Logs) → `redshift:DescribeClusterParameters` on its parameter group for
//! `enable_user_activity_logging`. Used by the run (which buckets to list) and by
//! `trawl check` (a row per cluster saying what is missing).

use std::collections::BTreeMap;

use aws_sdk_redshift::types::LogDestinationType;

use super::{LogType, RedshiftAuditConfig, SERVICE_DIR, probe_bucket};
use crate::{
    aws::{AwsError, AwsSession, describe, runtime},
    sources::{ConnectorDefaults, ProbeOutcome, ProbeRow, common::s3::AwsLogsLayout},
};

/// A cluster, as DescribeClusters lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Its identifier (the `<cluster>` of the log file names).
    pub id: String,
    /// Its (first) parameter group.
    pub parameter_group: Option<String>,
}

/// Where a cluster's audit logs go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logging {
    /// Audit logging is off.
    Disabled,
    /// To S3.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix before `AWSLogs/` (may be empty).
        prefix: String,
    },
    /// To CloudWatch Logs (log groups `/aws/redshift/cluster/<id>/<log type>`).
    CloudWatch {
        /// The log types exported.
        exports: Vec<String>,
    },
}

/// A bucket to list and the clusters whose logs are read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The bucket.
    pub bucket: String,
    /// Its key prefix.
    pub prefix: String,
    /// The clusters logging there.
    pub clusters: Vec<String>,
}

/// The name of the parameter the user activity log needs.
pub const ACTIVITY_PARAMETER: &str = "enable_user_activity_logging";

async fn list_clusters(rs: &aws_sdk_redshift::Client) -> Result<Vec<Cluster>, AwsError> {
    let mut out = Vec::new();
    let mut pages = rs.describe_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| describe(&e, "redshift:DescribeClusters"))?;
        for c in page.clusters() {
            if let Some(id) = c.cluster_identifier() {
                let parameter_group = c.cluster_parameter_groups().first().and_then(|g| g.parameter_group_name()).map(str::to_string);
                out.push(Cluster { id: id.to_string(), parameter_group });
            }
        }
    }
    Ok(out)
}

/// Where `cluster`'s audit logs go.
pub async fn logging(rs: &aws_sdk_redshift::Client, cluster: &str) -> Result<Logging, AwsError> {
    let s = rs.describe_logging_status().cluster_identifier(cluster).send().await.map_err(|e| describe(&e, "redshift:DescribeLoggingStatus"))?;
    if !s.logging_enabled().unwrap_or(false) {
        return Ok(Logging::Disabled);
    }
    Ok(match s.log_destination_type() {
        Some(LogDestinationType::Cloudwatch) => Logging::CloudWatch { exports: s.log_exports().to_vec() },
        // S3, or a cluster that predates the destination setting (it had only S3).
        _ => match s.bucket_name() {
            Some(b) if !b.is_empty() => Logging::S3 { bucket: b.to_string(), prefix: s.s3_key_prefix().unwrap_or("").to_string() },
            _ => Logging::Disabled,
        },
    })
}

/// `enable_user_activity_logging` in a parameter group (`None`: not listed).
pub async fn user_activity_logging(rs: &aws_sdk_redshift::Client, group: &str) -> Result<Option<bool>, AwsError> {
    let mut pages = rs.describe_cluster_parameters().parameter_group_name(group).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| describe(&e, "redshift:DescribeClusterParameters"))?;
        if let Some(p) = page.parameters().iter().find(|p| p.parameter_name() == Some(ACTIVITY_PARAMETER)) {
            return Ok(Some(p.parameter_value().is_some_and(|v| v.eq_ignore_ascii_case("true"))));
        }
    }
    Ok(None)
}

/// The clusters of the connector's region that `cfg` names (all by default); configured
/// identifiers that were not found come second.
fn clusters_of(cfg: &RedshiftAuditConfig, session: &AwsSession) -> Result<(Vec<Cluster>, Vec<String>), AwsError> {
    let all = runtime().block_on(list_clusters(&session.redshift()))?;
    if cfg.clusters.is_empty() {
        return Ok((all, Vec::new()));
    }
    let found: Vec<Cluster> = all.into_iter().filter(|c| cfg.clusters.iter().any(|w| w.eq_ignore_ascii_case(&c.id))).collect();
    let missing = cfg.clusters.iter().filter(|w| !found.iter().any(|c| c.id.eq_ignore_ascii_case(w))).cloned().collect();
    Ok((found, missing))
}

/// The buckets to list for a run, each with its clusters. Clusters whose logging is off or
/// goes to CloudWatch are skipped with a warning, and so is a user activity log that is
/// empty because its parameter is off.
pub fn targets(cfg: &RedshiftAuditConfig, session: &AwsSession) -> Result<Vec<Target>, AwsError> {
    let rs = session.redshift();
    let (clusters, missing) = clusters_of(cfg, session)?;
    for m in missing {
        tracing::warn!(region = %session.region(), "no Redshift cluster {m:?} in the connector's region; nothing read for it");
    }
    let mut by_bucket: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for c in clusters {
        match runtime().block_on(logging(&rs, &c.id)).map_err(|e| e.with_context(format!("cluster {}", c.id)))? {
            Logging::Disabled => tracing::warn!(cluster = %c.id, "audit logging is off for this cluster; nothing to read (`trawl check` says how to turn it on)"),
            Logging::CloudWatch { .. } => {
                tracing::warn!(cluster = %c.id, "audit logs go to CloudWatch Logs (log groups /aws/redshift/cluster/{}/…), not S3; read them with a cloudwatch_logs source", c.id)
            }
            Logging::S3 { bucket, prefix } => {
                if cfg.log_types.contains(&LogType::UserActivityLog)
                    && let Some(g) = &c.parameter_group
                {
                    match runtime().block_on(user_activity_logging(&rs, g)) {
                        Ok(Some(false)) => tracing::warn!(cluster = %c.id, parameter_group = %g, "{ACTIVITY_PARAMETER} is false: the user activity log will be empty"),
                        Ok(_) => {}
                        Err(e) => tracing::debug!(cluster = %c.id, "cannot read the parameter group: {e}"),
                    }
                }
                by_bucket.entry((bucket, prefix)).or_default().push(c.id);
            }
        }
    }
    Ok(by_bucket.into_iter().map(|((bucket, prefix), clusters)| Target { bucket, prefix, clusters }).collect())
}

/// `trawl check`'s first row: the clusters found, and the rows of configured clusters that
/// do not exist.
pub fn probe_clusters(cfg: &RedshiftAuditConfig, connector: &ConnectorDefaults, session: &AwsSession) -> Result<(String, Vec<Result<Cluster, String>>), AwsError> {
    let (found, missing) = clusters_of(cfg, session)?;
    let names: Vec<&str> = found.iter().map(|c| c.id.as_str()).collect();
    let detail = match names.len() {
        0 => format!("redshift:DescribeClusters OK; no cluster in {} to read", connector.region),
        n => format!("redshift:DescribeClusters OK; {n} cluster(s) in {}: {}", connector.region, names.join(", ")),
    };
    Ok((detail, found.into_iter().map(Ok).chain(missing.into_iter().map(Err)).collect()))
}

/// `trawl check`'s row for one cluster: logging off (FAILED, and how to turn it on), logging
/// to CloudWatch (WARN: which log groups, and that `cloudwatch_logs` reads them), the user
/// activity parameter off (WARN), the bucket not readable (FAILED, the permission).
pub fn probe_cluster(cfg: &RedshiftAuditConfig, session: &AwsSession, cluster: &Result<Cluster, String>) -> ProbeRow {
    let c = match cluster {
        Ok(c) => c,
        Err(id) => {
            let e = AwsError { code: "ClusterNotFound".into(), message: format!("no cluster {id:?} in {} (clusters names it)", session.region()), permission: None };
            return ProbeRow { target: Some(format!("cluster {id}")), outcome: ProbeOutcome::Failed(e) };
        }
    };
    let target = Some(format!("cluster {}", c.id));
    let rs = session.redshift();
    let outcome = match runtime().block_on(logging(&rs, &c.id)) {
        Err(e) => ProbeOutcome::Failed(e),
        Ok(Logging::Disabled) => ProbeOutcome::Failed(AwsError {
            code: "LoggingDisabled".into(),
            message: format!(
                "audit logging is off, so there is nothing to read. Turn it on: aws redshift enable-logging --cluster-identifier {} --log-destination-type s3 --bucket-name <bucket> [--s3-key-prefix <prefix>/] (or in the console: the cluster → Properties → Edit audit logging), with a bucket policy that lets Redshift write to the bucket",
                c.id
            ),
            permission: None,
        }),
        Ok(Logging::CloudWatch { exports }) => {
            let types: Vec<&str> = if exports.is_empty() { LogType::ALL.iter().map(|t| t.name()).collect() } else { exports.iter().map(String::as_str).collect() };
            let groups: Vec<String> = types.iter().map(|t| format!("/aws/redshift/cluster/{}/{t}", c.id)).collect();
            ProbeOutcome::Warn(format!(
                "audit logs go to CloudWatch Logs, not S3, so this source reads nothing of this cluster; read them with a cloudwatch_logs source on the log group(s) {}",
                groups.join(", ")
            ))
        }
        Ok(Logging::S3 { bucket, prefix }) => {
            let layout = AwsLogsLayout { bucket: &bucket, prefix: &prefix, services: &[SERVICE_DIR], accounts: &[], regions: &[] };
            let under = format!("{}{}/{SERVICE_DIR}/{}/", layout.root(), session.account_id, session.region());
            match probe_bucket(session, &bucket, &under) {
                Err(e) => ProbeOutcome::Failed(e.with_context(format!("audit logs in s3://{bucket}/{}", prefix.trim_matches('/')))),
                Ok(listed) => {
                    let mut detail = format!("audit logs in s3://{bucket}/{}; {listed}", prefix.trim_matches('/'));
                    if !cfg.log_types.contains(&LogType::UserActivityLog) {
                        ProbeOutcome::Ok(detail)
                    } else {
                        match c.parameter_group.as_deref().map(|g| (g, runtime().block_on(user_activity_logging(&rs, g)))) {
                            Some((_, Err(e))) => ProbeOutcome::Failed(e.with_context(format!("cluster {} parameter group", c.id))),
                            Some((g, Ok(Some(false) | None))) => ProbeOutcome::Warn(format!(
                                "{detail}; {ACTIVITY_PARAMETER} is false in parameter group {g}: the user activity log will be empty (set it to true in a custom parameter group and reboot the cluster to get it)"
                            )),
                            Some((_, Ok(Some(true)))) => {
                                detail.push_str(&format!("; {ACTIVITY_PARAMETER} is true"));
                                ProbeOutcome::Ok(detail)
                            }
                            None => ProbeOutcome::Ok(detail),
                        }
                    }
                }
            }
        }
    };
    ProbeRow { target, outcome }
}
