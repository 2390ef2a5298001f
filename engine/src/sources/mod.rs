//! Sources: each pulls raw records from somewhere and hands them to the pipeline through a
//! [`SourceContext`].
//!
//! A source is one folder here (`<name>/mod.rs`: its config struct implementing
//! [`SourceSpec`], its run loop implementing [`Source`], its `trawl check` probe, its unit
//! tests) plus one line in the [`sources!`] registry below. The registry makes the config
//! `type`, the dispatch of [`SourceConfig`], the rows of `trawl check` and the list in
//! `--help`. Helpers shared by the families (S3 logs, queues, API pages) are in [`common`].
//! `README.md` beside this file walks through adding one.

pub mod common;

use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use crate::pipeline::{Checkpoint, SourceContext, UnitHandle};
use crate::aws::{AwsError, AwsSession};
pub use common::days::{DayRange, parse_day};

/// What sources read of their connector: the account-level settings they default to.
#[derive(Debug, Clone)]
pub struct ConnectorDefaults {
    /// The account name stamped on every event.
    pub name: String,
    /// The connector's region.
    pub region: String,
    /// The queue of S3 notifications for CloudTrail data events (`sqs`).
    pub sqs_url: Option<String>,
    /// The queue of Macie findings.
    pub macie_sqs_url: Option<String>,
    /// Inspector's default pull mode.
    pub inspector_pull_mode: InspectorPullMode,
}

/// `inspector_pull_mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InspectorPullMode {
    /// Every current finding, each run.
    #[default]
    Full,
    /// Only findings never reported before.
    Unique,
}

/// What a source's config knows about itself. Implemented by each source's config struct.
pub trait SourceSpec {
    /// The mapper reference (`builtin:<name>` or a `.wasm` path).
    fn mapper(&self) -> &str;
    /// The mapper's config table.
    fn mapper_config(&self) -> Option<&serde_json::Value>;
    /// Whether the source calls AWS (and so needs the connector's credentials).
    fn needs_aws(&self) -> bool {
        true
    }
    /// Checks that need no network; the message names the field.
    fn validate(&self, _connector: &ConnectorDefaults) -> Result<(), String> {
        Ok(())
    }
    /// The local directory the source reads, if it reads one (outputs must not be inside it).
    fn local_input(&self) -> Option<&std::path::Path> {
        None
    }
    /// What `trawl check` calls it: the type and its location (`sqs https://…`).
    fn label(&self, connector: &ConnectorDefaults) -> String;
    /// Builds the source for a run.
    fn build(&self, env: &SourceEnv<'_>) -> Result<Box<dyn Source>, String>;
    /// `trawl check`: one cheap call that needs the permission the source needs. `Ok` says
    /// what was verified; a denial names the missing permission and managed policy.
    fn probe(&self, connector: &ConnectorDefaults, aws: Option<&AwsSession>) -> Result<String, AwsError>;
    /// `trawl check`'s rows for the source: by default the one row of [`probe`](Self::probe);
    /// a source that finds what it reads (Redshift clusters) adds a row per thing found.
    fn probe_rows(&self, connector: &ConnectorDefaults, aws: Option<&AwsSession>) -> Vec<ProbeRow> {
        vec![ProbeRow { target: None, outcome: self.probe(connector, aws).into() }]
    }
    /// Mappers for further kinds of record the source reads, beside its own
    /// [`mapper`](Self::mapper) (an `sqs` queue carrying Redshift and VPC Flow objects as well
    /// as CloudTrail ones). Each record is mapped by the mapper of its kind.
    fn kind_mappers(&self) -> Vec<KindMapper> {
        Vec::new()
    }
}

/// A mapper for the records of one source kind ([`SourceSpec::kind_mappers`]).
#[derive(Debug, Clone, PartialEq)]
pub struct KindMapper {
    /// The source kind stamped on the records.
    pub kind: &'static str,
    /// The mapper reference.
    pub mapper: String,
    /// Its config table (`null` when absent).
    pub mapper_config: serde_json::Value,
}

/// One row of `trawl check` for a source.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRow {
    /// What below the source it is about (`cluster analytics`); `None`: the source itself.
    pub target: Option<String>,
    /// What the check found.
    pub outcome: ProbeOutcome,
}

