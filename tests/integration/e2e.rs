//! Whole runs of the `trawl` binary on the sample trail: what lands in the lake is exactly the
//! input, record for record; a re-run writes nothing; counts reconcile.

use crate::common::watchdog::OutputWithin;
use std::collections::BTreeMap;

use crate::common::{Scratch, column_at, copy_tree, input_records, parquet_files, read_parquet, sample_trail, strings_at};

/// A config reading the sample trail copied to `trail` (a `cloudtrail_files` source), with
/// these `[[outputs]]`.
pub fn config(outputs: &str) -> String {
    format!(
        r#"
[state]
dir = "state"
[[connectors]]
name = "AWS IaaS for US development"
region = "us-east-1"
[[connectors.sources]]
type = "cloudtrail_files"
path = "trail"
{outputs}
"#
    )
}

const PARQUET: &str = "[[outputs]]\ntype = \"parquet\"\npath = \"lake\"\n";

#[test]
fn parquet_output_holds_every_input_record_once() {
    let s = Scratch::new();
    copy_tree(&sample_trail(), &s.path("trail"));
    s.config(&config(PARQUET));
    let (out, summary) = s.run();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));

    let input = input_records(&s.path("trail"));
    let mut want: Vec<String> = input.iter().map(|r| r["eventID"].as_str().unwrap().to_string()).collect();
    want.sort();

    let mut got = Vec::new();
    let mut classes = BTreeMap::new();
    for f in parquet_files(&s.path("lake")) {
        let rel = f.strip_prefix(s.path("lake")).unwrap().display().to_string();
        for b in read_parquet(&f) {
            got.extend(strings_at(&b, "metadata.uid").into_iter().map(Option::unwrap));
            let class = column_at(&b, "class_uid").unwrap();
            let class = arrow_array::cast::AsArray::as_primitive::<arrow_array::types::Int32Type>(&class).value(0);
            *classes.entry(class).or_insert(0) += b.num_rows();
            // One class per file, in its own source directory.
            let dir = match class {
                3001 => "cloudtrail_account_change/",
                3002 => "cloudtrail_authentication/",
                _ => "cloudtrail_api_activity/",
            };
            assert!(rel.starts_with(dir), "{rel}");
            assert!(rel.contains("/region=us-east-1/accountId=111122223333/eventDay=2024011"), "{rel}");
        }
    }
    got.sort();
    assert_eq!(got, want, "event ids in the lake vs the input");
    // CreateUser and AttachRolePolicy are IAM changes; AssumeRole and three console sign-ins
    // authenticate.
    assert_eq!(classes, BTreeMap::from([(3001, 2), (3002, 4), (6003, 5)]));

    let c = &summary.counts;
    assert_eq!(c.records_read, input.len() as u64);
    assert_eq!((c.records_written, c.records_dead_lettered, c.records_skipped), (input.len() as u64, 0, 0));
    assert_eq!(summary.files_written, parquet_files(&s.path("lake")).len() as u64);
    assert_eq!(c.objects_read, 3, "the digest file is skipped");
    assert!(c.bytes_read > 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("trawl inspect lake"), "tells the user how to look: {stdout}");
    assert!(!s.path("lake/.tmp").read_dir().unwrap().any(|_| true), "no temporary file left behind");
}

#[test]
fn rerun_writes_nothing_new_and_new_files_are_picked_up() {
    let s = Scratch::new();
    copy_tree(&sample_trail(), &s.path("trail"));
    s.config(&config(PARQUET));
    let (_, first) = s.run();
    let files_before = parquet_files(&s.path("lake"));

    let (out, second) = s.run();
    assert!(out.status.success());
    assert_eq!(second.counts.records_read, 0);
    assert_eq!(second.files_written, 0);
    assert_eq!(second.counts.objects_already_done, first.counts.objects_read);
    assert_eq!(parquet_files(&s.path("lake")), files_before);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Nothing new"));

    // A new log file arrives: only it is processed.
    let day = s.path("trail/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/17");
    std::fs::create_dir_all(&day).unwrap();
    let rec = serde_json::json!({"eventVersion":"1.09","eventTime":"2024-01-17T01:00:00Z","eventSource":"kms.amazonaws.com","eventName":"Decrypt","awsRegion":"us-east-1","readOnly":true,"eventID":"new-event-1","userIdentity":{"type":"AWSService","invokedBy":"s3.amazonaws.com"},"sourceIPAddress":"s3.amazonaws.com"});
    std::fs::write(day.join("111122223333_CloudTrail_us-east-1_20240117T0100Z_abc.json"), serde_json::json!({"Records":[rec]}).to_string()).unwrap();
    let (_, third) = s.run();
    assert_eq!((third.counts.records_read, third.counts.records_written, third.files_written), (1, 1, 1));
    assert!(third.counts.reconciles());
}

