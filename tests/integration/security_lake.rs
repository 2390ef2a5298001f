//! `layout = "security_lake"`: runs of the `trawl` binary on the sample trail write exactly the
//! layout of Amazon Security Lake custom sources — `ext/<name ≤ 20>/region=…/accountId=…/
//! eventDay=YYYYMMDD/`, one OCSF class per object and per source, zstd, data pages within
//! 1 MB and row groups within 256 MB — locally and to S3; bad names are refused up front.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs::File,
    path::{Path, PathBuf},
};

use arrow_array::{
    Array,
    cast::AsArray,
    types::{Int32Type, Int64Type},
};
use parquet::{
    basic::Compression,
    column::page::Page,
    file::reader::{FileReader, SerializedFileReader},
};

use crate::e2e::config;
use crate::common::{
    Scratch,
    aws::Moto,
    copy_tree, input_records, read_parquet, sample_trail, strings_at,
};

/// API activity keeps its default name, authentication gets one from the config.
const LAKE: &str = r#"
[[outputs]]
type = "parquet"
path = "lake"
layout = "security_lake"
[outputs.source_names]
cloudtrail_authentication = "trawl-ct-auth"
"#;

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(files_under(&p)) } else { out.push(p) }
    }
    out.sort();
    out
}

/// `ext/<name>/region=<r>/accountId=<a>/eventDay=<YYYYMMDD>/<file>.parquet` → (name, region,
/// account, day), or why the key is not in Security Lake's custom-source layout.
fn security_lake_key(rel: &str) -> Result<(String, String, String, String), String> {
    let parts: Vec<&str> = rel.split('/').collect();
    let [ext, name, region, account, day, file] = parts[..] else { return Err(format!("{rel}: not ext/<name>/region=/accountId=/eventDay=/<file>")) };
    let value = |part: &str, key: &str| part.strip_prefix(key).map(str::to_string).ok_or_else(|| format!("{rel}: {part:?} is not {key}…"));
    let (region, account, day) = (value(region, "region=")?, value(account, "accountId=")?, value(day, "eventDay=")?);
    if ext != "ext" {
        return Err(format!("{rel}: not under ext/"));
    }
    if name.is_empty() || name.len() > 20 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-:.".contains(c)) {
        return Err(format!("{rel}: {name:?} is not a custom source name (1-20 of [A-Za-z0-9_-:.])"));
    }
    if day.len() != 8 || !day.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("{rel}: eventDay {day:?} is not YYYYMMDD"));
    }
    if !(account == "external" || account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())) {
        return Err(format!("{rel}: accountId {account:?} is neither an AWS account nor external"));
    }
    if region.is_empty() || !file.ends_with(".parquet") {
        return Err(format!("{rel}: empty region or not a .parquet object"));
    }
    Ok((name.to_string(), region, account, day))
}

/// What one Parquet object holds, checked against Security Lake's rules for an object:
/// its class_uids, event uids, days of `time`, rows.
struct Object {
    classes: BTreeSet<i32>,
    uids: Vec<String>,
    days: BTreeSet<String>,
    rows: u64,
}

fn check_object(bytes: &[u8], rel: &str) -> Object {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), bytes).unwrap();
    let reader = SerializedFileReader::new(File::open(tmp.path()).unwrap()).unwrap();
    let meta = reader.metadata();
    for (g, rg) in meta.row_groups().iter().enumerate() {
        assert!(rg.compressed_size() <= 256 << 20, "{rel}: row group {g} is {} bytes compressed, over 256 MB", rg.compressed_size());
        for c in rg.columns() {
            assert!(matches!(c.compression(), Compression::ZSTD(_)), "{rel}: column {} is {:?}, not zstd", c.column_path(), c.compression());
        }
        let group = reader.get_row_group(g).unwrap();
        for c in 0..group.num_columns() {
            for page in group.get_column_page_reader(c).unwrap() {
                if let p @ (Page::DataPage { .. } | Page::DataPageV2 { .. }) = page.unwrap() {
                    assert!(p.buffer().len() <= 1 << 20, "{rel}: a data page of column {c} is {} bytes uncompressed, over 1 MB", p.buffer().len());
                }
            }
        }
    }
    let mut o = Object { classes: BTreeSet::new(), uids: Vec::new(), days: BTreeSet::new(), rows: meta.file_metadata().num_rows() as u64 };
    for b in read_parquet(tmp.path()) {
        o.classes.extend(b.column_by_name("class_uid").unwrap().as_primitive::<Int32Type>().iter().map(Option::unwrap));
        o.uids.extend(strings_at(&b, "metadata.uid").into_iter().map(Option::unwrap));
        let time = b.column_by_name("time").unwrap().as_primitive::<Int64Type>();
        assert_eq!(time.null_count(), 0, "{rel}: every CloudTrail event has a time");
        o.days.extend(time.iter().map(|t| chrono::DateTime::from_timestamp_millis(t.unwrap()).unwrap().format("%Y%m%d").to_string()));
    }
    o
}

