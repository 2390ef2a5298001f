//! Source `vpc_flow`: VPC Flow Logs delivered to S3 (or a local copy of such a tree), enriched
//! with the EC2 instances behind each record's addresses and the account alias.
//!
//! **Objects.** `[prefix/]AWSLogs/<acct>/vpcflowlogs/<region>/YYYY/MM/DD/[HH/]<acct>_vpcflowlogs_<region>_<fl-id>_<time>_<hash>.log.gz`,
//! and the Hive-compatible layout `[prefix/]AWSLogs/aws-account-id=<acct>/aws-service=vpcflowlogs/aws-region=<region>/year=YYYY/month=MM/day=DD/[hour=HH/]…`;
//! accounts and regions are discovered by listing unless the config names them, then listed
//! by day for the date range. Each object is checkpointed once its records are durable.
//!
//! **Text files** start with a header line naming the fields (the default v2 format or any
//! custom format, fields in any order, Transit Gateway flow logs' own set): it is each
//! record's unit context, so the mapper splits the line by it. A repeated header is skipped,
//! another header starts a new context, a missing final newline is fine.
//!
//! **Parquet files** (the Parquet delivery option, `.log.parquet`, GZIP pages) are read row by
//! row, and each row becomes the line the text format would have: its values in column order,
//! space-separated, a null as `-`, with the column names as the header (`_` written `-`, so
//! `log_status` is `log-status`). One mapper reads both; a record's byte offset is its row
//! number.
//!
//! **Enrichment** ([`enrich`]): on by default, `enrich = false` turns it off.

pub mod enrich;

use std::{
    io::{BufRead, Read},
    path::{Path, PathBuf},
    sync::Arc,
};

use arrow_array::{Array, RecordBatch, cast::AsArray};
use bytes::Bytes;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use self::enrich::{Enricher, Inventory};
use super::{
    Checkpoint, ConnectorDefaults, DayRange, ProbeOutcome, ProbeRow, Source, SourceContext, SourceEnv, SourceError, SourceSpec,
    common::s3::{AwsLogsLayout, S3Fetcher, is_account, list_dirs, list_keys},
    probe_session,
};
use crate::{
    aws::{AwsError, AwsSession, describe, runtime},
    batch::ObjectInfo,
    formats::{FormatError, Record, RecordReader, compression::decompressed, delimited::DelimitedReader},
    pipeline::UnitHandle,
};

/// The source kind stamped on flow records (also when they arrive through `sqs`).
pub const KIND: &str = "vpc_flow";

/// The service folder under `AWSLogs/<acct>/`.
pub const SERVICE_DIR: &str = "vpcflowlogs";

/// Every flow log field AWS documents (v2–v8 and Transit Gateway flow logs).
pub const FIELDS: &[&str] = &[
    "version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes", "start", "end", "action", "log-status",
    "vpc-id", "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr", "pkt-dstaddr", "region", "az-id", "sublocation-type", "sublocation-id",
    "pkt-src-aws-service", "pkt-dst-aws-service", "flow-direction", "traffic-path", "ecs-cluster-arn", "ecs-cluster-name", "ecs-container-instance-arn",
    "ecs-container-instance-id", "ecs-container-id", "ecs-second-container-id", "ecs-service-name", "ecs-task-definition-arn", "ecs-task-arn", "ecs-task-id",
    "reject-reason", "resource-type", "tgw-id", "tgw-attachment-id", "tgw-src-vpc-account-id", "tgw-dst-vpc-account-id", "tgw-src-vpc-id", "tgw-dst-vpc-id",
    "tgw-src-subnet-id", "tgw-dst-subnet-id", "tgw-src-eni", "tgw-dst-eni", "tgw-src-az-id", "tgw-dst-az-id", "tgw-pair-attachment-id",
    "packets-lost-no-route", "packets-lost-blackhole", "packets-lost-mtu-exceeded", "packets-lost-ttl-expired",
];

/// Whether a line is a header: every token shaped like a field name (`[a-z][a-z0-9-]*`) and
/// at least one a documented field (values are numbers, addresses, `eni-…` ids, `-` or upper
/// case words, and a line of ids alone names no field).
pub fn is_header(line: &[u8]) -> bool {
    let mut known = false;
    for t in line.split(|b| b.is_ascii_whitespace()).filter(|t| !t.is_empty()) {
        if !(t[0].is_ascii_lowercase() && t.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')) {
            return false;
        }
        known |= FIELDS.iter().any(|f| f.as_bytes() == t);
    }
    known
}