#[test]
fn ndjson_gzip_output_matches_the_parquet_output() {
    let s = Scratch::new();
    copy_tree(&sample_trail(), &s.path("trail"));
    s.config(&config(&format!("{PARQUET}[[outputs]]\ntype = \"ndjson\"\npath = \"siem\"\ngzip = true\n")));
    let (out, summary) = s.run();
    assert!(out.status.success());
    let mut ids = Vec::new();
    let mut n_files = 0;
    // The output's lock file (`.trawl.lock`, one writer per output) is no data file.
    for f in walk(&s.path("siem")).into_iter().filter(|f| !f.ends_with(".trawl.lock")) {
        assert!(f.to_str().unwrap().ends_with(".json.gz"), "{}", f.display());
        n_files += 1;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(std::fs::File::open(&f).unwrap()), &mut text).unwrap();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v["time"].is_i64(), "OCSF timestamp_t is integer ms: {}", v["time"]);
            assert!(v.get("status_code").is_none() || !v["status_code"].is_null(), "nulls are omitted");
            ids.push(v["metadata"]["uid"].as_str().unwrap().to_string());
        }
    }
    ids.sort();
    let mut want: Vec<String> = input_records(&s.path("trail")).iter().map(|r| r["eventID"].as_str().unwrap().to_string()).collect();
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(summary.files_written as usize, n_files * 2, "same files in both outputs");
}

#[test]
fn inspect_prints_rows_and_lists_directories() {
    let s = Scratch::new();
    copy_tree(&sample_trail(), &s.path("trail"));
    s.config(&config(PARQUET));
    s.run();
    let listing = s.trawl(&["inspect", "lake"]);
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(text.contains("11  rows in 4 files"), "{text}");
    let f = parquet_files(&s.path("lake"))[0].clone();
    let rows = s.trawl(&["inspect", f.to_str().unwrap(), "-n", "2"]);
    let text = String::from_utf8_lossy(&rows.stdout);
    let json_lines: Vec<&str> = text.lines().filter(|l| l.starts_with('{')).collect();
    assert_eq!(json_lines.len(), 2, "{text}");
    serde_json::from_str::<serde_json::Value>(json_lines[0]).unwrap();
}

#[test]
fn config_errors_are_plain_and_exit_2() {
    let s = Scratch::new();
    s.config(&config(PARQUET).replace("path = \"trail\"", "path = \"trail\"\nbuckett = \"x\""));
    let out = s.trawl(&["run", "--config", "config.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown field `buckett`") && err.contains("line 10"), "{err}");

    // Secrets come in through ${ENV}; an unset one is named, a set one never printed.
    s.config(&config("[[outputs]]\ntype = \"parquet\"\npath = \"${TRAWL_TEST_OUT_DIR}\"\n"));
    let out = s.trawl(&["run", "--config", "config.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TRAWL_TEST_OUT_DIR is not set"));
}

#[test]
fn missing_source_directory_fails_the_source_not_the_process() {
    let s = Scratch::new();
    s.config(&config(PARQUET));
    let (out, summary) = s.run();
    assert_eq!(out.status.code(), Some(1));
    let err = summary.sources[0].error.as_deref().unwrap();
    assert!(err.contains("trail is not a directory"), "{err}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap() == ".tmp" {
            continue;
        }
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn parquet_memory_budget_splits_row_groups_and_keeps_every_row() {
    // 6,000 records over two days: several open partition files, each far over a 1 MiB budget.
    let base = input_records(&sample_trail());
    let records: Vec<serde_json::Value> = (0..6000)
        .map(|i| {
            let mut r = base[i % base.len()].clone();
            r["eventID"] = serde_json::json!(format!("00000000-0000-4000-8000-{i:012}"));
            r["eventTime"] = serde_json::json!(format!("2024-01-{:02}T10:00:00Z", 15 + i % 2));
            r
        })
        .collect();
    let s = Scratch::new();
    let dir = s.path("trail/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/15");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("big.json"), serde_json::json!({ "Records": records }).to_string()).unwrap();
    s.config(&config("[[outputs]]\ntype = \"parquet\"\npath = \"lake\"\nbuffer_mib = 1\n"));
    let (out, summary) = s.run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(summary.counts.records_written, 6000);
    let (mut rows, mut groups) = (0i64, 0usize);
    let mut ids = std::collections::HashSet::new();
    for f in parquet_files(&s.path("lake")) {
        let meta = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&f).unwrap()).unwrap();
        let md = parquet::file::reader::FileReader::metadata(&meta);
        groups += md.num_row_groups();
        rows += md.file_metadata().num_rows();
        for b in read_parquet(&f) {
            ids.extend(strings_at(&b, "metadata.uid").into_iter().flatten());
        }
    }
    assert_eq!((rows, ids.len()), (6000, 6000));
    assert!(groups > parquet_files(&s.path("lake")).len(), "the budget should have closed row groups early ({groups} groups)");
}

