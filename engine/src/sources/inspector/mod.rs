//! Source `inspector`: Amazon Inspector (v2) findings through `inspector2:ListFindings`, in
//! the connector's region, filtered by `filter_criteria` (default: active findings).
//!
//! **Sweeps.** A run lists every finding the filter matches, page by page: a *sweep*. Each
//! page is a unit of the region's cursor lane, and the cursor after it says which sweep it
//! belongs to, the token of the next page, and whether the sweep is done (see [`Sweep`]). A run
//! killed after any durable page resumes that sweep at the next page: the pages already
//! committed are not listed again. A sweep done, the next run starts a new one. Findings are
//! pushed as ListFindings returns them on the wire (the response body's `findings` items, read
//! through [`api::RawBody`]), so the mapper sees Inspector's own JSON, as in the API reference.
//!
//! **Pull modes** (`pull_mode`, default the connector's `inspector_pull_mode`):
//! - `full` writes every finding of every sweep: each run's report is a snapshot of what is
//!   open now. Its rows' `metadata.uid` is `<findingArn>@<sweep>`, the sweep being the time
//!   (ms) it started, handed to the mapper in the unit context: a new run's rows are new rows,
//!   and a resumed sweep keeps its id. A finding is written once per sweep: each is added to
//!   the sweep's seen-set (`sweep`) with its page, and a resumed sweep whose token Inspector no
//!   longer takes starts again from the first page, skipping the findings already taken.
//! - `unique` writes only findings never reported before: the seen-set `reported`, keyed by
//!   finding ARN. Both modes add every finding they list to it (refreshing its expiry), so
//!   `seen_retention_days` counts from the last sweep that listed a finding, and switching
//!   from `full` to `unique` does not report again what `full` reported. The rows'
//!   `metadata.uid` is the finding ARN.
//!
//! Inspector Classic (`inspector:*`, the 2015 API) reached its end of support; this source
//! reads Amazon Inspector (`inspector2`) only. `trawl check` says so.

use std::{collections::BTreeMap, time::Duration};

use aws_sdk_inspector2::types::{DateFilter, FilterCriteria, NumberFilter, StringComparison, StringFilter};
use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};

use super::{Checkpoint, ConnectorDefaults, InspectorPullMode, Source, SourceContext, SourceEnv, SourceError, SourceSpec, UnitHandle, common::api, probe_session};
use crate::{
    aws::{AwsError, AwsSession, describe, runtime},
    batch::ObjectInfo,
};

/// The source kind stamped on records.
pub const KIND: &str = "inspector";

/// A sweep unfinished for longer than this is abandoned and a new one starts. Its seen-set
/// lives this long: every full-mode run adds a key per finding, so this bounds the state to
/// the findings of the sweeps of the last two days.
const SWEEP_DAYS: i64 = 2;

/// `type = "inspector"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectorConfig {
    /// `full` (every finding the filter matches, each run) or `unique` (only findings never
    /// reported before). Default: the connector's `inspector_pull_mode`, else `full`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_mode: Option<InspectorPullMode>,
    /// ListFindings' `filterCriteria`, in the API's own names: each key a list of filters,
    /// `{ comparison, value }` for text (`findingStatus`, `severity`, `resourceType`, …),
    /// `{ startInclusive, endInclusive }` (RFC 3339) for times (`updatedAt`, …),
    /// `{ lowerInclusive, upperInclusive }` for numbers (`inspectorScore`, `epssScore`, …).
    /// Default `{ findingStatus = [{ comparison = "EQUALS", value = "ACTIVE" }] }`; a table
    /// given replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_criteria: Option<BTreeMap<String, Vec<FilterValue>>>,
    /// How long a reported finding is remembered after the last sweep that listed it
    /// (`unique` mode reports it again after that). Default 365.
    #[serde(default = "default_seen_retention_days")]
    pub seen_retention_days: u64,
    /// Findings per page, 1–100. Default 100.
    #[serde(default = "default_page_size")]
    pub page_size: i32,
    /// ListFindings calls per second. Default 5.
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: f64,
    /// Mapper: `builtin:inspector` (default), `builtin:passthrough` or a `.wasm` path.
    #[serde(default = "default_mapper")]
    pub mapper: String,
    /// Config table handed to the mapper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapper_config: Option<serde_json::Value>,
}

