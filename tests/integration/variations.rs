//! The CloudTrail variations sample (`examples/data/cloudtrail-variations`, its README says
//! what each file exercises): a run of the `trawl` binary reads every record of every
//! container — log files, an Insights file, one event, NDJSON, gzip'd JSON Lines, a bare array,
//! CloudWatch Logs messages and a Firehose delivery of several — exactly once, dead-letters
//! nothing, and gets no record out of a CONTROL_MESSAGE.

use std::{
    collections::BTreeMap,
    io::Read,
    path::{Path, PathBuf},
};

use serde_json::Value;

use crate::common::{Scratch, copy_tree, log_files, repo};

fn variations() -> PathBuf {
    repo().join("examples/data/cloudtrail-variations")
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out.sort();
    out
}

/// A file's bytes, gunzipped (every gzip member) when it is gzip.
fn decompressed(f: &Path) -> Vec<u8> {
    let bytes = std::fs::read(f).unwrap();
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return bytes;
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut out).unwrap();
    out
}

/// The events of a file, found without trawl's reader: every top-level JSON value in it is a
/// log file (its `Records`), an array (its elements), a CloudWatch Logs message (the messages
/// of a DATA_MESSAGE's log events, parsed; none in a CONTROL_MESSAGE) or one event.
fn events_of(text: &[u8]) -> Vec<Value> {
    let mut out = Vec::new();
    for v in serde_json::Deserializer::from_slice(text).into_iter::<Value>() {
        let v = v.unwrap();
        match &v {
            Value::Array(events) => out.extend(events.iter().cloned()),
            Value::Object(o) if o.contains_key("Records") => out.extend(o["Records"].as_array().unwrap().iter().cloned()),
            Value::Object(o) if o.contains_key("messageType") => {
                if o["messageType"] == "DATA_MESSAGE" {
                    out.extend(o["logEvents"].as_array().unwrap().iter().map(|e| serde_json::from_str(e["message"].as_str().unwrap()).unwrap()));
                }
            }
            Value::Object(_) => out.push(v),
            other => panic!("not an event: {other}"),
        }
    }
    out
}

#[test]
fn every_record_of_every_container_is_read_once_and_nothing_is_dead_lettered() {
    let s = Scratch::new();
    let root = s.path("variations");
    copy_tree(&variations(), &root);
    s.config(
        r#"
[state]
dir = "state"
[[connectors]]
name = "variations"
region = "us-east-1"
[[connectors.sources]]
type = "cloudtrail_files"
path = "variations"
mapper = "builtin:passthrough"
[[outputs]]
type = "ndjson"
path = "out"
"#,
    );
    let (out, summary) = s.run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");

    // The source reads every file of the sample but its README.
    let files = log_files(&root);
    let rel = |p: &Path| p.strip_prefix(&root).unwrap().display().to_string();
    let all: Vec<String> = walk(&root).iter().map(|p| rel(p)).filter(|p| p != "README.md").collect();
    assert_eq!(files.iter().map(|p| rel(p)).collect::<Vec<_>>(), all);

    // What the files hold, per file: event ids.
    let mut want: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &files {
        let ids = events_of(&decompressed(f)).iter().map(|e| e["eventID"].as_str().unwrap().to_string()).collect();
        want.insert(rel(f), ids);
    }
    let total: usize = want.values().map(Vec::len).sum();
    for (file, ids) in &want {
        assert!(!ids.is_empty() || file.ends_with("control-message.json"), "{file} holds no event");
    }
    assert_eq!(want["cloudwatch-logs/control-message.json"], Vec::<String>::new(), "a health check holds no events");
    assert_eq!(want["cloudwatch-logs/firehose-delivery.json.gz"].len(), 3, "two messages of a Firehose delivery hold events, one is a health check");
    let insight_files: Vec<&String> = want.keys().filter(|k| k.contains("/CloudTrail-Insight/")).collect();
    assert_eq!(insight_files.len(), 1, "the Insights file is read");

    // What trawl wrote: the passthrough rows, each the raw record with its provenance.
    let mut got: BTreeMap<String, Vec<(u64, u64, String)>> = BTreeMap::new();
    for f in walk(&s.path("out")).into_iter().filter(|f| !f.components().any(|c| c.as_os_str() == ".tmp") && !f.ends_with(".trawl.lock")) {
        for line in String::from_utf8(decompressed(&f)).unwrap().lines() {
            let row: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            let object = row["object"].as_str().unwrap();
            let object = object.strip_prefix("variations/").unwrap_or_else(|| panic!("object {object} is not under the sample")).to_string();
            let raw = row["raw"].as_str().unwrap().to_string();
            got.entry(object).or_default().push((row["record_index"].as_u64().unwrap(), row["byte_offset"].as_u64().unwrap(), raw));
        }
    }
    for rows in got.values_mut() {
        rows.sort();
    }

    for (object, ids) in &want {
        let rows = got.get(object).map(Vec::as_slice).unwrap_or_default();
        let mut got_ids: Vec<String> = rows.iter().map(|(_, _, raw)| serde_json::from_str::<Value>(raw).unwrap()["eventID"].as_str().unwrap().to_string()).collect();
        let mut ids = ids.clone();
        got_ids.sort();
        ids.sort();
        assert_eq!(got_ids, ids, "{object}: every event once");
        assert!(rows.iter().map(|r| r.0).eq(0..rows.len() as u64), "{object}: record indexes 0..n");
        // The offset says where the record is: the record itself, or (in a CloudWatch Logs
        // message, whose records are decoded strings) the log event that holds it.
        let text = decompressed(&root.join(object));
        for (i, offset, raw) in rows {
            let at = &text[*offset as usize..];
            if object.starts_with("cloudwatch-logs/") {
                assert!(at.starts_with(b"{\"id\":\""), "{object} record {i}: offset {offset} is not a log event");
                let ev: Value = serde_json::Deserializer::from_slice(at).into_iter().next().unwrap().unwrap();
                assert_eq!(ev["message"].as_str().unwrap(), raw, "{object} record {i}");
            } else {
                assert!(at.starts_with(raw.as_bytes()), "{object} record {i}: offset {offset} is not the record");
            }
        }
    }
    assert!(!got.contains_key("cloudwatch-logs/control-message.json"));
    assert_eq!(got.keys().filter(|k| !want.contains_key(*k)).count(), 0, "rows of objects that hold none: {:?}", got.keys());

    let c = &summary.counts;
    assert_eq!(c.objects_read, files.len() as u64, "{c:?}");
    assert_eq!((c.records_read, c.records_written), (total as u64, total as u64), "{c:?}");
    assert_eq!((c.records_dead_lettered, c.records_skipped, c.objects_failed), (0, 0, 0), "{c:?}");
    assert!(summary.dead_letter_file.is_none(), "nothing dead-lettered: {:?}", summary.dead_letter_file);
    assert!(c.reconciles());
}