/// Whether a file name is a flow log file: text (`.log`, `.log.gz`) or Parquet
/// (`.parquet`, `.log.parquet`, `.parquet.gz`), not hidden.
pub fn is_flow_file(key: &str) -> bool {
    let name = key.rsplit(['/', '\\']).next().unwrap_or("");
    !name.starts_with('.') && [".log", ".log.gz", ".parquet", ".parquet.gz"].iter().any(|e| name.ends_with(e))
}

/// Whether a key is in a flow log layout (`…/vpcflowlogs/…` or `…/aws-service=vpcflowlogs/…`)
/// and names a flow log file.
pub fn is_flow_key(key: &str) -> bool {
    key.split(['/', '\\']).any(|c| c == SERVICE_DIR || c == "aws-service=vpcflowlogs") && is_flow_file(key)
}

/// `(account id, region)` from a key or path in either layout.
pub fn account_region(key: &str) -> (Option<String>, Option<String>) {
    let parts: Vec<&str> = key.split(['/', '\\']).collect();
    if let Some(i) = parts.iter().position(|p| *p == SERVICE_DIR) {
        let account = i.checked_sub(1).map(|j| parts[j]).filter(|a| is_account(a));
        let region = parts.get(i + 1).filter(|r| r.contains('-'));
        return (account.map(str::to_string), region.map(|r| r.to_string()));
    }
    let value = |k: &str| parts.iter().find_map(|p| p.strip_prefix(k)).map(str::to_string);
    (value("aws-account-id=").filter(|a| is_account(a)), value("aws-region="))
}

/// Reads a Parquet flow log row by row: each row is the text format's line (values in
/// column order, space-separated, null `-`), the column names (`_` → `-`) its header.
pub struct ParquetRows {
    reader: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    header: Vec<u8>,
    /// The batch being read, its columns as text.
    columns: Vec<arrow_array::StringArray>,
    rows: usize,
    row: usize,
    next_index: u64,
}

const PARQUET: &str = "VPC flow log (Parquet)";

impl ParquetRows {
    /// A reader of a whole Parquet file.
    pub fn new(body: Bytes) -> Result<Self, FormatError> {
        let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(body)
            .map_err(|e| FormatError::NotFormat { what: PARQUET, offset: 0, detail: e.to_string() })?;
        let names: Vec<String> = b.schema().fields().iter().map(|f| f.name().replace('_', "-")).collect();
        let reader = b.with_batch_size(8192).build().map_err(|e| FormatError::NotFormat { what: PARQUET, offset: 0, detail: e.to_string() })?;
        Ok(Self { reader, header: names.join(" ").into_bytes(), columns: Vec::new(), rows: 0, row: 0, next_index: 0 })
    }

    fn load(&mut self, batch: RecordBatch) -> Result<(), FormatError> {
        let mut columns = Vec::with_capacity(batch.num_columns());
        for c in batch.columns() {
            let s = arrow_cast::cast(c, &arrow_schema::DataType::Utf8).map_err(|e| FormatError::Malformed { what: PARQUET, offset: self.next_index, detail: e.to_string(), partial: None })?;
            columns.push(s.as_string::<i32>().clone());
        }
        (self.columns, self.rows, self.row) = (columns, batch.num_rows(), 0);
        Ok(())
    }
}

impl RecordReader for ParquetRows {
    fn next_record(&mut self) -> Result<Option<Record>, FormatError> {
        while self.row >= self.rows {
            match self.reader.next() {
                None => return Ok(None),
                Some(Err(e)) => return Err(FormatError::Malformed { what: PARQUET, offset: self.next_index, detail: e.to_string(), partial: None }),
                Some(Ok(b)) => self.load(b)?,
            }
        }
        let mut line = Vec::with_capacity(self.columns.len() * 12);
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                line.push(b' ');
            }
            if c.is_null(self.row) || c.value(self.row).is_empty() {
                line.push(b'-');
            } else {
                line.extend_from_slice(c.value(self.row).as_bytes());
            }
        }
        self.row += 1;
        let index = self.next_index;
        self.next_index += 1;
        Ok(Some(Record { index, offset: index, bytes: line }))
    }

    fn context(&self) -> Option<&[u8]> {
        Some(&self.header)
    }
}