/// One filter of `filter_criteria`: the fields of the API's StringFilter, DateFilter or
/// NumberFilter, by the key's kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FilterValue {
    /// Text filters: `EQUALS`, `PREFIX`, `NOT_EQUALS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<String>,
    /// Text filters: the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Time filters: from (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_inclusive: Option<String>,
    /// Time filters: to (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_inclusive: Option<String>,
    /// Number filters: from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_inclusive: Option<f64>,
    /// Number filters: to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_inclusive: Option<f64>,
}

fn default_seen_retention_days() -> u64 {
    365
}
fn default_page_size() -> i32 {
    100
}
fn default_requests_per_second() -> f64 {
    5.0
}
fn default_mapper() -> String {
    "builtin:inspector".into()
}

/// Adds each filter of a key to the builder, by the key's kind.
macro_rules! filter_keys {
    ($b:ident, $key:ident, $filters:ident; string: [$($s:literal => $sm:ident),* $(,)?]; date: [$($d:literal => $dm:ident),* $(,)?]; number: [$($n:literal => $nm:ident),* $(,)?]) => {
        match $key {
            $( $s => for f in $filters { $b = $b.$sm(string_filter($key, f)?); }, )*
            $( $d => for f in $filters { $b = $b.$dm(date_filter($key, f)?); }, )*
            $( $n => for f in $filters { $b = $b.$nm(number_filter($key, f)?); }, )*
            other => return Err(format!("filter_criteria: unknown or unsupported key {other:?}; the text keys are {}, the time keys {}, the number keys {}",
                [$($s),*].join(", "), [$($d),*].join(", "), [$($n),*].join(", "))),
        }
    };
}

fn string_filter(key: &str, f: &FilterValue) -> Result<StringFilter, String> {
    let (Some(c), Some(v)) = (&f.comparison, &f.value) else { return Err(format!("filter_criteria.{key}: a text filter needs comparison and value")) };
    if !["EQUALS", "PREFIX", "NOT_EQUALS"].contains(&c.as_str()) {
        return Err(format!("filter_criteria.{key}: comparison {c:?} is not EQUALS, PREFIX or NOT_EQUALS"));
    }
    StringFilter::builder().comparison(StringComparison::from(c.as_str())).value(v).build().map_err(|e| format!("filter_criteria.{key}: {e}"))
}

fn date_filter(key: &str, f: &FilterValue) -> Result<DateFilter, String> {
    let time = |v: &Option<String>| -> Result<Option<DateTime>, String> {
        v.as_deref().map(|t| DateTime::from_str(t, aws_smithy_types::date_time::Format::DateTime).map_err(|e| format!("filter_criteria.{key}: {t:?} is not an RFC 3339 time: {e}"))).transpose()
    };
    if f.start_inclusive.is_none() && f.end_inclusive.is_none() {
        return Err(format!("filter_criteria.{key}: a time filter needs startInclusive or endInclusive"));
    }
    Ok(DateFilter::builder().set_start_inclusive(time(&f.start_inclusive)?).set_end_inclusive(time(&f.end_inclusive)?).build())
}

fn number_filter(key: &str, f: &FilterValue) -> Result<NumberFilter, String> {
    if f.lower_inclusive.is_none() && f.upper_inclusive.is_none() {
        return Err(format!("filter_criteria.{key}: a number filter needs lowerInclusive or upperInclusive"));
    }
    Ok(NumberFilter::builder().set_lower_inclusive(f.lower_inclusive).set_upper_inclusive(f.upper_inclusive).build())
}

impl InspectorConfig {
    fn mode(&self, connector: &ConnectorDefaults) -> InspectorPullMode {
        self.pull_mode.unwrap_or(connector.inspector_pull_mode)
    }

    /// The filter, as configured or the default (active findings).
    fn filter_table(&self) -> BTreeMap<String, Vec<FilterValue>> {
        self.filter_criteria.clone().unwrap_or_else(|| {
            BTreeMap::from([("findingStatus".to_string(), vec![FilterValue { comparison: Some("EQUALS".into()), value: Some("ACTIVE".into()), ..Default::default() }])])
        })
    }