/// What a check found.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeOutcome {
    /// In place; what was verified.
    Ok(String),
    /// Works, but not everything will be read (user activity logging off); what to do.
    Warn(String),
    /// Not in place; the error names the missing permission or setting.
    Failed(AwsError),
}

impl From<Result<String, AwsError>> for ProbeOutcome {
    fn from(r: Result<String, AwsError>) -> Self {
        match r {
            Ok(s) => ProbeOutcome::Ok(s),
            Err(e) => ProbeOutcome::Failed(e),
        }
    }
}

/// A source of raw records, for one run.
///
/// Contract:
/// - **Read**: every unit of work (an object, an API page, a queue message) not yet done:
///   units marked [`Checkpoint::Done`] are skipped when [`SourceContext::is_done`] says so;
///   cursor lanes resume from [`SourceContext::cursor`].
/// - **Announce**: each unit with [`SourceContext::begin_unit`], its records with
///   [`SourceContext::push`] (in a deterministic order, with their index and byte offset), and
///   its end with [`SourceContext::end_unit`] — also when the source then stops with an error.
///   Bad content is [`SourceContext::unit_failed`] / [`SourceContext::unreadable_unit`]
///   (dead-lettered, checkpointed); a failure that may pass is
///   [`SourceContext::retry_later`] (not checkpointed, read again next run).
/// - **Checkpoint**: never itself. The pipeline checkpoints a unit once everything read from
///   it is durable; a source that must acknowledge upstream (delete queue messages) asks for
///   that with [`SourceContext::request_commit`] and acknowledges only after a successful reply.
/// - **Never**: hold records back across units, write outputs, or return `Err` for one bad
///   unit — `Err` is for failures that stop the whole source (its location does not exist,
///   its credentials are refused).
pub trait Source: Send {
    /// Stable id, used in checkpoint keys: `<type>:<location>`.
    fn id(&self) -> String;
    /// The source kind stamped on records (`cloudtrail_files`); mappers' manifests list the
    /// kinds they read.
    fn kind(&self) -> &'static str;
    /// Reads the source once.
    fn run(&mut self, ctx: &mut SourceContext<'_>) -> Result<(), SourceError>;
}

/// A failure that stops a source.
#[derive(Debug, thiserror::Error)]
#[error("source {source_id}: {message}")]
pub struct SourceError {
    /// The source.
    pub source_id: String,
    /// What went wrong.
    pub message: String,
}

/// What a source is built from beyond its own config.
pub struct SourceEnv<'a> {
    /// Its connector.
    pub connector: &'a ConnectorDefaults,
    /// The connector's AWS session, when connected.
    pub aws: Option<&'a AwsSession>,
    /// `--since`: first day to read (backfill and API sources).
    pub since: Option<NaiveDate>,
    /// `--until`: last day to read.
    pub until: Option<NaiveDate>,
    /// `--max-duration`: queue sources stop receiving after this long.
    pub max_duration: Option<Duration>,
}

impl SourceEnv<'_> {
    /// The connector's AWS session, for sources that need one.
    pub fn session(&self) -> Result<AwsSession, String> {
        self.aws.cloned().ok_or_else(|| "needs AWS credentials".to_string())
    }
}

