//! The TOML config: connectors, their sources, outputs, state, pipeline limits.
//!
//! Unknown keys are errors (with line and column). `${NAME}` in any string value is replaced
//! by the environment variable `NAME` after parsing, so parse errors quote the reference, never
//! a secret's value.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::aws::{AuthConfig, AwsTarget};
use crate::sinks::{OutputConfig, OutputEnv};
pub use crate::sources::InspectorPullMode;
use crate::sources::{ConnectorDefaults, SourceConfig};

/// A whole trawl config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where checkpoints, the compile cache and (by default) dead letters live.
    #[serde(default)]
    pub state: StateConfig,
    /// How records move through the pipeline.
    #[serde(default)]
    pub pipeline: PipelineConfig,
    /// Where records that could not be written go.
    #[serde(default)]
    pub dead_letter: DeadLetterConfig,
    /// One per AWS account.
    pub connectors: Vec<ConnectorConfig>,
    /// Every mapped event is written to each output.
    pub outputs: Vec<OutputConfig>,
}

/// `[state]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// Directory of the state store (`state.redb`) and compile cache. Default `.trawl`.
    #[serde(default = "default_state_dir")]
    pub dir: PathBuf,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from(".trawl")
}

impl Default for StateConfig {
    fn default() -> Self {
        Self { dir: default_state_dir() }
    }
}

/// `[pipeline]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Mapper worker threads. Default: the number of CPUs.
    #[serde(default)]
    pub workers: Option<usize>,
    /// Records per raw batch handed to a mapper (one wasm call each). Default 1024: a batch
    /// costs about 8× its raw size in sandbox memory while it is mapped, so bigger batches
    /// raise peak memory and barely change speed (instance setup is tens of µs).
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
    /// Memory cap of one mapper instance, in MiB. Default 256.
    #[serde(default = "default_mapper_memory_mib")]
    pub mapper_memory_mib: u64,
    /// Wall-clock deadline for one mapper call on one batch, in ms. Default 30000.
    #[serde(default = "default_mapper_deadline_ms")]
    pub mapper_deadline_ms: u64,
    /// Deterministic mode: fuel (about one unit per wasm instruction) one mapper call may use;
    /// the same input then always stops at the same point. Unset (default): only the
    /// wall-clock deadline applies, and mappers run faster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapper_fuel: Option<u64>,
    /// Compile mappers with Cranelift's inliner: ~7% faster mapping (cloudtrail), but the
    /// first compile of a module takes ~2× as long and ~2.2 GiB of memory instead of
    /// ~150 MiB (later runs load it from the compile cache in a few ms). Default false, so
    /// a first run fits a small container.
    #[serde(default)]
    pub mapper_inline: bool,
    /// Largest output one mapper call may return, in MiB. Default 512.
    #[serde(default = "default_mapper_output_mib")]
    pub mapper_output_mib: u64,
    /// Commit (finish output files, checkpoint) after about this many records. Default 1,000,000.
    #[serde(default = "default_commit_every_records")]
    pub commit_every_records: u64,
    /// Sources run at the same time (each on its own thread, sharing the mapper workers).
    /// API sources spend most of their time waiting on AWS, so several overlap well. Default 4.
    #[serde(default = "default_max_concurrent_sources")]
    pub max_concurrent_sources: usize,
    /// Fail the run when more than this fraction of a source's records is dead-lettered
    /// (checked from 1,000 records on, and at the source's end). Unset: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_ratio: Option<f64>,
}

fn default_batch_rows() -> usize {
    1024
}
fn default_mapper_memory_mib() -> u64 {
    256
}
fn default_mapper_deadline_ms() -> u64 {
    30_000
}
fn default_mapper_output_mib() -> u64 {
    512
}
fn default_commit_every_records() -> u64 {
    1_000_000
}
fn default_max_concurrent_sources() -> usize {
    4
}

impl Default for PipelineConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

/// `[dead_letter]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// Directory for dead-letter NDJSON files. Default `<state.dir>/dead-letter`.
    pub path: Option<PathBuf>,
}

