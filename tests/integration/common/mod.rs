//! Test harness: paths, a scratch workspace that runs the real `trawl` binary, and readers for
//! what it writes.

#![allow(dead_code)]

pub mod aws;
pub mod fake_cloudwatch;
pub mod fake_redshift;
pub mod fakes;
pub mod fake_guardduty;
pub mod fake_shield;
pub mod runs;
pub mod watchdog;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use arrow_array::{Array, RecordBatch, StructArray, cast::AsArray};
use watchdog::OutputWithin;
use trawl::{
    batch::{ObjectInfo, RawBatch, RawBatchBuilder},
    formats::{cloudtrail::CloudTrailReader, compression::decompressed},
    pipeline::RunSummary,
};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A compile cache shared by the tests (compiling a module takes seconds in a dev build).
pub fn module_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("module-cache")
}

/// The bundled sample trail.
pub fn sample_trail() -> PathBuf {
    repo().join("examples/data/cloudtrail")
}

/// CloudTrail files under `dir` that the `cloudtrail_files` source reads, sorted (digests
/// excluded).
pub fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir(dir).into_iter().filter(|p| trawl::sources::cloudtrail_files::is_log_file(p)).collect();
    v.sort();
    v
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walkdir(&p)) } else { out.push(p) }
    }
    out
}

/// Every record of the CloudTrail files under `dir`, parsed independently of trawl's reader.
pub fn input_records(dir: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for f in log_files(dir) {
        let bytes = std::fs::read(&f).unwrap();
        let text = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut s).unwrap();
            s
        } else {
            String::from_utf8(bytes).unwrap()
        };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        out.extend(v["Records"].as_array().unwrap().iter().cloned());
    }
    out
}

/// The raw batch of one file, read with trawl's reader (as the source would): a log file, or
/// CloudTrail events in any container it reads.
pub fn raw_batch_of(file: &Path, connector: &str) -> RawBatch {
    let info = ObjectInfo {
        connector: connector.into(),
        source_kind: "cloudtrail_files",
        aws_account_id: Some("111122223333".into()),
        region: Some("us-east-1".into()),
        object: file.strip_prefix(repo()).unwrap_or(file).display().to_string(),
    };
    let mut b = RawBatchBuilder::new();
    let mut r = CloudTrailReader::new(decompressed(std::fs::File::open(file).unwrap()).unwrap());
    while let Some(rec) = r.next_record().unwrap() {
        // Fixed ingest time so outputs are reproducible.
        b.push(&info, &rec.bytes, rec.index, rec.offset, 1_700_000_000_000);
    }
    b.finish(1)
}

/// The VPC Flow Logs samples (`examples/data/vpc-flow`, see its README).
pub fn vpc_flow_samples() -> PathBuf {
    repo().join("examples/data/vpc-flow")
}

/// The Redshift audit log samples (`examples/data/redshift`, see its README).
pub fn redshift_samples() -> PathBuf {
    repo().join("examples/data/redshift")
}

/// The files under `dir` that `keep` takes, sorted.
pub fn files_where(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir(dir).into_iter().filter(|p| keep(p)).collect();
    v.sort();
    v
}

/// A record a reader refused (the source dead-letters it): its index and the reason.
pub type Refused = (u64, String);

/// The EC2 instances and account alias the VPC Flow Logs samples' enrichment assumes (listed
/// in `examples/data/vpc-flow/README.md`), as `ec2:DescribeInstances` and
/// `iam:ListAccountAliases` would give them.
pub fn sample_inventory() -> std::sync::Arc<trawl::sources::vpc_flow::enrich::Inventory> {
    use trawl::sources::vpc_flow::enrich::{Instance, Interface, Inventory};
    let (vpc, subnet_a, subnet_b) = ("vpc-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60011", "subnet-0a1b2c3d4e5f60012");
    let instance = |n: u32, name: &str, ami: &str, az: &str, subnet: &str, addresses: &[&str]| Instance {
        id: format!("i-0a1b2c3d4e5f6000{n}"),
        name: Some(name.into()),
        image_id: Some(ami.into()),
        az: Some(az.into()),
        vpc_id: Some(vpc.into()),
        subnet_id: Some(subnet.into()),
        interfaces: vec![Interface {
            id: Some(format!("eni-0a1b2c3d4e5f6000{n}")),
            vpc_id: Some(vpc.into()),
            subnet_id: Some(subnet.into()),
            addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
        }],
    };
    let instances = vec![
        instance(1, "web-1", "ami-0abcdef1234567890", "us-east-1a", subnet_a, &["10.0.1.15", "203.0.113.15"]),
        instance(2, "db-1", "ami-0fedcba9876543210", "us-east-1b", subnet_b, &["10.0.2.30"]),
        instance(3, "api-1", "ami-0abcdef1234567890", "us-east-1a", subnet_a, &["10.0.1.40", "2600:1f18:abcd:1200::15"]),
    ];
    std::sync::Arc::new(Inventory::new(instances, Some("prod-main".into()), 1000))
}