/// How flow records are enriched (from a `vpc_flow` source's config, or an `sqs` source's
/// `[…vpc_flow]` table: the fields `enrich`, `enrich_refresh_minutes`, `enrich_max_instances`).
#[derive(Debug, Clone, PartialEq)]
pub struct EnrichSettings {
    /// Attach the instances and the account alias.
    pub enrich: bool,
    /// Fetch the inventory again after this many minutes of a long run.
    pub enrich_refresh_minutes: u64,
    /// Instances kept per region.
    pub enrich_max_instances: usize,
}

impl Default for EnrichSettings {
    fn default() -> Self {
        Self { enrich: true, enrich_refresh_minutes: default_refresh(), enrich_max_instances: default_max_instances() }
    }
}

/// Default of `enrich`.
pub fn yes() -> bool {
    true
}
/// Default of `enrich_refresh_minutes`.
pub fn default_refresh() -> u64 {
    60
}
/// Default of `enrich_max_instances`.
pub fn default_max_instances() -> usize {
    100_000
}

impl EnrichSettings {
    /// Checks the values.
    pub fn check(&self) -> Result<(), String> {
        if self.enrich_refresh_minutes == 0 {
            return Err("enrich_refresh_minutes must be at least 1".into());
        }
        Ok(())
    }
}

/// Reads flow log objects into a source's context, enriched: shared by `vpc_flow` and `sqs`.
pub struct FlowReader {
    enricher: Enricher,
    #[cfg(feature = "vpc_flow")]
    cache: Option<enrich::InventoryCache>,
    /// The connector's account (records of other accounts are not enriched) and region.
    account: Option<String>,
    region: String,
}

impl FlowReader {
    /// A reader for a source of `connector`, enriching from `session` when `settings` say so.
    pub fn new(settings: &EnrichSettings, connector: &ConnectorDefaults, session: Option<&AwsSession>) -> Self {
        #[cfg(feature = "vpc_flow")]
        let cache = match session {
            Some(s) if settings.enrich => Some(enrich::InventoryCache {
                session: s.clone(),
                connector: connector.name.clone(),
                ttl: std::time::Duration::from_secs(settings.enrich_refresh_minutes * 60),
                max_instances: settings.enrich_max_instances,
            }),
            _ => None,
        };
        #[cfg(not(feature = "vpc_flow"))]
        if settings.enrich {
            tracing::warn!(connector = %connector.name, "this build has no `vpc_flow` feature: flow records are written unenriched");
        }
        Self {
            enricher: Enricher::new(),
            #[cfg(feature = "vpc_flow")]
            cache,
            account: session.map(|s| s.account_id.clone()),
            region: connector.region.clone(),
        }
    }

    /// The inventory for an object's records: its account's, in its region.
    fn inventory_for(&self, info: &ObjectInfo) -> Option<Arc<Inventory>> {
        #[cfg(feature = "vpc_flow")]
        {
            let cache = self.cache.as_ref()?;
            if info.aws_account_id.as_deref().is_some_and(|a| Some(a) != self.account.as_deref()) {
                return None;
            }
            Some(cache.get(info.region.as_deref().unwrap_or(&self.region)))
        }
        #[cfg(not(feature = "vpc_flow"))]
        {
            let _ = (info, &self.account, &self.region);
            None
        }
    }

    /// Reads one flow log object (text, gzip'd or not, or Parquet) as one unit, done once
    /// durable.
    pub fn ingest(&mut self, ctx: &mut SourceContext<'_>, info: ObjectInfo, input: impl Read + Send + 'static) {
        let inventory = self.inventory_for(&info);
        self.enricher.set_inventory(inventory);
        let mut unit = ctx.begin_unit(info, Checkpoint::Done);
        let mut stream = match decompressed(input) {
            Ok(s) => s,
            Err(e) => {
                ctx.unit_failed(&mut unit, 0, format!("cannot read: {e}"), None);
                ctx.end_unit(unit);
                return;
            }
        };
        match stream.fill_buf() {
            Ok(head) if head.starts_with(b"PAR1") => {
                let mut body = Vec::new();
                match stream.read_to_end(&mut body) {
                    Ok(_) => match ParquetRows::new(Bytes::from(body)) {
                        Ok(r) => self.pump(ctx, &mut unit, r),
                        Err(e) => ctx.unit_failed(&mut unit, 0, e.to_string(), None),
                    },
                    Err(e) => ctx.unit_failed(&mut unit, 0, format!("cannot read: {e}"), None),
                }
            }
            Ok(_) => self.pump(ctx, &mut unit, DelimitedReader::new(stream, is_header, "VPC flow log")),
            Err(e) => ctx.unit_failed(&mut unit, 0, format!("cannot read: {e} (corrupt or truncated compressed stream?)"), None),
        }
        ctx.end_unit(unit);
    }