/// `[[connectors]]`: one AWS account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    /// The account name stamped on every event (OCSF `cloud.account.name`).
    pub name: String,
    /// Free text for people.
    #[serde(default)]
    pub description: String,
    /// Default AWS region of the account.
    pub region: String,
    /// Endpoint override for every AWS call of this connector (VPC endpoints, emulators).
    /// S3 then uses path-style addressing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Per-service endpoint overrides, by the service ids of `AWS_ENDPOINT_URL_<SERVICE>` in
    /// lower case (`s3`, `sqs`, `cloudtrail`, …); each takes precedence over `endpoint_url`
    /// for its service. Users of interface VPC endpoints need one per service.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub endpoints: std::collections::BTreeMap<String, String>,
    /// The SQS queue receiving S3 notifications for CloudTrail data events (source `sqs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqs_url: Option<String>,
    /// The SQS queue receiving Macie findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macie_sqs_url: Option<String>,
    /// Inspector: `full` (every current finding each run) or `unique` (only new ones).
    #[serde(default)]
    pub inspector_pull_mode: InspectorPullMode,
    /// How to get credentials. Default: aws-config's default chain.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Attempts per AWS call, including the first; throttling and 5xx are retried with
    /// exponential backoff. Default 5.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// The sources to collect.
    pub sources: Vec<SourceConfig>,
}

fn default_max_attempts() -> u32 {
    5
}

impl ConnectorConfig {
    /// What its sources read of it.
    pub fn defaults(&self) -> ConnectorDefaults {
        ConnectorDefaults {
            name: self.name.clone(),
            region: self.region.clone(),
            sqs_url: self.sqs_url.clone(),
            macie_sqs_url: self.macie_sqs_url.clone(),
            inspector_pull_mode: self.inspector_pull_mode,
        }
    }

    /// Where and how this connector reaches AWS.
    pub fn aws_target(&self) -> AwsTarget {
        AwsTarget {
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            endpoints: self.endpoints.clone(),
            auth: self.auth.clone(),
            max_attempts: self.max_attempts,
        }
    }
}

