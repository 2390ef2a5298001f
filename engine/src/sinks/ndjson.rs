//! Newline-delimited JSON output (optionally gzip), the format SIEMs ingest.
//!
//! Timestamps are written as OCSF `timestamp_t`: integer milliseconds since the epoch; the
//! `datetime` profile's `*_dt` attributes as RFC 3339 text.
//! Null attributes are omitted.

use std::{
    fs::File,
    io::{BufWriter, Write},
    path::PathBuf,
    sync::Arc,
};

use arrow_array::{Array, ArrayRef, RecordBatch, StructArray, make_array};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use flate2::{Compression, write::GzEncoder};
use serde::{Deserialize, Serialize};

use super::{FileFormat, FileWriter};

/// `[[outputs]] type = "ndjson"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NdjsonConfig {
    /// Root of the layout: a directory, or `s3://bucket/prefix`.
    pub path: PathBuf,
    /// How an `s3://` path reaches AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<super::S3OutputOptions>,
    /// Directory layout: only `trawl` (the default); Security Lake's custom-source layout
    /// (`security_lake`) takes Parquet files only.
    #[serde(default)]
    pub layout: super::Layout,
    /// Gzip the files (`.json.gz`). Default false.
    #[serde(default)]
    pub gzip: bool,
}

impl FileFormat for NdjsonConfig {
    fn extension(&self) -> &'static str {
        if self.gzip { "json.gz" } else { "json" }
    }

    fn open(&self, file: File, _schema: SchemaRef) -> Result<Box<dyn FileWriter>, String> {
        let out: Box<dyn FinishWrite> = if self.gzip {
            Box::new(GzEncoder::new(BufWriter::with_capacity(256 * 1024, file), Compression::default()))
        } else {
            Box::new(BufWriter::with_capacity(256 * 1024, file))
        };
        Ok(Box::new(NdjsonWriter { w: arrow_json::LineDelimitedWriter::new(out) }))
    }
}

trait FinishWrite: Write + Send {
    fn finish_file(self: Box<Self>) -> std::io::Result<()>;
}

impl FinishWrite for BufWriter<File> {
    fn finish_file(self: Box<Self>) -> std::io::Result<()> {
        let f = self.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()
    }
}

impl FinishWrite for GzEncoder<BufWriter<File>> {
    fn finish_file(self: Box<Self>) -> std::io::Result<()> {
        let b = (*self).finish()?;
        Box::new(b).finish_file()
    }
}

struct NdjsonWriter {
    w: arrow_json::LineDelimitedWriter<Box<dyn FinishWrite>>,
}

impl FileWriter for NdjsonWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), String> {
        self.w.write(&timestamps_as_millis(batch)).map_err(|e| e.to_string())
    }

    fn finish(mut self: Box<Self>) -> Result<(), String> {
        self.w.finish().map_err(|e| e.to_string())?;
        self.w.into_inner().finish_file().map_err(|e| e.to_string())
    }
}

/// The batch with every `Timestamp(ms)` column, at any depth, reinterpreted as `Int64`
/// milliseconds (zero-copy) — the `timestamp_t` columns of modules built before ABI 1.2 —
/// except `*_dt` columns (the `datetime` profile's `datetime_t`), which stay timestamps and so
/// are written as RFC 3339 text.
pub fn timestamps_as_millis(batch: &RecordBatch) -> RecordBatch {
    let (fields, cols): (Vec<Arc<Field>>, Vec<ArrayRef>) =
        batch.schema().fields().iter().zip(batch.columns()).map(|(f, c)| convert(f, c)).unzip();
    RecordBatch::try_new(Arc::new(Schema::new_with_metadata(fields, batch.schema().metadata().clone())), cols)
        .expect("same shape as the input batch")
}

fn convert(f: &Arc<Field>, c: &ArrayRef) -> (Arc<Field>, ArrayRef) {
    match f.data_type() {
        DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, _) if !f.name().ends_with("_dt") => {
            let data = c.to_data().into_builder().data_type(DataType::Int64).build().expect("same layout");
            (Arc::new(f.as_ref().clone().with_data_type(DataType::Int64)), make_array(data))
        }
        DataType::Struct(_) => {
            let s = c.as_any().downcast_ref::<StructArray>().expect("struct");
            let (fields, cols): (Vec<Arc<Field>>, Vec<ArrayRef>) = s.fields().iter().zip(s.columns()).map(|(f, c)| convert(f, c)).unzip();
            let fields = Fields::from(fields);
            let arr = StructArray::new(fields.clone(), cols, s.nulls().cloned());
            (Arc::new(f.as_ref().clone().with_data_type(DataType::Struct(fields))), Arc::new(arr))
        }
        _ => (f.clone(), c.clone()),
    }
}