    fn pump(&mut self, ctx: &mut SourceContext<'_>, unit: &mut UnitHandle, mut reader: impl RecordReader) {
        loop {
            match reader.next_record() {
                Ok(Some(rec)) => {
                    let header = reader.context();
                    let e = header.and_then(|h| self.enricher.enrich(h, &rec.bytes));
                    ctx.push_enriched(unit, &rec.bytes, rec.index, rec.offset, header, e);
                }
                Ok(None) => break,
                Err(FormatError::BadRecord { what, offset, detail, record: Some(rec) }) => {
                    let reason = FormatError::BadRecord { what, offset, detail, record: None }.to_string();
                    ctx.reject_record(unit, rec.index, rec.offset, reason, &rec.bytes);
                }
                Err(mut e) => {
                    let partial = e.take_partial();
                    let reason = match &e {
                        FormatError::Io { .. } => format!("{e} (corrupt or truncated compressed stream?)"),
                        _ => e.to_string(),
                    };
                    ctx.unit_failed(unit, e.offset(), reason, partial.map(|p| (p.index, p.offset, p.bytes)));
                    break;
                }
            }
        }
    }
}

/// The provenance of a flow log object: account and region from its key.
pub fn object_info(ctx: &SourceContext<'_>, object: String) -> ObjectInfo {
    let (aws_account_id, region) = account_region(&object);
    ObjectInfo { connector: ctx.connector(), source_kind: KIND, aws_account_id, region, object }
}

/// `type = "vpc_flow"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcFlowConfig {
    /// The bucket the flow logs are delivered to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// Its key prefix (the part before `AWSLogs/`), if the flow log has one.
    #[serde(default)]
    pub prefix: String,
    /// Read a local tree in the same layout instead (a copy of a bucket, the benchmark).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Account ids to read. Default: every account found.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Regions to read. Default: every region found per account.
    #[serde(default)]
    pub regions: Vec<String>,
    /// First day (UTC) to read: `YYYY-MM-DD` or `<N>d`. Default `7d`. `--since` overrides it.
    /// (A local `path` is read whole.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Last day (UTC) to read, inclusive; same forms. Default today. `--until` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Objects downloaded at once. Default 8.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Attach to each record the EC2 instances behind its addresses
    /// (`ec2:DescribeInstances`) and the account alias (`iam:ListAccountAliases`). Default true.
    #[serde(default = "yes")]
    pub enrich: bool,
    /// Fetch the instances again after this many minutes of a long run. Default 60.
    #[serde(default = "default_refresh")]
    pub enrich_refresh_minutes: u64,
    /// Instances kept per region (the rest are not enriched, with a warning). Default 100000.
    #[serde(default = "default_max_instances")]
    pub enrich_max_instances: usize,
    /// Mapper: `builtin:vpc_flow` (default), `builtin:passthrough` or a `.wasm` path.
    #[serde(default = "default_mapper")]
    pub mapper: String,
    /// Config table handed to the mapper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapper_config: Option<serde_json::Value>,
}

fn default_concurrency() -> usize {
    8
}

/// The standard mapper of flow records.
pub fn default_mapper() -> String {
    "builtin:vpc_flow".into()
}

impl VpcFlowConfig {
    /// The enrichment settings.
    pub fn enrichment(&self) -> EnrichSettings {
        EnrichSettings { enrich: self.enrich, enrich_refresh_minutes: self.enrich_refresh_minutes, enrich_max_instances: self.enrich_max_instances }
    }

    /// The days to read, with `--since`/`--until` taking precedence.
    pub fn days(&self, since: Option<NaiveDate>, until: Option<NaiveDate>, today: NaiveDate) -> Result<DayRange, String> {
        DayRange::resolve(self.since.as_deref(), self.until.as_deref(), since, until, "7d", today)
    }
}

impl SourceSpec for VpcFlowConfig {
    fn mapper(&self) -> &str {
        &self.mapper
    }

    fn mapper_config(&self) -> Option<&serde_json::Value> {
        self.mapper_config.as_ref()
    }