    /// The SDK's FilterCriteria for the table.
    fn filter(&self) -> Result<FilterCriteria, String> {
        let mut b = FilterCriteria::builder();
        for (key, filters) in &self.filter_table() {
            let key = key.as_str();
            filter_keys!(b, key, filters;
                string: [
                    "findingArn" => finding_arn, "awsAccountId" => aws_account_id, "findingType" => finding_type, "severity" => severity,
                    "findingStatus" => finding_status, "title" => title, "resourceType" => resource_type, "resourceId" => resource_id,
                    "ec2InstanceImageId" => ec2_instance_image_id, "ec2InstanceVpcId" => ec2_instance_vpc_id, "ec2InstanceSubnetId" => ec2_instance_subnet_id,
                    "ecrImageRepositoryName" => ecr_image_repository_name, "ecrImageTags" => ecr_image_tags, "ecrImageHash" => ecr_image_hash,
                    "ecrImageRegistry" => ecr_image_registry, "ecrImageArchitecture" => ecr_image_architecture, "networkProtocol" => network_protocol,
                    "componentId" => component_id, "componentType" => component_type, "vulnerabilityId" => vulnerability_id,
                    "vulnerabilitySource" => vulnerability_source, "vendorSeverity" => vendor_severity, "relatedVulnerabilities" => related_vulnerabilities,
                    "fixAvailable" => fix_available, "exploitAvailable" => exploit_available, "lambdaFunctionName" => lambda_function_name,
                    "lambdaFunctionLayers" => lambda_function_layers, "lambdaFunctionRuntime" => lambda_function_runtime,
                    "lambdaFunctionExecutionRoleArn" => lambda_function_execution_role_arn,
                ];
                date: [
                    "firstObservedAt" => first_observed_at, "lastObservedAt" => last_observed_at, "updatedAt" => updated_at,
                    "ecrImagePushedAt" => ecr_image_pushed_at, "ecrImageLastInUseAt" => ecr_image_last_in_use_at,
                    "lambdaFunctionLastModifiedAt" => lambda_function_last_modified_at,
                ];
                number: ["inspectorScore" => inspector_score, "epssScore" => epss_score, "ecrImageInUseCount" => ecr_image_in_use_count]
            );
        }
        Ok(b.build())
    }

    /// A digest of the filter: a sweep in progress is resumed only with the same one.
    fn filter_digest(&self) -> String {
        use sha2::Digest;
        let text = serde_json::to_string(&self.filter_table()).expect("serializes");
        hex::encode(&sha2::Sha256::digest(text.as_bytes())[..8])
    }
}

impl SourceSpec for InspectorConfig {
    fn mapper(&self) -> &str {
        &self.mapper
    }

    fn mapper_config(&self) -> Option<&serde_json::Value> {
        self.mapper_config.as_ref()
    }

    fn validate(&self, _: &ConnectorDefaults) -> Result<(), String> {
        if !(1..=100).contains(&self.page_size) {
            return Err(format!("page_size must be 1–100 (ListFindings' maxResults), got {}", self.page_size));
        }
        api::check_rate(self.requests_per_second)?;
        if self.seen_retention_days == 0 {
            return Err("seen_retention_days must be at least 1".into());
        }
        self.filter().map(|_| ())
    }

    fn label(&self, connector: &ConnectorDefaults) -> String {
        let mode = match self.mode(connector) {
            InspectorPullMode::Full => "full",
            InspectorPullMode::Unique => "unique",
        };
        format!("inspector {} ({mode})", connector.region)
    }

    fn build(&self, env: &SourceEnv<'_>) -> Result<Box<dyn Source>, String> {
        Ok(Box::new(Inspector {
            cfg: self.clone(),
            session: env.session()?,
            region: env.connector.region.clone(),
            mode: self.mode(env.connector),
            filter: self.filter()?,
            digest: self.filter_digest(),
        }))
    }

    fn probe(&self, connector: &ConnectorDefaults, aws: Option<&AwsSession>) -> Result<String, AwsError> {
        let client = probe_session(aws)?.inspector2();
        let r = runtime().block_on(client.list_findings().max_results(1).send());
        match r {
            Ok(_) => Ok(format!("inspector2:ListFindings OK in {} (Amazon Inspector; Inspector Classic reached end of support and is not read)", connector.region)),
            Err(e) => Err(classic_hint(describe(&e, "inspector2:ListFindings"))),
        }
    }
}