/// The raw batch of one VPC Flow Logs or Redshift audit log file, read as the `vpc_flow` and
/// `redshift_audit` sources read it: flow logs with `delimited.rs` (the header line, found by
/// the source's `is_header`, is every record's unit context) and, with `inventory`, each
/// record enriched by the source's enricher; audit logs with the source's `AuditReader`
/// (one line per connection or user log record, `pattern_lines.rs` for the user activity
/// log's multi-line queries; the log type as the unit context). Records the reader refuses
/// are returned beside the batch, as the source dead-letters them.
pub fn raw_log_batch(file: &Path, connector: &str, inventory: Option<std::sync::Arc<trawl::sources::vpc_flow::enrich::Inventory>>) -> (RawBatch, Vec<Refused>) {
    use trawl::formats::{FormatError, RecordReader, delimited::DelimitedReader};
    use trawl::sources::{redshift_audit, vpc_flow};
    let object = file.strip_prefix(repo()).unwrap_or(file).display().to_string();
    let stream = decompressed(std::fs::File::open(file).unwrap()).unwrap();
    let mut enricher = vpc_flow::enrich::Enricher::new();
    let (info, mut reader): (ObjectInfo, Box<dyn RecordReader>) = if let Some(f) = redshift_audit::parse_name(&object) {
        let info = ObjectInfo { connector: connector.into(), source_kind: redshift_audit::KIND, aws_account_id: Some(f.account), region: Some(f.region), object };
        (info, Box::new(redshift_audit::AuditReader::new(stream, f.log_type)))
    } else {
        assert!(vpc_flow::is_flow_file(&object), "{object} is neither a flow log nor a Redshift audit log");
        enricher.set_inventory(inventory);
        let (aws_account_id, region) = vpc_flow::account_region(&object);
        let info = ObjectInfo { connector: connector.into(), source_kind: vpc_flow::KIND, aws_account_id, region, object };
        (info, Box::new(DelimitedReader::new(stream, vpc_flow::is_header, "VPC flow log")))
    };
    let mut b = RawBatchBuilder::new();
    let mut refused = Vec::new();
    loop {
        match reader.next_record() {
            Ok(Some(rec)) => {
                let context = reader.context();
                let enrichment = context.and_then(|h| enricher.enrich(h, &rec.bytes));
                b.push_full(&info, &rec.bytes, rec.index, rec.offset, 1_700_000_000_000, context, enrichment);
            }
            Ok(None) => break,
            Err(FormatError::BadRecord { detail, record: Some(rec), .. }) => refused.push((rec.index, detail)),
            Err(e) => panic!("{}: {e}", file.display()),
        }
    }
    (b.finish(1), refused)
}

/// A scratch directory with a config, in which the `trawl` binary runs.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `config.toml` (paths in it are relative to the scratch dir).
    pub fn config(&self, toml: &str) -> PathBuf {
        let p = self.path("config.toml");
        std::fs::write(&p, toml).unwrap();
        p
    }

    /// Runs `trawl <args>` in the scratch dir.
    pub fn trawl(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_trawl")).args(args).current_dir(self.dir.path()).env_remove("TRAWL_LOG").output_within_limit()
    }

    /// Runs `trawl run` with the scratch config; returns the output and the JSON summary.
    pub fn run(&self) -> (Output, RunSummary) {
        let out = self.trawl(&["run", "--config", "config.toml", "--summary-json", "summary.json", "--quiet"]);
        let text = std::fs::read_to_string(self.path("summary.json"))
            .unwrap_or_else(|e| panic!("no summary ({e}); stderr: {}", String::from_utf8_lossy(&out.stderr)));
        (out, serde_json::from_str(&text).unwrap())
    }
}

/// Copies a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    for f in walkdir(from) {
        let dest = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&f, &dest).unwrap();
    }
}

/// `metadata.uid` of every event in the NDJSON files (`*.json`) under `dir`, with how many
/// times each is there (an empty map when `dir` does not exist).
pub fn ndjson_uids(dir: &Path) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    for f in walkdir(dir).into_iter().filter(|p| p.to_string_lossy().ends_with(".json")) {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            *out.entry(v["metadata"]["uid"].as_str().unwrap().to_string()).or_default() += 1;
        }
    }
    out
}

/// Every Parquet file under `dir` (excluding temporaries), sorted.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir(dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "parquet") && !p.components().any(|c| c.as_os_str() == ".tmp")).collect();
    v.sort();
    v
}

/// All batches of a Parquet file.
pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(path).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap().map(|b| b.unwrap()).collect()
}

/// The array at a dotted path (`metadata.uid`) of a batch, or None.
pub fn column_at(batch: &RecordBatch, path: &str) -> Option<arrow_array::ArrayRef> {
    let mut parts = path.split('.');
    let mut col = batch.column_by_name(parts.next()?)?.clone();
    for p in parts {
        let s: &StructArray = col.as_struct_opt()?;
        col = s.column_by_name(p)?.clone();
    }
    Some(col)
}

/// String values at a dotted path, one per row (None for null, or a null parent).
pub fn strings_at(batch: &RecordBatch, path: &str) -> Vec<Option<String>> {
    let col = column_at(batch, path).unwrap_or_else(|| panic!("no column {path}"));
    let s = col.as_string::<i32>();
    (0..batch.num_rows()).map(|i| (!is_null_at(batch, path, i)).then(|| s.value(i).to_string())).collect()
}

/// Whether the value at a dotted path is null in row `i` (a null parent struct counts).
pub fn is_null_at(batch: &RecordBatch, path: &str, i: usize) -> bool {
    let mut parts = path.split('.');
    let Some(mut col) = batch.column_by_name(parts.next().unwrap()).cloned() else { return true };
    if col.is_null(i) {
        return true;
    }
    for p in parts {
        let Some(s) = col.as_struct_opt() else { return true };
        let Some(c) = s.column_by_name(p) else { return true };
        col = c.clone();
        if col.is_null(i) {
            return true;
        }
    }
    false
}