    /// A bucket needs credentials; a local tree only to enrich.
    fn needs_aws(&self) -> bool {
        self.path.is_none() || self.enrich
    }

    fn local_input(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn validate(&self, _: &ConnectorDefaults) -> Result<(), String> {
        match (&self.bucket, &self.path) {
            (Some(_), Some(_)) => return Err("give either bucket or path, not both".into()),
            (None, None) => return Err("give the flow log bucket (bucket = \"…\") or a local tree (path = \"…\")".into()),
            (Some(b), None) if b.is_empty() || b.contains('/') => return Err(format!("bucket must be a bucket name (no s3://, no /), got {b:?}")),
            (None, Some(_)) if !self.prefix.is_empty() => return Err("prefix goes with bucket, not path".into()),
            _ => {}
        }
        self.enrichment().check()?;
        self.days(None, None, chrono::Utc::now().date_naive()).map(|_| ())
    }

    fn label(&self, _: &ConnectorDefaults) -> String {
        match (&self.bucket, &self.path) {
            (Some(b), _) => format!("vpc_flow s3://{b}/{}", self.prefix.trim_matches('/')),
            (None, p) => format!("vpc_flow {}", p.as_deref().unwrap_or(Path::new("?")).display()),
        }
    }

    fn build(&self, env: &SourceEnv<'_>) -> Result<Box<dyn Source>, String> {
        Ok(Box::new(VpcFlow::new(self.clone(), env)?))
    }

    fn probe(&self, _: &ConnectorDefaults, aws: Option<&AwsSession>) -> Result<String, AwsError> {
        if let Some(p) = &self.path {
            return match std::fs::read_dir(p) {
                Ok(_) => Ok(format!("{} is readable", p.display())),
                Err(e) => Err(AwsError { code: "NotReadable".into(), message: format!("{}: {e}", p.display()), permission: None }),
            };
        }
        let bucket = self.bucket.as_deref().unwrap_or_default();
        let root = AwsLogsLayout { bucket, prefix: &self.prefix, services: &[SERVICE_DIR], accounts: &[], regions: &[] }.root();
        let r = runtime().block_on(probe_session(aws)?.s3().list_objects_v2().bucket(bucket).prefix(&root).max_keys(1).send());
        match r {
            Ok(o) if o.key_count().unwrap_or(0) == 0 => Ok(format!("s3:ListBucket OK; nothing under {root} yet")),
            Ok(_) => Ok("s3:ListBucket OK (s3:GetObject is checked when objects are read)".into()),
            Err(e) => Err(crate::check::bucket_error(describe(&e, "s3:ListBucket"), bucket)),
        }
    }

    fn probe_rows(&self, connector: &ConnectorDefaults, aws: Option<&AwsSession>) -> Vec<ProbeRow> {
        let mut rows = vec![ProbeRow { target: None, outcome: self.probe(connector, aws).into() }];
        if self.enrich {
            rows.extend(probe_enrichment(connector, aws));
        }
        rows
    }
}

/// `trawl check`'s rows for enrichment: one call each of `ec2:DescribeInstances` and
/// `iam:ListAccountAliases`. A denial is a WARN: the run goes on, unenriched.
pub fn probe_enrichment(connector: &ConnectorDefaults, aws: Option<&AwsSession>) -> Vec<ProbeRow> {
    #[cfg(feature = "vpc_flow")]
    {
        let Ok(session) = probe_session(aws) else { return Vec::new() };
        let warn = |e: AwsError| ProbeOutcome::Warn(format!("{e}; flow records will be written without this enrichment"));
        let ec2 = match runtime().block_on(session.ec2_in(&connector.region).describe_instances().max_results(5).send()) {
            Ok(o) => ProbeOutcome::Ok(format!("ec2:DescribeInstances OK in {} ({} instance(s) on the first page)", connector.region, o.reservations().iter().map(|r| r.instances().len()).sum::<usize>())),
            Err(e) => warn(describe(&e, "ec2:DescribeInstances")),
        };
        let iam = match runtime().block_on(enrich::fetch_alias(&session.iam())) {
            Ok(Some(a)) => ProbeOutcome::Ok(format!("iam:ListAccountAliases OK: {a}")),
            Ok(None) => ProbeOutcome::Ok("iam:ListAccountAliases OK; the account has no alias".into()),
            Err(e) => warn(e),
        };
        vec![ProbeRow { target: Some("enrichment (instances)".into()), outcome: ec2 }, ProbeRow { target: Some("enrichment (account alias)".into()), outcome: iam }]
    }
    #[cfg(not(feature = "vpc_flow"))]
    {
        let _ = (connector, aws);
        vec![ProbeRow { target: Some("enrichment".into()), outcome: ProbeOutcome::Warn("this build has no `vpc_flow` feature: records are written unenriched".into()) }]
    }
}

/// Every key of the Hive-compatible layout under `root` (`…/AWSLogs/`) for the days, that
/// `keep` accepts. Partition values are read as numbers (zero-padded or not).
async fn hive_keys(s3: &aws_sdk_s3::Client, bucket: &str, root: &str, accounts: &[String], regions: &[String], days: &DayRange) -> Result<Vec<String>, AwsError> {
    let value = |dir: &str, under: &str, key: &str| dir[under.len()..].trim_end_matches('/').strip_prefix(key).map(str::to_string);
    let mut keys = Vec::new();
    for acct_dir in list_dirs(s3, bucket, root).await? {
        let Some(acct) = value(&acct_dir, root, "aws-account-id=") else { continue };
        if !is_account(&acct) || (!accounts.is_empty() && !accounts.contains(&acct)) {
            continue;
        }
        let service = format!("{acct_dir}aws-service={SERVICE_DIR}/");
        let region_dirs = if regions.is_empty() { list_dirs(s3, bucket, &service).await? } else { regions.iter().map(|r| format!("{service}aws-region={r}/")).collect() };
        for region_dir in region_dirs {
            for y_dir in list_dirs(s3, bucket, &region_dir).await? {
                let Some(y) = value(&y_dir, &region_dir, "year=").and_then(|v| v.parse::<i32>().ok()) else { continue };
                if y < days.first.year() || y > days.last.year() {
                    continue;
                }
                for m_dir in list_dirs(s3, bucket, &y_dir).await? {
                    let Some(m) = value(&m_dir, &y_dir, "month=").and_then(|v| v.parse::<u32>().ok()) else { continue };
                    let month_in = |d: NaiveDate| (d.year(), d.month());
                    if (y, m) < month_in(days.first) || (y, m) > month_in(days.last) {
                        continue;
                    }
                    for d_dir in list_dirs(s3, bucket, &m_dir).await? {
                        let Some(d) = value(&d_dir, &m_dir, "day=").and_then(|v| v.parse::<u32>().ok()) else { continue };
                        if NaiveDate::from_ymd_opt(y, m, d).is_some_and(|day| day >= days.first && day <= days.last) {
                            keys.extend(list_keys(s3, bucket, &d_dir).await?.into_iter().filter(|k| is_flow_file(k)));
                        }
                    }
                }
            }
        }
    }
    Ok(keys)
}

/// The source.
pub struct VpcFlow {
    cfg: VpcFlowConfig,
    session: Option<AwsSession>,
    days: DayRange,
    reader: FlowReader,
}

impl VpcFlow {
    /// A source over the configured bucket or tree.
    pub fn new(cfg: VpcFlowConfig, env: &SourceEnv<'_>) -> Result<Self, String> {
        let session = if cfg.bucket.is_some() { Some(env.session()?) } else { env.aws.cloned() };
        let days = cfg.days(env.since, env.until, chrono::Utc::now().date_naive())?;
        let reader = FlowReader::new(&cfg.enrichment(), env.connector, session.as_ref());
        Ok(Self { cfg, session, days, reader })
    }