/// What `check` adds to a failed ListFindings: an account that never activated Amazon
/// Inspector (v2) — perhaps one still on Inspector Classic — is told to activate it.
fn classic_hint(mut e: AwsError) -> AwsError {
    if !e.is_denied() && !matches!(e.code.as_str(), "ThrottlingException" | "Timeout" | "ConnectionFailed" | "NoCredentials") {
        e.message = format!(
            "{}. Inspector Classic (the `inspector` API) reached its end of support and trawl does not read it: activate Amazon Inspector (inspector2:Enable, or the console's Inspector → Get started) in this account and region; its findings replace Classic's assessment runs",
            e.message
        );
    }
    e
}

/// How far a region's lane is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sweep {
    /// The sweep's id: when it started (ms since the epoch).
    pub sweep: i64,
    /// The mode it runs in (`full` or `unique`).
    pub mode: InspectorPullMode,
    /// [`InspectorConfig::filter_digest`] of its filter.
    pub filter: String,
    /// Pages durable so far.
    pub pages: u64,
    /// The token of the next page; `None` with `done`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// Every page is durable.
    pub done: bool,
}

impl Sweep {
    /// The sweep a run continues: the lane's, when it is unfinished, of the same mode and
    /// filter and not older than [`SWEEP_DAYS`]; else a new one starting `now`.
    fn resume_or_start(prev: Option<Sweep>, mode: InspectorPullMode, filter: &str, now: i64) -> (Sweep, bool) {
        match prev {
            Some(s) if !s.done && s.mode == mode && s.filter == filter && now - s.sweep < SWEEP_DAYS * 86_400_000 => (s, true),
            _ => (Sweep { sweep: now, mode, filter: filter.to_string(), pages: 0, next_token: None, done: false }, false),
        }
    }
}

/// A ListFindings response body, findings unparsed.
#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow, default)]
    findings: Vec<&'a serde_json::value::RawValue>,
}

/// What the source reads of a finding to decide whether to push it.
#[derive(Deserialize)]
struct FindingKey {
    #[serde(rename = "findingArn")]
    arn: Option<String>,
}

/// The source.
pub struct Inspector {
    cfg: InspectorConfig,
    session: AwsSession,
    region: String,
    mode: InspectorPullMode,
    filter: FilterCriteria,
    digest: String,
}

impl Inspector {
    fn stopped(&self, why: String) -> SourceError {
        SourceError { source_id: self.id(), message: format!("stopped early, the next run resumes there: {why}") }
    }

    /// Pushes a page's findings (or skips those the mode says not to write).
    fn push_page(&self, ctx: &mut SourceContext<'_>, unit: &mut UnitHandle, sweep: &Sweep, restarted: bool, body: &[u8]) {
        let page: Page = match serde_json::from_slice(body) {
            Ok(p) => p,
            Err(e) => {
                ctx.unit_failed(unit, 0, format!("inspector2:ListFindings returned a body that is not a findings page: {e}"), Some((0, 0, body.to_vec())));
                return;
            }
        };
        let now = chrono::Utc::now().timestamp_millis();
        let reported_until = now + self.cfg.seen_retention_days as i64 * 86_400_000;
        let context = serde_json::json!({ "pull_mode": sweep.mode, "sweep": sweep.sweep.to_string() }).to_string();
        for (index, raw) in page.findings.iter().enumerate() {
            let index = index as u64;
            let Some(arn) = serde_json::from_str::<FindingKey>(raw.get()).ok().and_then(|k| k.arn).filter(|a| !a.is_empty()) else {
                ctx.reject_record(unit, index, 0, "inspector2:ListFindings returned a finding without its findingArn".into(), raw.get().as_bytes());
                continue;
            };
            let in_sweep = format!("{}/{arn}", sweep.sweep);
            let write = match self.mode {
                InspectorPullMode::Full => !(restarted && self.seen(ctx, "sweep", &in_sweep)),
                InspectorPullMode::Unique => !self.seen(ctx, "reported", &arn),
            };
            if write {
                ctx.push_with_context(unit, raw.get().as_bytes(), index, 0, Some(context.as_bytes()));
            }
            if self.mode == InspectorPullMode::Full {
                ctx.mark_seen(unit, "sweep", &in_sweep, sweep.sweep + SWEEP_DAYS * 86_400_000);
            }
            ctx.mark_seen(unit, "reported", &arn, reported_until);
        }
    }