/// Runs the sample trail into `outputs`; which columns of the lake's files carry a
/// dictionary page, by dotted path.
fn dictionary_columns(outputs: &str) -> BTreeMap<String, bool> {
    let s = Scratch::new();
    copy_tree(&sample_trail(), &s.path("trail"));
    s.config(&config(outputs));
    let (out, _) = s.run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut cols = BTreeMap::new();
    for f in parquet_files(&s.path("lake")) {
        let reader = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&f).unwrap()).unwrap();
        for rg in parquet::file::reader::FileReader::metadata(&reader).row_groups() {
            for c in rg.columns() {
                *cols.entry(c.column_path().string()).or_insert(false) |= c.dictionary_page_offset().is_some();
            }
        }
    }
    cols
}

#[test]
fn per_event_unique_columns_are_written_without_a_dictionary_unless_configured() {
    let cols = dictionary_columns(PARQUET);
    // `unmapped` is a map: its keys repeat (a dictionary pays), its values mostly do not.
    assert_eq!(cols.get("unmapped.entries.key"), Some(&true), "{cols:?}");
    for unique in ["time", "metadata.uid", "metadata.original_time", "api.request.uid", "unmapped.entries.value"] {
        assert_eq!(cols.get(unique), Some(&false), "{unique}: {cols:?}");
    }
    assert_eq!(cols.get("api.operation"), Some(&true), "{cols:?}");

    let cols = dictionary_columns("[[outputs]]\ntype = \"parquet\"\npath = \"lake\"\nno_dictionary = [\"api.operation\"]\n");
    assert_eq!((cols.get("api.operation"), cols.get("metadata.uid")), (Some(&false), Some(&true)), "{cols:?}");
}

/// The commit protocol: a crash after the files of a commit are published but before its
/// checkpoints are written is finished by the next run (the prepared commit is rolled
/// forward), so nothing is read or written again.
#[test]
fn a_crash_between_publishing_and_checkpointing_is_rolled_forward_without_duplicates() {
    let s = Scratch::new();
    copy_tree(&sample_trail(), &s.path("trail"));
    let outputs = format!("{PARQUET}[[outputs]]\ntype = \"ndjson\"\npath = \"siem\"\n");
    s.config(&config(&outputs).replace("[state]", "[pipeline]\ncommit_every_records = 2\nworkers = 2\n[state]"));
    let crashed = std::process::Command::new(env!("CARGO_BIN_EXE_trawl"))
        .args(["run", "--config", "config.toml", "--quiet"])
        .current_dir(s.dir.path())
        .env("TRAWL_FAULT", "abort_after_publish")
        .output_within_limit();
    assert!(!crashed.status.success() && crashed.status.code().is_none(), "aborted by a signal: {:?}", crashed.status);
    let published = parquet_files(&s.path("lake"));
    assert!(!published.is_empty(), "the first commit's files were published before the abort");

    let (out, summary) = s.run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let input = input_records(&s.path("trail"));
    let mut want: Vec<String> = input.iter().map(|r| r["eventID"].as_str().unwrap().to_string()).collect();
    want.sort();
    let mut got: Vec<String> = parquet_files(&s.path("lake")).iter().flat_map(|f| read_parquet(f)).flat_map(|b| strings_at(&b, "metadata.uid")).map(Option::unwrap).collect();
    got.sort();
    assert_eq!(got, want, "Parquet: every record exactly once");
    let mut ndjson: Vec<String> = Vec::new();
    for f in walk(&s.path("siem")).into_iter().filter(|f| f.to_string_lossy().ends_with(".json")) {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            ndjson.push(serde_json::from_str::<serde_json::Value>(line).unwrap()["metadata"]["uid"].as_str().unwrap().to_string());
        }
    }
    ndjson.sort();
    assert_eq!(ndjson, want, "NDJSON: every record exactly once");
    assert!(summary.counts.records_read < input.len() as u64, "the rolled-forward commit's objects are not read again");
    for f in &published {
        assert!(f.exists(), "{} stays published", f.display());
    }
}