    fn fail(&self, message: String) -> SourceError {
        SourceError { source_id: self.id(), message }
    }

    fn run_s3(&mut self, ctx: &mut SourceContext<'_>, bucket: &str, session: &AwsSession) -> Result<(), SourceError> {
        let s3 = session.s3();
        let layout = AwsLogsLayout { bucket, prefix: &self.cfg.prefix, services: &[SERVICE_DIR], accounts: &self.cfg.accounts, regions: &self.cfg.regions };
        let listed = runtime().block_on(async {
            let mut keys = layout.keys(&s3, &self.days, is_flow_file).await?;
            keys.extend(hive_keys(&s3, bucket, &layout.root(), &self.cfg.accounts, &self.cfg.regions, &self.days).await?);
            Ok::<_, AwsError>(keys)
        });
        let mut keys = listed.map_err(|e| self.fail(format!("bucket {bucket}: {e}")))?;
        keys.sort();
        tracing::info!(bucket, objects = keys.len(), first = %self.days.first, last = %self.days.last, "listed flow log bucket");
        let mut fetcher = S3Fetcher::new(s3, self.cfg.concurrency);
        let mut todo = 0;
        for key in keys {
            if !ctx.is_done(&format!("s3://{bucket}/{key}")) {
                fetcher.push((), bucket, &key);
                todo += 1;
            }
        }
        ctx.set_total(todo);
        while let Some(f) = fetcher.next() {
            if ctx.stopping() {
                break;
            }
            let info = object_info(ctx, f.url);
            match f.body {
                Ok(body) => self.reader.ingest(ctx, info, ctx.count_bytes(std::io::Cursor::new(body))),
                Err(e) if e.is_not_found() => ctx.unreadable_unit(info, Checkpoint::Done, format!("object was deleted before it could be read ({e})"), None),
                Err(e) => ctx.retry_later(info, Checkpoint::Done, &format!("cannot fetch: {e}")),
            }
        }
        Ok(())
    }

