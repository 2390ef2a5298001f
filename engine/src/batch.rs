//! The raw batch: records from any source, in one Arrow envelope schema
//! ([`trawl_guest_sdk::abi::envelope_schema`]), ready for a mapper.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, RecordBatch,
    builder::{BinaryBuilder, StringBuilder, TimestampMillisecondBuilder, UInt64Builder},
    cast::AsArray,
    types::UInt64Type,
};
use trawl_guest_sdk::abi::{envelope, envelope_schema};

/// A batch of raw records plus provenance. Cheap to clone (Arrow buffers are shared).
#[derive(Debug, Clone)]
pub struct RawBatch {
    /// The records, in the envelope schema.
    pub batch: RecordBatch,
    /// Sequence number within the run, for logs.
    pub seq: u64,
}

impl RawBatch {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.batch.num_rows() == 0
    }

    /// Rows `offset..offset+len` as a batch of their own (zero-copy).
    pub fn slice(&self, offset: usize, len: usize) -> RawBatch {
        RawBatch { batch: self.batch.slice(offset, len), seq: self.seq }
    }

    /// Provenance of row `i`: `(object, record_index, byte_offset)`.
    pub fn provenance(&self, i: usize) -> (&str, u64, u64) {
        let object = self.batch.column(5).as_string::<i32>().value(i);
        let index = self.batch.column(6).as_primitive::<UInt64Type>().value(i);
        let offset = self.batch.column(7).as_primitive::<UInt64Type>().value(i);
        (object, index, offset)
    }

    /// When row `i` was read (ms since the epoch).
    pub fn ingest_ms(&self, i: usize) -> i64 {
        self.batch.column(8).as_primitive::<arrow_array::types::TimestampMillisecondType>().value(i)
    }

    /// Raw bytes of row `i`.
    pub fn raw(&self, i: usize) -> &[u8] {
        self.batch.column(0).as_binary::<i32>().value(i)
    }

    /// `(account id, region)` of row `i`, when known.
    pub fn account_region(&self, i: usize) -> (Option<&str>, Option<&str>) {
        let acct = self.batch.column(3).as_string::<i32>();
        let region = self.batch.column(4).as_string::<i32>();
        (
            (!acct.is_null(i)).then(|| acct.value(i)),
            (!region.is_null(i)).then(|| region.value(i)),
        )
    }
}

/// Provenance shared by the records of one object.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    /// Connector account name.
    pub connector: Arc<str>,
    /// Source kind.
    pub source_kind: &'static str,
    /// AWS account id from the object's key, when known.
    pub aws_account_id: Option<String>,
    /// Region from the object's key, when known.
    pub region: Option<String>,
    /// File path or `s3://bucket/key`.
    pub object: String,
}

/// Builds raw batches record by record.
pub struct RawBatchBuilder {
    raw: BinaryBuilder,
    connector: StringBuilder,
    kind: StringBuilder,
    account: StringBuilder,
    region: StringBuilder,
    object: StringBuilder,
    index: UInt64Builder,
    offset: UInt64Builder,
    ingest: TimestampMillisecondBuilder,
    rows: usize,
    bytes: usize,
}

impl Default for RawBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RawBatchBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self {
            raw: BinaryBuilder::new(),
            connector: StringBuilder::new(),
            kind: StringBuilder::new(),
            account: StringBuilder::new(),
            region: StringBuilder::new(),
            object: StringBuilder::new(),
            index: UInt64Builder::new(),
            offset: UInt64Builder::new(),
            ingest: TimestampMillisecondBuilder::new().with_timezone("UTC"),
            rows: 0,
            bytes: 0,
        }
    }

    /// Appends one record.
    pub fn push(&mut self, info: &ObjectInfo, raw: &[u8], index: u64, offset: u64, ingest_ms: i64) {
        self.raw.append_value(raw);
        self.connector.append_value(&*info.connector);
        self.kind.append_value(info.source_kind);
        self.account.append_option(info.aws_account_id.as_deref());
        self.region.append_option(info.region.as_deref());
        self.object.append_value(&info.object);
        self.index.append_value(index);
        self.offset.append_value(offset);
        self.ingest.append_value(ingest_ms);
        self.rows += 1;
        self.bytes += raw.len();
    }

    /// Records appended since the last [`finish`](Self::finish).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Raw bytes appended since the last finish.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The batch so far; the builder starts over.
    pub fn finish(&mut self, seq: u64) -> RawBatch {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.raw.finish()),
            Arc::new(self.connector.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.account.finish()),
            Arc::new(self.region.finish()),
            Arc::new(self.object.finish()),
            Arc::new(self.index.finish()),
            Arc::new(self.offset.finish()),
            Arc::new(self.ingest.finish()),
        ];
        self.rows = 0;
        self.bytes = 0;
        let batch = RecordBatch::try_new(envelope_schema(), cols).expect("builder columns match the envelope schema");
        debug_assert_eq!(batch.schema().field(0).name(), envelope::RAW);
        RawBatch { batch, seq }
    }
}