    /// Whether `key` is in the seen-set; a state store that cannot say is taken as "not
    /// seen" (a duplicate is recoverable downstream by `metadata.uid`, a loss is not).
    fn seen(&self, ctx: &SourceContext<'_>, set: &str, key: &str) -> bool {
        ctx.is_seen(set, key).unwrap_or_else(|e| {
            tracing::warn!(set, key, "{e}; writing the finding");
            false
        })
    }
}

impl Source for Inspector {
    /// The account and region: the seen-sets hang on it, so changing the filter or the mode
    /// does not forget what was reported.
    fn id(&self) -> String {
        format!("inspector:{}/{}", self.session.account_id, self.region)
    }

    fn kind(&self) -> &'static str {
        KIND
    }

    fn run(&mut self, ctx: &mut SourceContext<'_>) -> Result<(), SourceError> {
        let lane = self.region.clone();
        let prev = match ctx.cursor(&lane).map_err(|e| self.stopped(e))? {
            Some(v) => Some(serde_json::from_value::<Sweep>(v).map_err(|e| self.stopped(format!("its cursor is unreadable ({e}); delete the state dir's cursor to start over")))?),
            None => None,
        };
        let (mut sweep, resumed) = Sweep::resume_or_start(prev, self.mode, &self.digest, chrono::Utc::now().timestamp_millis());
        if resumed {
            tracing::info!(sweep = sweep.sweep, pages = sweep.pages, "resuming an unfinished sweep");
        }
        // Set when a resumed sweep is listed again from its first page (its token was
        // refused): the findings of its durable pages are skipped by the sweep's seen-set.
        let mut restarted = false;
        let client = self.session.inspector2();
        let capture = api::RawBody::default();
        let mut limiter = api::RateLimiter::new(self.cfg.requests_per_second);
        while !ctx.stopping() {
            let page_no = sweep.pages + 1;
            let info = ObjectInfo {
                connector: ctx.connector(),
                source_kind: KIND,
                aws_account_id: Some(self.session.account_id.clone()),
                region: Some(self.region.clone()),
                object: format!("inspector2://{}/{}/sweep-{}/page-{page_no}{}", self.session.account_id, self.region, sweep.sweep, if restarted { "-again" } else { "" }),
            };
            let req = client.list_findings().filter_criteria(self.filter.clone()).max_results(self.cfg.page_size).set_next_token(sweep.next_token.clone());
            let out = runtime().block_on(api::call_with_backoff(&mut limiter, 4, Duration::from_secs(1), || {
                let req = req.clone().customize().interceptor(capture.clone());
                async move { req.send().await.map_err(|e| describe(&e, "inspector2:ListFindings")) }
            }));
            let out = match out {
                Ok(o) => o,
                Err(e) if e.code == "ValidationException" && sweep.next_token.is_some() && resumed && !restarted => {
                    tracing::warn!(sweep = sweep.sweep, "Inspector refused the sweep's page token ({e}); listing the sweep again from its first page, skipping what it took");
                    sweep.next_token = None;
                    restarted = true;
                    continue;
                }
                Err(e) => {
                    let why = format!("inspector2:ListFindings in {}: {e}", self.region);
                    ctx.retry_later(info, Checkpoint::Lane { lane: lane.clone(), cursor: None }, &why);
                    return Err(self.stopped(why));
                }
            };
            let Some(body) = capture.take() else {
                let why = format!("inspector2:ListFindings in {}: the response body was not kept", self.region);
                ctx.retry_later(info, Checkpoint::Lane { lane: lane.clone(), cursor: None }, &why);
                return Err(self.stopped(why));
            };
            ctx.add_total(1);
            let mut unit = ctx.begin_unit(info, Checkpoint::Lane { lane: lane.clone(), cursor: None });
            self.push_page(ctx, &mut unit, &sweep, restarted, &body);
            sweep.pages = page_no;
            sweep.next_token = out.next_token().filter(|t| !t.is_empty()).map(str::to_string);
            sweep.done = sweep.next_token.is_none();
            ctx.end_unit_with_cursor(unit, serde_json::to_value(&sweep).expect("serializes"));
            if sweep.done {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_filter_is_active_findings_and_a_table_replaces_it() {
        let c: InspectorConfig = toml::from_str("").unwrap();
        let f = c.filter().unwrap();
        let status = &f.finding_status()[0];
        assert_eq!((status.comparison().as_str(), status.value()), ("EQUALS", "ACTIVE"));
        assert_eq!(c.mapper, "builtin:inspector");
        let c: InspectorConfig = toml::from_str(
            "[filter_criteria]\nseverity = [{ comparison = \"EQUALS\", value = \"CRITICAL\" }, { comparison = \"EQUALS\", value = \"HIGH\" }]\nupdatedAt = [{ startInclusive = \"2024-01-01T00:00:00Z\" }]\ninspectorScore = [{ lowerInclusive = 7.0 }]",
        )
        .unwrap();
        let f = c.filter().unwrap();
        assert!(f.finding_status().is_empty(), "a table replaces the default");
        assert_eq!(f.severity().iter().map(|s| s.value()).collect::<Vec<_>>(), ["CRITICAL", "HIGH"]);
        assert_eq!(f.updated_at()[0].start_inclusive().map(|t| t.secs()), Some(1_704_067_200));
        assert_eq!(f.inspector_score()[0].lower_inclusive(), Some(7.0));
        assert_ne!(c.filter_digest(), toml::from_str::<InspectorConfig>("").unwrap().filter_digest());
    }

    #[test]
    fn bad_filters_name_the_key() {
        let bad = |t: &str| toml::from_str::<InspectorConfig>(t).unwrap().filter().unwrap_err();
        assert!(bad("[filter_criteria]\nseverityy = [{ comparison = \"EQUALS\", value = \"HIGH\" }]").contains("unknown or unsupported key \"severityy\""));
        assert!(bad("[filter_criteria]\nseverity = [{ comparison = \"LIKE\", value = \"HIGH\" }]").contains("filter_criteria.severity: comparison \"LIKE\""));
        assert!(bad("[filter_criteria]\nupdatedAt = [{ startInclusive = \"yesterday\" }]").contains("filter_criteria.updatedAt: \"yesterday\" is not an RFC 3339 time"));
        assert!(bad("[filter_criteria]\ninspectorScore = [{ comparison = \"EQUALS\", value = \"7\" }]").contains("needs lowerInclusive or upperInclusive"));
        assert!(toml::from_str::<InspectorConfig>("[filter_criteria]\nseverity = [{ comparisn = \"EQUALS\" }]").is_err());
    }

    #[test]
    fn a_sweep_is_resumed_only_when_unfinished_recent_and_of_the_same_mode_and_filter() {
        use InspectorPullMode::*;
        let now = 1_700_000_000_000;
        let open = Sweep { sweep: now - 3_600_000, mode: Full, filter: "f".into(), pages: 2, next_token: Some("t".into()), done: false };
        assert_eq!(Sweep::resume_or_start(Some(open.clone()), Full, "f", now), (open.clone(), true));
        for (prev, mode, filter) in [
            (Sweep { done: true, next_token: None, ..open.clone() }, Full, "f"),
            (open.clone(), Unique, "f"),
            (open.clone(), Full, "g"),
            (Sweep { sweep: now - 3 * 86_400_000, ..open.clone() }, Full, "f"),
        ] {
            let (s, resumed) = Sweep::resume_or_start(Some(prev.clone()), mode, filter, now);
            assert!(!resumed, "{prev:?} {mode:?} {filter}");
            assert_eq!((s.sweep, s.pages, s.next_token, s.done), (now, 0, None, false));
        }
    }

    #[test]
    fn check_tells_an_account_without_inspector_what_to_do_and_leaves_denials_alone() {
        let e = classic_hint(AwsError { code: "ValidationException".into(), message: "Amazon Inspector is not enabled".into(), permission: None });
        assert!(e.message.contains("Inspector Classic") && e.message.contains("activate Amazon Inspector"), "{e}");
        let denied = AwsError { code: "AccessDeniedException".into(), message: "no".into(), permission: Some("AmazonInspector2ReadOnlyAccess: inspector2:ListFindings denied".into()) };
        assert_eq!(classic_hint(denied.clone()), denied);
    }
}