    fn run_local(&mut self, ctx: &mut SourceContext<'_>, root: &Path) -> Result<(), SourceError> {
        if !root.is_dir() {
            return Err(self.fail(format!("{} is not a directory", root.display())));
        }
        let mut files = Vec::new();
        let mut unlisted = Vec::new();
        for entry in walkdir::WalkDir::new(root).follow_links(true).sort_by_file_name() {
            match entry {
                Ok(e) if e.file_type().is_file() => {
                    let p = e.path().display().to_string();
                    // Inside an AWSLogs tree only the flow log folders; elsewhere any flow log file.
                    let in_tree = p.split(['/', '\\']).any(|c| c == "AWSLogs");
                    if if in_tree { is_flow_key(&p) } else { is_flow_file(&p) } {
                        files.push(e.into_path());
                    }
                }
                Ok(_) => {}
                Err(e) if e.loop_ancestor().is_some() => tracing::warn!("a symlink loops back up the tree; not followed: {e}"),
                Err(e) => {
                    tracing::warn!("cannot list: {e}");
                    unlisted.push(e.to_string());
                }
            }
        }
        let todo: Vec<PathBuf> = files.into_iter().filter(|p| !ctx.is_done(&p.display().to_string())).collect();
        ctx.set_total(todo.len() as u64);
        for path in todo {
            if ctx.stopping() {
                break;
            }
            let info = object_info(ctx, path.display().to_string());
            match std::fs::File::open(&path) {
                Ok(f) => self.reader.ingest(ctx, info, ctx.count_bytes(f)),
                Err(e) => ctx.retry_later(info, Checkpoint::Done, &format!("cannot open: {e}")),
            }
        }
        if !unlisted.is_empty() {
            return Err(self.fail(format!("{} path(s) could not be listed, the next run tries again: {}", unlisted.len(), unlisted.join("; "))));
        }
        Ok(())
    }
}

impl Source for VpcFlow {
    fn id(&self) -> String {
        match (&self.cfg.bucket, &self.cfg.path) {
            (Some(b), _) => format!("vpc_flow:s3://{b}/{}", self.cfg.prefix.trim_matches('/')),
            (None, p) => format!("vpc_flow:{}", p.as_deref().unwrap_or(Path::new("")).display()),
        }
    }

    fn kind(&self) -> &'static str {
        KIND
    }