/// A config error, with where it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TOML or schema error; toml's message carries line and column.
    #[error("invalid config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message, with line, column and the offending text.
        message: String,
    },
    /// A `${NAME}` reference to an unset variable.
    #[error("invalid config {path}: environment variable {name} is not set (referenced as ${{{name}}})")]
    MissingEnv {
        /// The file.
        path: PathBuf,
        /// The variable.
        name: String,
    },
    /// A value that parses but makes no sense.
    #[error("invalid config {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Reads, parses, substitutes `${ENV}` and checks a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let cfg = Self::parse(&text, path)?;
        warn_if_secrets_are_exposed(&text, path);
        Ok(cfg)
    }

    /// Parses config text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let parsed: Config = toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.into(), message: locate_unknown_field(text, &e) })?;
        // Substitute on the parsed values, then re-check the types.
        let mut value = toml::Value::try_from(&parsed).map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })?;
        substitute_env(&mut value).map_err(|name| ConfigError::MissingEnv { path: path.into(), name })?;
        let cfg: Config = value.try_into().map_err(|e: toml::de::Error| ConfigError::Parse { path: path.into(), message: e.to_string() })?;
        cfg.check().map_err(|message| ConfigError::Invalid { path: path.into(), message })?;
        Ok(cfg)
    }

    fn check(&self) -> Result<(), String> {
        if self.connectors.is_empty() {
            return Err("no [[connectors]]".into());
        }
        if self.outputs.is_empty() {
            return Err("no [[outputs]]".into());
        }
        let mut names = std::collections::HashSet::new();
        for c in &self.connectors {
            if c.name.trim().is_empty() {
                return Err("a connector has an empty name".into());
            }
            if !names.insert(&c.name) {
                return Err(format!("two connectors are named {:?}", c.name));
            }
            if c.sources.is_empty() {
                return Err(format!("connector {:?} has no [[connectors.sources]]", c.name));
            }
            c.auth.check().map_err(|e| format!("connector {:?}: {e}", c.name))?;
            crate::aws::check_endpoints(&c.endpoints).map_err(|e| format!("connector {:?}: {e}", c.name))?;
            if c.max_attempts == 0 {
                return Err(format!("connector {:?}: max_attempts must be at least 1", c.name));
            }
            for s in &c.sources {
                s.check(&c.defaults()).map_err(|e| format!("connector {:?}: {e}", c.name))?;
            }
        }
        if let Some(r) = self.pipeline.max_error_ratio {
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("pipeline.max_error_ratio must be between 0 and 1, not {r}"));
            }
        }
        for o in &self.outputs {
            o.check(&self.output_env())?;
        }
        if self.pipeline.batch_rows == 0 || self.pipeline.workers == Some(0) || self.pipeline.max_concurrent_sources == 0 {
            return Err("pipeline.batch_rows, pipeline.workers and pipeline.max_concurrent_sources must be at least 1".into());
        }
        if self.pipeline.commit_every_records == 0 {
            return Err("pipeline.commit_every_records must be at least 1 (it is how many records a commit may hold back)".into());
        }
        if self.pipeline.mapper_deadline_ms == 0 || self.pipeline.mapper_memory_mib == 0 || self.pipeline.mapper_output_mib == 0 {
            return Err("pipeline.mapper_deadline_ms, mapper_memory_mib and mapper_output_mib must be above 0: no mapper call can finish within 0".into());
        }
        self.check_paths()
    }

    /// Outputs must not be the state dir, nor lie inside a tree a source reads.
    fn check_paths(&self) -> Result<(), String> {
        let state = normalized(&self.state.dir);
        let inputs: Vec<(PathBuf, &Path)> = self.connectors.iter().flat_map(|c| &c.sources).filter_map(|s| s.local_input()).map(|p| (normalized(p), p)).collect();
        for o in self.outputs.iter().filter(|o| o.s3_location().is_none()) {
            let out = normalized(o.path());
            if out == state {
                return Err(format!("output {} is the state dir: give the output its own directory", o.path().display()));
            }
            if let Some((_, input)) = inputs.iter().find(|(i, _)| out.starts_with(i)) {
                return Err(format!("output {} is inside {}, which a source reads: the next run would read the output as input", o.path().display(), input.display()));
            }
            if state.starts_with(&out) {
                return Err(format!("the state dir {} is inside output {}: readers of the output would see checkpoints", self.state.dir.display(), o.path().display()));
            }
        }
        Ok(())
    }

    /// What outputs need of the rest of the config.
    pub fn output_env(&self) -> OutputEnv<'_> {
        OutputEnv { state_dir: &self.state.dir, connectors: self.connectors.iter().map(|c| (c.name.as_str(), c.aws_target())).collect() }
    }

    /// The dead-letter directory.
    pub fn dead_letter_dir(&self) -> PathBuf {
        self.dead_letter.path.clone().unwrap_or_else(|| self.state.dir.join("dead-letter"))
    }
}

/// A config holding a literal secret (not a `${ENV}` reference) should be readable by its
/// owner alone; say so when the group or others can read it.
fn warn_if_secrets_are_exposed(text: &str, path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(path) else { return };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return;
        }
        let Ok(raw) = toml::from_str::<toml::Value>(text) else { return };
        let mut literal = Vec::new();
        find_literal_secrets(&raw, "", &mut literal);
        if !literal.is_empty() {
            tracing::warn!(
                "config {} holds literal secrets ({}) and is readable by others (mode {mode:03o}): chmod 600 it, or write them as ${{ENV_VAR}} references",
                path.display(),
                literal.join(", ")
            );
        }
    }
}

/// Keys named like secrets whose value is not (only) a `${…}` reference; collected by where
/// they are (`connectors[0].auth.secret_access_key`), never by value.
fn find_literal_secrets(v: &toml::Value, at: &str, out: &mut Vec<String>) {
    const SECRET_KEYS: &[&str] = &["secret_access_key", "session_token", "external_id"];
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let here = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                match v {
                    toml::Value::String(s) if SECRET_KEYS.contains(&k.as_str()) && !s.is_empty() && !s.contains("${") => out.push(here),
                    _ => find_literal_secrets(v, &here, out),
                }
            }
        }
        toml::Value::Array(a) => a.iter().enumerate().for_each(|(i, v)| find_literal_secrets(v, &format!("{at}[{i}]"), out)),
        _ => {}
    }
}