/// A literal secret in a config that others can read gets a warning naming where it is (never
/// its value); the same file readable by its owner alone does not.
#[test]
fn a_readable_config_with_a_literal_secret_gets_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    copy_tree(&sample_trail(), &s.path("trail"));
    let cfg = config(PARQUET).replace(
        "region = \"us-east-1\"\n",
        "region = \"us-east-1\"\nauth = { type = \"basic\", access_key_id = \"AKIAIOSFODNN7EXAMPLE\", secret_access_key = \"wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY\" }\n",
    );
    let path = s.config(&cfg);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = s.trawl(&["run", "--config", "config.toml", "--quiet"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("holds literal secrets (connectors[0].auth.secret_access_key) and is readable by others (mode 644)"), "{err}");
    assert!(!err.contains("wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = s.trawl(&["run", "--config", "config.toml", "--quiet"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("literal secrets"));
}

/// OCSF `timestamp_t` is integer milliseconds, and Amazon Security Lake's Parquet stores it as
/// INT64 (TIMESTAMP only for `*_dt`): a query joining trawl's tables with Security Lake's own
/// needs the same type. Every column whose attribute is `timestamp_t` in the schema's
/// dictionary, at any depth, is Int64.
#[test]
fn timestamp_attributes_are_int64_milliseconds_in_parquet() {
    let dict: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(crate::common::repo().join("ocsf/schema-1.1.0/dictionary.json")).unwrap()).unwrap();
    let timestamp_t: std::collections::BTreeSet<String> = dict["attributes"].as_object().unwrap().iter().filter(|(_, v)| v["type"] == "timestamp_t").map(|(k, _)| k.clone()).collect();
    let s = Scratch::new();
    copy_tree(&sample_trail(), &s.path("trail"));
    s.config(&config(PARQUET));
    let (out, _) = s.run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    fn times(prefix: &str, fields: &arrow_schema::Fields, ts: &std::collections::BTreeSet<String>, out: &mut Vec<(String, arrow_schema::DataType)>) {
        for f in fields {
            let name = format!("{prefix}{}", f.name());
            match f.data_type() {
                arrow_schema::DataType::Struct(children) => times(&format!("{name}."), children, ts, out),
                dt if ts.contains(f.name()) => out.push((name, dt.clone())),
                _ => {}
            }
        }
    }
    let mut seen = Vec::new();
    for f in parquet_files(&s.path("lake")) {
        let file = std::fs::File::open(&f).unwrap();
        let schema = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().schema().clone();
        times("", schema.fields(), &timestamp_t, &mut seen);
    }
    assert!(seen.iter().any(|(n, _)| n == "time") && seen.iter().any(|(n, _)| n.contains('.')), "{seen:?}");
    for (name, dt) in &seen {
        assert_eq!(dt, &arrow_schema::DataType::Int64, "{name}");
    }
}

/// What a whole run writes, read back from the NDJSON output, passes the strict OCSF check
/// too (the output path adds the connector's account name and may not break a row).
#[test]
fn every_event_of_a_run_passes_the_schema_check() {
    let schema = trawl::ocsf::Schema::load(&crate::common::repo().join("ocsf/schema-1.1.0")).unwrap();
    let s = Scratch::new();
    copy_tree(&sample_trail(), &s.path("trail"));
    s.config(&config("[[outputs]]\ntype = \"ndjson\"\npath = \"siem\"\n"));
    let (out, summary) = s.run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut n = 0;
    for f in walk(&s.path("siem")).into_iter().filter(|f| f.to_string_lossy().ends_with(".json")) {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            let v = schema.validate(&event);
            assert!(v.is_empty(), "{}: {}", f.display(), v.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "));
            n += 1;
        }
    }
    assert_eq!(n, summary.counts.events_written);
}

/// The Parquet column types of the attributes trawl and Security Lake's CloudTrail table
/// (`amazon_security_lake_table_<region>_cloud_trail_mgmt_2_0`, OCSF 1.1.0) both write are
/// Security Lake's: bigint `time`, timestamp `*_dt`, int ids, map<string,string> `unmapped`,
/// array<string> `metadata.profiles`, string `api.request.data`, boolean `is_mfa` (the table
/// as AWS's Security Insights solution re-creates it and AWS's Athena examples query it; see
/// mappers/cloudtrail/SECURITY_LAKE.md §2). Checked on the physical Parquet schema, which is
/// what Glue and Athena read.
#[test]
fn parquet_column_types_match_security_lakes_cloudtrail_table() {
    let s = Scratch::new();
    copy_tree(&sample_trail(), &s.path("trail"));
    s.config(&config(PARQUET));
    let (out, _) = s.run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Column path → "<physical type> <logical type>", from every file's footer.
    let mut columns = std::collections::BTreeMap::new();
    for f in parquet_files(&s.path("lake")) {
        let file = std::fs::File::open(&f).unwrap();
        let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
        let meta = parquet::file::reader::FileReader::metadata(&reader);
        for c in meta.file_metadata().schema_descr().columns() {
            columns.insert(c.path().string(), format!("{:?} {:?}", c.physical_type(), c.logical_type_ref()));
        }
        // `unmapped` is a Parquet MAP group (Glue/Athena map<string,string>).
        let root = meta.file_metadata().schema_descr().root_schema();
        let unmapped = root.get_fields().iter().find(|f| f.name() == "unmapped").expect("unmapped");
        assert_eq!(format!("{:?}", unmapped.get_basic_info().converted_type()), "MAP", "{}", f.display());
    }
    let ms_utc = "INT64 Some(Timestamp(TimestampType { is_adjusted_to_u_t_c: true, unit: MILLIS }))";
    let (string, int32) = ("BYTE_ARRAY Some(String)", "INT32 None");
    let want = [
        ("time", "INT64 None"),
        ("time_dt", ms_utc),
        ("actor.session.created_time_dt", ms_utc),
        ("actor.session.created_time", "INT64 None"),
        ("class_uid", int32),
        ("category_uid", int32),
        ("activity_id", int32),
        ("severity_id", int32),
        ("status_id", int32),
        ("type_uid", "INT64 None"),
        ("unmapped.entries.key", string),
        ("unmapped.entries.value", string),
        ("metadata.profiles.list.element", string),
        ("metadata.product.feature.name", string),
        ("api.request.data", string),
        ("api.response.data", string),
        ("actor.session.is_mfa", "BOOLEAN None"),
        ("is_mfa", "BOOLEAN None"),
        ("src_endpoint.ip", string),
        ("cloud.region", string),
    ];
    for (path, ty) in want {
        let got = columns.get(path).unwrap_or_else(|| panic!("no column {path} in {:?}", columns.keys().collect::<Vec<_>>()));
        assert_eq!(got, ty, "{path}");
    }
}

/// Events from files outside an `AWSLogs/` tree (exports, single events) are partitioned by
/// their own `cloud.region` and `cloud.account.uid`, not under `unknown`.
#[test]
fn events_outside_an_awslogs_tree_are_partitioned_by_their_own_region_and_account() {
    let s = Scratch::new();
    copy_tree(&crate::golden::variations().join("exports"), &s.path("trail"));
    s.config(&config(PARQUET));
    let (out, summary) = s.run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut parts = std::collections::BTreeSet::new();
    let mut rows = 0;
    for f in parquet_files(&s.path("lake")) {
        let rel = f.strip_prefix(s.path("lake")).unwrap().display().to_string();
        let dirs: Vec<&str> = rel.split('/').collect();
        parts.insert((dirs[1].to_string(), dirs[2].to_string()));
        for b in read_parquet(&f) {
            // Each row sits in the partition of its own region and account.
            for (r, a) in strings_at(&b, "cloud.region").into_iter().zip(strings_at(&b, "cloud.account.uid")) {
                assert_eq!((format!("region={}", r.unwrap()), format!("accountId={}", a.unwrap())), (dirs[1].to_string(), dirs[2].to_string()), "{rel}");
                rows += 1;
            }
        }
    }
    assert_eq!(rows as u64, summary.counts.records_written);
    let regions: std::collections::BTreeSet<&str> = parts.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(regions, ["region=cn-north-1", "region=us-gov-west-1", "region=us-west-2"].into(), "{parts:?}");
    assert!(parts.iter().all(|(_, a)| a == "accountId=111122223333"), "{parts:?}");
}