    fn run(&mut self, ctx: &mut SourceContext<'_>) -> Result<(), SourceError> {
        match (self.cfg.bucket.clone(), self.cfg.path.clone(), self.session.clone()) {
            (_, Some(p), _) => self.run_local(ctx, &p),
            (Some(b), None, Some(s)) => self.run_s3(ctx, &b, &s),
            _ => Err(self.fail("needs AWS credentials".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_records() {
        assert!(is_header(b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"));
        assert!(is_header(b"interface-id srcaddr  dstaddr pkt-srcaddr some-future-field"));
        assert!(is_header(b"resource-type tgw-id tgw-attachment-id tgw-src-vpc-account-id srcaddr dstaddr packets-lost-no-route"));
        for line in [
            &b"2 123456789010 eni-abc123de 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"[..],
            b"2 123456789010 eni-1a2b3c4d - - - - - - - 1431280876 1431280934 - NODATA",
            b"eni-1a2b3c4d vpc-1 subnet-2 i-3",
            b"eni-1a2b3c4d 2001:db8::1 ingress",
            b"",
        ] {
            assert!(!is_header(line), "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn keys_in_both_layouts() {
        let std = "logs/AWSLogs/123456789012/vpcflowlogs/us-east-1/2018/06/20/123456789012_vpcflowlogs_us-east-1_fl-1234abcd_20180620T1620Z_fe123456.log.gz";
        assert!(is_flow_key(std));
        assert_eq!(account_region(std), (Some("123456789012".into()), Some("us-east-1".into())));
        let hive = "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2024/month=01/day=15/hour=10/123456789012_vpcflowlogs_eu-west-1_fl-1_20240115T1000Z_ab.log.parquet";
        assert!(is_flow_key(hive));
        assert_eq!(account_region(hive), (Some("123456789012".into()), Some("eu-west-1".into())));
        assert!(!is_flow_key("AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/15/x.json.gz"));
        assert!(!is_flow_key("AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/01/15/.x.log.gz"));
        assert!(!is_flow_key("AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/01/15/notes.txt"));
    }

    /// A Parquet file as the delivery option writes it (GZIP pages, INT32/INT64/STRING columns
    /// with underscores), read as the text format's lines.
    #[test]
    fn parquet_rows_are_the_text_formats_lines() {
        use arrow_array::{Int32Array, Int64Array, StringArray};
        use arrow_schema::{DataType, Field, Schema};
        let schema = Arc::new(Schema::new(vec![
            Field::new("version", DataType::Int32, true),
            Field::new("interface_id", DataType::Utf8, true),
            Field::new("srcaddr", DataType::Utf8, true),
            Field::new("bytes", DataType::Int64, true),
            Field::new("log_status", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from(vec![Some(5), Some(5)])),
                Arc::new(StringArray::from(vec![Some("eni-1"), Some("eni-2")])),
                Arc::new(StringArray::from(vec![Some("10.0.0.5"), None])),
                Arc::new(Int64Array::from(vec![Some(4249), None])),
                Arc::new(StringArray::from(vec![Some("OK"), Some("NODATA")])),
            ],
        )
        .unwrap();
        let props = parquet::file::properties::WriterProperties::builder().set_compression(parquet::basic::Compression::GZIP(Default::default())).build();
        let mut buf = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let mut r = ParquetRows::new(Bytes::from(buf)).unwrap();
        let mut got = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            got.push((rec.index, String::from_utf8(rec.bytes).unwrap()));
        }
        assert_eq!(got, [(0, "5 eni-1 10.0.0.5 4249 OK".to_string()), (1, "5 eni-2 - - NODATA".to_string())]);
        assert_eq!(r.context(), Some(&b"version interface-id srcaddr bytes log-status"[..]));
        assert!(ParquetRows::new(Bytes::from_static(b"PAR1 not really")).is_err());
    }

    #[test]
    fn config_forms() {
        let d = ConnectorDefaults { name: "c".into(), region: "us-east-1".into(), sqs_url: None, macie_sqs_url: None, inspector_pull_mode: Default::default() };
        let c: VpcFlowConfig = toml::from_str("bucket = \"flows\"\nprefix = \"vpc/\"").unwrap();
        assert_eq!((c.mapper.as_str(), c.enrich, c.label(&d)), ("builtin:vpc_flow", true, "vpc_flow s3://flows/vpc".to_string()));
        assert!(c.validate(&d).is_ok() && c.needs_aws());
        let local: VpcFlowConfig = toml::from_str("path = \"/data/flows\"\nenrich = false").unwrap();
        assert!(!local.needs_aws() && local.validate(&d).is_ok());
        let enriched_local: VpcFlowConfig = toml::from_str("path = \"/data/flows\"").unwrap();
        assert!(enriched_local.needs_aws(), "enrichment comes from the connector's account");
        assert!(toml::from_str::<VpcFlowConfig>("").unwrap().validate(&d).unwrap_err().contains("bucket"));
        assert!(toml::from_str::<VpcFlowConfig>("bucket = \"b\"\npath = \"p\"").unwrap().validate(&d).unwrap_err().contains("not both"));
        assert!(toml::from_str::<VpcFlowConfig>("bucket = \"b\"\nenrich_refresh_minutes = 0").unwrap().validate(&d).unwrap_err().contains("refresh"));
        assert!(toml::from_str::<VpcFlowConfig>("bucket = \"b\"\nenrichh = true").is_err());
    }
}
