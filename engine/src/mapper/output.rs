//! Decoding and checking what a mapper returns (the frames of [`trawl_guest_sdk::abi`]).

use std::sync::Arc;

use arrow_array::{Array, RecordBatch, UInt32Array, cast::AsArray, types::UInt8Type};
use arrow_schema::Schema;
use trawl_guest_sdk::{Manifest, abi, runtime::ipc_decode};

/// What became of one input row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowStatus {
    /// Produced one or more events.
    Ok,
    /// Dropped on purpose by the mapper.
    Skip,
    /// Could not be mapped; the reason goes to the dead-letter output.
    Error(String),
}

/// The events of one class from one batch.
#[derive(Debug, Clone)]
pub struct ClassEvents {
    /// OCSF class uid.
    pub class_uid: i32,
    /// Snake-case class name.
    pub class_name: String,
    /// For each event, the input row it came from.
    pub rows: UInt32Array,
    /// The events, in the class schema declared in the manifest.
    pub events: RecordBatch,
}

/// A mapped batch: a status per input row and the events by class.
#[derive(Debug, Clone, Default)]
pub struct MappedBatch {
    /// One per input row.
    pub status: Vec<RowStatus>,
    /// Events, one entry per class that has any.
    pub classes: Vec<ClassEvents>,
}

impl MappedBatch {
    /// Shifts row numbers by `by` (used when pieces of a batch were mapped separately).
    pub fn offset_rows(&mut self, by: u32) {
        for c in &mut self.classes {
            c.rows = c.rows.iter().map(|r| r.map(|r| r + by)).collect();
        }
    }
}

/// Decodes the frames after the result byte and checks them against the manifest.
pub fn decode(manifest: &Manifest, n_rows: usize, payload: &[u8]) -> Result<MappedBatch, String> {
    let frames = abi::read_frames(payload)?;
    let (status_frame, class_frames) = frames.split_first().ok_or("no status frame")?;
    let status_batches = ipc_decode(status_frame).map_err(|e| format!("status frame: {e}"))?;
    let mut status = Vec::with_capacity(n_rows);
    for b in &status_batches {
        if b.schema().fields() != abi::status_schema().fields() {
            return Err(format!("status frame has schema {:?}", b.schema()));
        }
        let codes = b.column(0).as_primitive::<UInt8Type>();
        let errs = b.column(1).as_string::<i32>();
        for i in 0..b.num_rows() {
            status.push(match codes.value(i) {
                abi::STATUS_OK => RowStatus::Ok,
                abi::STATUS_SKIP => RowStatus::Skip,
                abi::STATUS_ERROR => RowStatus::Error(if errs.is_null(i) { "mapper error".into() } else { errs.value(i).to_string() }),
                other => return Err(format!("row {i}: unknown status code {other}")),
            });
        }
    }
    if status.len() != n_rows {
        return Err(format!("{} statuses for {n_rows} input rows", status.len()));
    }
    let mut has_event = vec![false; n_rows];
    let mut classes = Vec::new();
    for (fi, frame) in class_frames.iter().enumerate() {
        let batches = ipc_decode(frame).map_err(|e| format!("class frame {fi}: {e}"))?;
        let Some(first) = batches.first() else { continue };
        let schema = first.schema();
        let uid: i32 = schema
            .metadata()
            .get(abi::META_CLASS_UID)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("class frame {fi} has no {} metadata", abi::META_CLASS_UID))?;
        let decl = manifest
            .classes
            .iter()
            .find(|c| c.uid == uid)
            .ok_or_else(|| format!("class {uid} is not declared in the manifest"))?;
        if schema.fields().first().map(|f| f.name().as_str()) != Some(abi::ROW_COLUMN) {
            return Err(format!("class {uid} frame does not start with the {} column", abi::ROW_COLUMN));
        }
        let event_schema = Arc::new(Schema::new(schema.fields()[1..].to_vec()));
        if event_schema.fields() != decl.schema.fields() {
            return Err(format!("class {uid} ({}) events do not have the schema declared in the manifest", decl.name));
        }
        let batch = arrow_select::concat::concat_batches(&schema, &batches).map_err(|e| e.to_string())?;
        let rows = batch.column(0).as_primitive_opt::<arrow_array::types::UInt32Type>().ok_or("_row is not UInt32")?.clone();
        for r in rows.iter() {
            let r = r.ok_or("_row has a null")? as usize;
            if r >= n_rows {
                return Err(format!("an event claims input row {r} of {n_rows}"));
            }
            if status[r] != RowStatus::Ok {
                return Err(format!("input row {r} has events but status {:?}", status[r]));
            }
            has_event[r] = true;
        }
        let events = RecordBatch::try_new(event_schema, batch.columns()[1..].to_vec()).map_err(|e| e.to_string())?;
        classes.push(ClassEvents { class_uid: uid, class_name: decl.name.clone(), rows, events });
    }
    if let Some(r) = status.iter().zip(&has_event).position(|(s, h)| *s == RowStatus::Ok && !h) {
        return Err(format!("input row {r} has status OK but no events"));
    }
    Ok(MappedBatch { status, classes })
}

impl MappedBatch {
    /// The batch as reviewable JSON, one entry per input row: its record index, byte offset,
    /// status and events (timestamps as integer ms). What golden files hold.
    pub fn to_json(&self, input: &crate::batch::RawBatch) -> serde_json::Value {
        let mut rows: Vec<serde_json::Value> = (0..input.len())
            .map(|r| {
                let (_, index, offset) = input.provenance(r);
                serde_json::json!({ "record_index": index, "byte_offset": offset, "events": [] })
            })
            .collect();
        for (r, st) in self.status.iter().enumerate() {
            rows[r]["status"] = match st {
                RowStatus::Ok => "ok".into(),
                RowStatus::Skip => "skip".into(),
                RowStatus::Error(e) => format!("error: {e}").into(),
            };
        }
        for class in &self.classes {
            let mut buf = Vec::new();
            let mut w = arrow_json::LineDelimitedWriter::new(&mut buf);
            w.write(&crate::sinks::ndjson::timestamps_as_millis(&class.events)).expect("events encode as JSON");
            w.finish().expect("events encode as JSON");
            drop(w);
            for (line, r) in String::from_utf8(buf).expect("arrow-json writes UTF-8").lines().zip(class.rows.values()) {
                let ev: serde_json::Value = serde_json::from_str(line).expect("arrow-json writes JSON");
                rows[*r as usize]["events"].as_array_mut().expect("array").push(ev);
            }
        }
        serde_json::Value::Array(rows)
    }
}