/// The registry: one line per source, `"type" => Variant(module::Config): "what it reads"`,
/// with the cargo feature that gates it, if any.
macro_rules! sources {
    ($( $(#[cfg($cfg:meta)])? $ty:literal => $variant:ident($module:ident :: $config:ident): $about:literal ),* $(,)?) => {
        $( $(#[cfg($cfg)])? pub mod $module; )*

        /// `[[connectors.sources]]`, by `type`.
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[serde(tag = "type")]
        pub enum SourceConfig {
            $( #[doc = $about] $(#[cfg($cfg)])? #[serde(rename = $ty)] $variant($module::$config), )*
        }

        impl SourceConfig {
            fn spec(&self) -> &dyn SourceSpec {
                match self { $( $(#[cfg($cfg)])? SourceConfig::$variant(c) => c, )* }
            }

            /// The source type, as written in the config.
            pub fn kind(&self) -> &'static str {
                match self { $( $(#[cfg($cfg)])? SourceConfig::$variant(_) => $ty, )* }
            }
        }

        /// Every source type this build has, with what it reads.
        pub const SOURCE_TYPES: &[(&str, &str)] = &[ $( $(#[cfg($cfg)])? ($ty, $about), )* ];
    };
}

sources! {
    "cloudtrail_files" => CloudtrailFiles(cloudtrail_files::CloudTrailFilesConfig): "CloudTrail log files in a local directory tree",
    "cloudtrail_s3" => CloudtrailS3(cloudtrail_s3::CloudTrailS3Config): "a CloudTrail trail bucket in S3, for a range of days",
    "sqs" => Sqs(sqs::SqsConfig): "log objects (CloudTrail, Redshift audit, VPC Flow) announced by S3 notifications on an SQS queue, each read as its kind",
    #[cfg(feature = "cloudtrail")]
    "cloudtrail_lookup" => CloudtrailLookup(cloudtrail_lookup::CloudTrailLookupConfig): "CloudTrail management events through the LookupEvents API (90 days)",
    "vpc_flow" => VpcFlow(vpc_flow::VpcFlowConfig): "VPC Flow Logs in S3 (text or Parquet, either layout), enriched with the EC2 instances behind the addresses",
    "redshift_audit" => RedshiftAudit(redshift_audit::RedshiftAuditConfig): "Redshift audit logs (connection, user, user activity) of the clusters, from the buckets they log to",
    #[cfg(feature = "cloudwatch_logs")]
    "cloudwatch_logs" => CloudwatchLogs(cloudwatch_logs::CloudWatchLogsConfig): "CloudWatch Logs groups (names or prefixes) through FilterLogEvents, one cursor per group, exactly once across restarts",
    #[cfg(feature = "iam")]
    "iam" => Iam(iam::IamConfig): "an IAM inventory per run (users with their credential report, groups, roles, managed policies), as a snapshot or its changes",
    #[cfg(feature = "cloudwatch_alarms")]
    "cloudwatch_alarms" => CloudwatchAlarms(cloudwatch_alarms::CloudWatchAlarmsConfig): "CloudWatch alarm history (state changes, configuration updates, actions; 30 days) and the alarms in ALARM now",
    #[cfg(feature = "redshift")]
    "redshift_events" => RedshiftEvents(redshift_events::RedshiftEventsConfig): "Amazon Redshift events (clusters, parameter and security groups, snapshots, scheduled actions; 14 days) through DescribeEvents",
    #[cfg(feature = "inspector")]
    "inspector" => Inspector(inspector::InspectorConfig): "Amazon Inspector findings (ListFindings), every current one each run or only new ones",
    "macie" => Macie(macie::MacieConfig): "Amazon Macie findings from the SQS queue an EventBridge rule feeds (directly or through SNS)",
    #[cfg(feature = "guardduty")]
    "guardduty" => Guardduty(guardduty::GuardDutyConfig): "GuardDuty findings of every detector, new and updated, through ListFindings/GetFindings",
    #[cfg(feature = "shield")]
    "shield" => Shield(shield::ShieldConfig): "Shield Advanced DDoS attacks on the protected resources, through ListAttacks/DescribeAttack; ongoing attacks again when they end",
}

impl SourceConfig {
    /// The mapper reference (`builtin:<name>` or a `.wasm` path).
    pub fn mapper(&self) -> &str {
        self.spec().mapper()
    }

    /// The mapper's config table, as JSON (`null` when absent).
    pub fn mapper_config(&self) -> serde_json::Value {
        self.spec().mapper_config().cloned().unwrap_or(serde_json::Value::Null)
    }

    /// Whether the source calls AWS (and so needs the connector's credentials).
    pub fn needs_aws(&self) -> bool {
        self.spec().needs_aws()
    }

    /// Config checks that need no network.
    pub fn check(&self, connector: &ConnectorDefaults) -> Result<(), String> {
        self.spec().validate(connector).map_err(|e| format!("source {}: {e}", self.kind()))
    }

    /// The local directory the source reads, if any.
    pub fn local_input(&self) -> Option<&std::path::Path> {
        self.spec().local_input()
    }

    /// What `trawl check` calls it.
    pub fn label(&self, connector: &ConnectorDefaults) -> String {
        self.spec().label(connector)
    }

    /// Builds the source.
    pub fn build(&self, env: &SourceEnv<'_>) -> Result<Box<dyn Source>, String> {
        self.spec().build(env)
    }

    /// `trawl check`'s probe.
    pub fn probe(&self, connector: &ConnectorDefaults, aws: Option<&AwsSession>) -> Result<String, AwsError> {
        self.spec().probe(connector, aws)
    }

    /// `trawl check`'s rows for the source.
    pub fn probe_rows(&self, connector: &ConnectorDefaults, aws: Option<&AwsSession>) -> Vec<ProbeRow> {
        self.spec().probe_rows(connector, aws)
    }

    /// Mappers for further kinds of record the source reads.
    pub fn kind_mappers(&self) -> Vec<KindMapper> {
        self.spec().kind_mappers()
    }
}

/// The source types, for `--help`.
pub fn help() -> String {
    let width = SOURCE_TYPES.iter().map(|(t, _)| t.len()).max().unwrap_or(0);
    let mut s = String::from("Source types (`type = ...` in [[connectors.sources]]):\n");
    // Wrapped here with a hanging indent, short of clap's 100 columns, so clap keeps the lines.
    let room = 96 - width - 4;
    for (t, about) in SOURCE_TYPES {
        let mut line = String::new();
        let mut first = true;
        for word in about.split(' ') {
            if !line.is_empty() && line.len() + 1 + word.len() > room {
                s.push_str(&format!("  {:width$}  {line}\n", if first { t } else { "" }));
                (line, first) = (String::new(), false);
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        s.push_str(&format!("  {:width$}  {line}\n", if first { t } else { "" }));
    }
    s
}

/// The mapper of every CloudTrail source unless its config names another.
fn default_cloudtrail_mapper() -> String {
    "builtin:cloudtrail".into()
}

/// The session a probe needs, or the error `check` shows without one.
fn probe_session(aws: Option<&AwsSession>) -> Result<&AwsSession, AwsError> {
    aws.ok_or_else(|| AwsError { code: "NoCredentials".into(), message: "no AWS session".into(), permission: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every registered type parses under its own name and reports it back.
    #[test]
    fn each_registered_type_round_trips_through_the_config() {
        let minimal = |t: &str| match t {
            "cloudtrail_files" => "path = \"x\"",
            "cloudtrail_s3" | "vpc_flow" => "bucket = \"b\"",
            _ => "",
        };
        for (t, about) in SOURCE_TYPES {
            let c: SourceConfig = toml::from_str(&format!("type = \"{t}\"\n{}", minimal(t))).unwrap_or_else(|e| panic!("{t}: {e}"));
            assert_eq!(c.kind(), *t);
            // `help` wraps the text; its words, in order, are the description.
            let words = help().split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(words.contains(&format!("{t} {about}")), "{t}");
        }
        let e = toml::from_str::<SourceConfig>("type = \"cloudtrail_file\"").unwrap_err().to_string();
        assert!(e.contains("cloudtrail_files"), "an unknown type lists the known ones: {e}");
    }
}