/// `p` made absolute and with `.` and `..` resolved by name (the paths need not exist yet).
fn normalized(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// toml reports an unknown key inside a tagged table (a source, an output) at the table's
/// header; point at the key itself instead.
fn locate_unknown_field(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message();
    let (Some(span), Some(rest)) = (e.span(), msg.strip_prefix("unknown field `")) else { return e.to_string() };
    let Some(field) = rest.split('`').next() else { return e.to_string() };
    let mut offset = span.start;
    for line in text[span.start..].split_inclusive('\n') {
        let t = line.trim_start();
        if offset > span.start && t.starts_with('[') {
            break; // the next table: the key was not found in this one
        }
        if let Some(after) = t.strip_prefix(field) {
            if after.trim_start().starts_with('=') {
                let line_no = text[..offset].matches('\n').count() + 1;
                let col = line.len() - t.len() + 1;
                return format!("unknown field `{field}` at line {line_no}, column {col}: {}", msg.lines().next().unwrap_or(msg).trim_start_matches(&format!("unknown field `{field}`, ")));
            }
        }
        offset += line.len();
    }
    e.to_string()
}

/// Replaces `${NAME}` in every string; returns the first unset name. `$${` escapes a literal `${`.
fn substitute_env(v: &mut toml::Value) -> Result<(), String> {
    match v {
        toml::Value::String(s) if s.contains("${") => {
            *s = substitute_str(s, |n| std::env::var(n).ok())?;
        }
        toml::Value::Array(a) => a.iter_mut().try_for_each(substitute_env)?,
        toml::Value::Table(t) => t.iter_mut().try_for_each(|(_, v)| substitute_env(v))?,
        _ => {}
    }
    Ok(())
}

fn substitute_str(s: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        if rest[..i].ends_with('$') {
            out.push_str(&rest[..i - 1]);
            out.push_str("${");
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        let Some(end) = rest[i + 2..].find('}') else {
            out.push_str(&rest[i..]);
            return Ok(out);
        };
        let name = &rest[i + 2..i + 2 + end];
        out.push_str(&lookup(name).ok_or_else(|| name.to_string())?);
        rest = &rest[i + 3 + end..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[[connectors]]
name = "dev"
region = "us-east-1"
[[connectors.sources]]
type = "cloudtrail_files"
path = "x"
[[outputs]]
type = "parquet"
path = "out"
"#;

    #[test]
    fn the_aws_example_parses_and_keeps_secrets_out_of_debug_output() {
        // SAFETY: set before any thread of this test reads the environment; names are unique.
        unsafe {
            std::env::set_var("PROD_AWS_KEY_ID", "AKIAEXAMPLEKEY");
            std::env::set_var("PROD_AWS_SECRET", "example-secret-value");
        }
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/aws.toml");
        let c = Config::load(&path).unwrap();
        assert_eq!(c.connectors[0].sources.len(), 2);
        assert_eq!(c.outputs[0].s3_location(), Some(("my-security-lake".into(), "ocsf".into())));
        let shown = format!("{c:?}");
        assert!(!shown.contains("example-secret-value") && shown.contains("prod-security"), "{shown}");
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = Config::parse(MINIMAL, Path::new("t.toml")).unwrap();
        assert_eq!(c.state.dir, PathBuf::from(".trawl"));
        assert_eq!(c.pipeline.batch_rows, 1024);
        assert!(!c.pipeline.mapper_inline, "inlining is opt-in: its first compile needs GiBs");
        assert_eq!(c.dead_letter_dir(), PathBuf::from(".trawl/dead-letter"));
    }

    #[test]
    fn unknown_key_is_rejected_with_line_and_column() {
        let text = MINIMAL.replace("path = \"x\"", "path = \"x\"\nbucket = \"y\"");
        let err = Config::parse(&text, Path::new("t.toml")).unwrap_err().to_string();
        assert!(err.contains("unknown field `bucket`"), "{err}");
        assert!(err.contains("line 8"), "{err}");
        assert!(err.contains("t.toml"), "{err}");
    }

    #[test]
    fn values_that_cannot_work_are_rejected_with_what_to_do() {
        let bad = |from: &str, to: &str, want: &str| {
            let text = MINIMAL.replace(from, to);
            let err = Config::parse(&text, Path::new("t.toml")).unwrap_err().to_string();
            assert!(err.contains(want), "{err} should say {want}");
        };
        bad("[[connectors]]", "[pipeline]\ncommit_every_records = 0\n[[connectors]]", "commit_every_records must be at least 1");
        bad("[[connectors]]", "[pipeline]\nmapper_deadline_ms = 0\n[[connectors]]", "mapper_deadline_ms");
        bad("path = \"out\"", "path = \".trawl\"", "is the state dir");
        bad("path = \"out\"", "path = \"./x/../x/lake\"", "inside x, which a source reads");
        bad("path = \"out\"", "path = \".\"", "the state dir .trawl is inside output .");
    }

    #[test]
    fn security_lake_layout_is_parquet_only_and_its_source_names_are_checked_at_load() {
        let with = |output: &str| MINIMAL.replace("[[outputs]]\ntype = \"parquet\"\npath = \"out\"\n", output);
        let ok = with("[[outputs]]\ntype = \"parquet\"\npath = \"out\"\nlayout = \"security_lake\"\n[outputs.source_names]\ncloudtrail_api_activity = \"trawl-ct-api\"\n");
        let c = Config::parse(&ok, Path::new("t.toml")).unwrap();
        let (layout, names) = c.outputs[0].layout();
        assert_eq!((layout, names.get("cloudtrail_api_activity").map(String::as_str)), (crate::sinks::Layout::SecurityLake, Some("trawl-ct-api")));
        assert_eq!(Config::parse(MINIMAL, Path::new("t.toml")).unwrap().outputs[0].layout().0, crate::sinks::Layout::Trawl);
        let bad = |output: &str, want: &[&str]| {
            let err = Config::parse(&with(output), Path::new("t.toml")).unwrap_err().to_string();
            assert!(want.iter().all(|w| err.contains(w)), "{err} should say {want:?}");
        };
        bad(
            "[[outputs]]\ntype = \"parquet\"\npath = \"out\"\nlayout = \"security_lake\"\nsource_names = { cloudtrail_api_activity = \"trawl-cloudtrail-api-activity\" }\n",
            &["output out:", "source_names.cloudtrail_api_activity", "\"trawl-cloudtrail-api-activity\" has 29 characters", "at most 20"],
        );
        bad("[[outputs]]\ntype = \"ndjson\"\npath = \"out\"\nlayout = \"security_lake\"\n", &["output out:", "needs type = \"parquet\""]);
        bad("[[outputs]]\ntype = \"parquet\"\npath = \"out\"\nsource_names = { cloudtrail_api_activity = \"ct\" }\n", &["output out:", "only applies to layout = \"security_lake\""]);
        bad("[[outputs]]\ntype = \"parquet\"\npath = \"out\"\nlayout = \"lake\"\n", &["unknown variant `lake`", "security_lake"]);
    }

    #[test]
    fn literal_secrets_are_found_by_where_they_are_and_references_are_not() {
        let v: toml::Value = toml::from_str(
            r#"
[[connectors]]
auth = { type = "basic", access_key_id = "AKIAEXAMPLE", secret_access_key = "literal" }
[[connectors]]
auth = { type = "assume_role", secret_access_key = "${SECRET}", external_id = "ext" }
"#,
        )
        .unwrap();
        let mut found = Vec::new();
        find_literal_secrets(&v, "", &mut found);
        assert_eq!(found, ["connectors[0].auth.secret_access_key", "connectors[1].auth.external_id"]);
    }

    #[test]
    fn env_references_are_substituted_and_missing_ones_named() {
        let lookup = |n: &str| (n == "HOME_DIR").then(|| "/home/a".to_string());
        assert_eq!(substitute_str("${HOME_DIR}/x", lookup).unwrap(), "/home/a/x");
        assert_eq!(substitute_str("a$${HOME_DIR}", lookup).unwrap(), "a${HOME_DIR}");
        assert_eq!(substitute_str("${NOPE}", lookup).unwrap_err(), "NOPE");
        let text = MINIMAL.replace("path = \"out\"", "path = \"${TRAWL_TEST_UNSET_VAR_X}\"");
        let err = Config::parse(&text, Path::new("t.toml")).unwrap_err().to_string();
        assert!(err.contains("TRAWL_TEST_UNSET_VAR_X is not set"), "{err}");
    }
}