/// Checks every object of a Security Lake layout (key relative to the root → bytes) against
/// the sample trail and the run summary.
fn check_layout(objects: &BTreeMap<String, Vec<u8>>, summary: &trawl::pipeline::RunSummary) {
    let mut want: Vec<String> = input_records(&sample_trail()).iter().map(|r| r["eventID"].as_str().unwrap().to_string()).collect();
    want.sort();
    let mut got = Vec::new();
    let mut class_of_source: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    let mut rows = 0;
    for (rel, bytes) in objects {
        let (name, region, account, day) = security_lake_key(rel).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((region.as_str(), account.as_str()), ("us-east-1", "111122223333"), "{rel}");
        let o = check_object(bytes, rel);
        assert_eq!(o.classes.len(), 1, "{rel}: one OCSF class per object, not {:?}", o.classes);
        assert_eq!(o.days, BTreeSet::from([day]), "{rel}: eventDay is the UTC day of every event's time");
        assert!(o.rows > 0);
        class_of_source.entry(name).or_default().extend(o.classes);
        got.extend(o.uids);
        rows += o.rows;
    }
    // One class per custom source, with the names the config and the defaults give: sign-ins
    // (3002) under the configured name, every other class the mapper emits under
    // cloudtrail_<class_uid>.
    for (name, classes) in &class_of_source {
        assert_eq!(classes.len(), 1, "custom source {name} holds classes {classes:?}");
        let uid = *classes.first().unwrap();
        let want = if uid == 3002 { "trawl-ct-auth".to_string() } else { format!("cloudtrail_{uid}") };
        assert_eq!(name, &want, "the name of class {uid}");
    }
    let uids: BTreeSet<i32> = class_of_source.values().flatten().copied().collect();
    assert!(uids.contains(&6003) && uids.contains(&3002), "the sample has API activity and sign-ins: {uids:?}");
    got.sort();
    assert_eq!(got, want, "event ids in the lake vs the input: each once");
    let c = &summary.counts;
    assert_eq!((rows, c.events_written), (want.len() as u64, want.len() as u64), "rows in the objects vs events in the summary");
    assert_eq!((c.records_read, c.records_written, c.records_dead_lettered), (want.len() as u64, want.len() as u64, 0));
    assert_eq!(summary.files_written, objects.len() as u64);
    assert!(c.reconciles());
}

#[test]
fn a_local_run_writes_exactly_the_security_lake_custom_source_layout() {
    let s = Scratch::new();
    copy_tree(&sample_trail(), &s.path("trail"));
    s.config(&config(LAKE));
    let (out, summary) = s.run();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));

    // Nothing but ext/ is visible at the root (the lock file and the empty staging
    // directory are trawl's own; Security Lake's prefix would be the S3 bucket).
    let top: BTreeSet<String> = std::fs::read_dir(s.path("lake")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(top, BTreeSet::from(["ext".to_string(), ".tmp".to_string(), ".trawl.lock".to_string()]));
    assert!(files_under(&s.path("lake/.tmp")).is_empty(), "no staged file left behind");
    let objects: BTreeMap<String, Vec<u8>> = files_under(&s.path("lake/ext"))
        .into_iter()
        .map(|f| (f.strip_prefix(s.path("lake")).unwrap().display().to_string(), std::fs::read(&f).unwrap()))
        .collect();
    check_layout(&objects, &summary);
    assert_eq!(summary.files.len(), objects.len());
    assert!(summary.files.iter().all(|f| f.starts_with(s.path("lake/ext")) || f.starts_with("lake/ext")), "{:?}", summary.files);

    // A second run writes nothing, as in the trawl layout.
    let (out, again) = s.run();
    assert!(out.status.success());
    assert_eq!((again.counts.records_read, again.files_written), (0, 0));
}

#[test]
fn a_custom_source_name_over_20_characters_is_a_config_error_naming_output_and_name() {
    let s = Scratch::new();
    copy_tree(&sample_trail(), &s.path("trail"));
    s.config(&config(&LAKE.replace("\"trawl-ct-auth\"", "\"trawl-cloudtrail-authentication\"")));
    let out = s.trawl(&["run", "--config", "config.toml", "--quiet"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a config error: {err}");
    for want in ["output lake", "source_names.cloudtrail_authentication", "\"trawl-cloudtrail-authentication\" has 31 characters", "at most 20"] {
        assert!(err.contains(want), "{err} should say {want}");
    }
    assert!(!s.path("lake").exists() && !s.path("state").exists(), "nothing is read or written");
    // `trawl check` refuses it the same way.
    let out = s.trawl(&["check", "--config", "config.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 20"));
}

#[test]
fn two_classes_under_one_custom_source_name_stop_the_run_before_it_reads() {
    let s = Scratch::new();
    copy_tree(&sample_trail(), &s.path("trail"));
    // Valid on its own, but API activity has this name by default.
    s.config(&config(&LAKE.replace("\"trawl-ct-auth\"", "\"cloudtrail_6003\"")));
    let out = s.trawl(&["run", "--config", "config.toml", "--quiet", "--summary-json", "summary.json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("output lake") && err.contains("\"cloudtrail_6003\"") && err.contains("cloudtrail_api_activity (6003)") && err.contains("cloudtrail_authentication (3002)"), "{err}");
    let written = if s.path("lake/ext").exists() { files_under(&s.path("lake/ext")) } else { Vec::new() };
    assert!(written.is_empty(), "nothing written: {written:?}");
}

#[test]
fn an_s3_run_writes_the_same_layout_at_the_bucket_root() {
    let moto = Moto::start();
    let bucket = "aws-security-data-lake-us-east-1-trawltest";
    moto.create_bucket(bucket);
    let s = Scratch::new();
    copy_tree(&sample_trail(), &s.path("trail"));
    let output = LAKE.replace(
        "path = \"lake\"",
        &format!(
            "path = \"s3://{bucket}\"\ns3 = {{ region = \"us-east-1\", endpoint_url = \"{}\", auth = {{ type = \"basic\", access_key_id = \"testing\", secret_access_key = \"testing\" }} }}",
            moto.url()
        ),
    );
    s.config(&config(&output));
    let (out, summary) = s.run();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let keys = moto.keys(bucket, "");
    assert!(keys.iter().all(|k| k.starts_with("ext/")), "{keys:?}");
    let objects: BTreeMap<String, Vec<u8>> = keys.iter().map(|k| (k.clone(), moto.get(bucket, k))).collect();
    check_layout(&objects, &summary);
}
