//! The raw batch: records from any source, in one Arrow envelope schema
//! ([`trawl_guest_sdk::abi::envelope_schema`]), ready for a mapper.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock},
};

use arrow_array::{
    Array, ArrayRef, DictionaryArray, RecordBatch,
    builder::{ArrayBuilder, BinaryBuilder, StringBuilder, TimestampMillisecondBuilder, UInt32Builder, UInt64Builder},
    cast::AsArray,
    types::{UInt32Type, UInt64Type},
};
use trawl_guest_sdk::abi::{envelope, envelope_schema};

/// Where each envelope column is, found by name once: host code never hard-codes a position,
/// so a column added to the envelope (in an ABI minor version) cannot shift the others.
struct Columns {
    raw: usize,
    account: usize,
    region: usize,
    object: usize,
    index: usize,
    offset: usize,
    ingest: usize,
}

static COLUMNS: LazyLock<Columns> = LazyLock::new(|| {
    let schema = envelope_schema();
    let at = |name: &str| schema.index_of(name).unwrap_or_else(|_| panic!("the envelope has no column {name}"));
    Columns {
        raw: at(envelope::RAW),
        account: at(envelope::AWS_ACCOUNT_ID),
        region: at(envelope::REGION),
        object: at(envelope::OBJECT),
        index: at(envelope::RECORD_INDEX),
        offset: at(envelope::BYTE_OFFSET),
        ingest: at(envelope::INGEST_TIME),
    }
});

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
        let c = &*COLUMNS;
        let object = self.batch.column(c.object).as_string::<i32>().value(i);
        let index = self.batch.column(c.index).as_primitive::<UInt64Type>().value(i);
        let offset = self.batch.column(c.offset).as_primitive::<UInt64Type>().value(i);
        (object, index, offset)
    }

    /// When row `i` was read (ms since the epoch).
    pub fn ingest_ms(&self, i: usize) -> i64 {
        self.batch.column(COLUMNS.ingest).as_primitive::<arrow_array::types::TimestampMillisecondType>().value(i)
    }

    /// Raw bytes of row `i`.
    pub fn raw(&self, i: usize) -> &[u8] {
        self.batch.column(COLUMNS.raw).as_binary::<i32>().value(i)
    }

    /// `(account id, region)` of row `i`, when known.
    pub fn account_region(&self, i: usize) -> (Option<&str>, Option<&str>) {
        let acct = self.batch.column(COLUMNS.account).as_string::<i32>();
        let region = self.batch.column(COLUMNS.region).as_string::<i32>();
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
    /// The context column: a key per row into `context_values`, which holds each run of equal
    /// contexts once (a unit's records share one).
    context_keys: UInt32Builder,
    context_values: BinaryBuilder,
    last_context: Option<Vec<u8>>,
    /// The enrichment column (ABI 1.3), dictionary-encoded the same way; records of one
    /// interface or instance share values without being adjacent, so each distinct value is
    /// stored once per batch, found by `enrichment_index`.
    enrichment_keys: UInt32Builder,
    enrichment_values: BinaryBuilder,
    enrichment_index: HashMap<Box<[u8]>, u32>,
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
        Self::with_capacity(0, 0, [0; 5])
    }

    /// A builder with room for `rows` records of `raw_bytes` in all, and for the given bytes
    /// of the connector, kind, account, region and object columns.
    fn with_capacity(rows: usize, raw_bytes: usize, string_bytes: [usize; 5]) -> Self {
        let [connector, kind, account, region, object] = string_bytes.map(|b| StringBuilder::with_capacity(rows, b));
        Self {
            raw: BinaryBuilder::with_capacity(rows, raw_bytes),
            connector,
            kind,
            account,
            region,
            object,
            index: UInt64Builder::with_capacity(rows),
            offset: UInt64Builder::with_capacity(rows),
            ingest: TimestampMillisecondBuilder::with_capacity(rows).with_timezone("UTC"),
            context_keys: UInt32Builder::with_capacity(rows),
            context_values: BinaryBuilder::new(),
            last_context: None,
            enrichment_keys: UInt32Builder::with_capacity(rows),
            enrichment_values: BinaryBuilder::new(),
            enrichment_index: HashMap::new(),
            rows: 0,
            bytes: 0,
        }
    }

    /// Appends one record.
    pub fn push(&mut self, info: &ObjectInfo, raw: &[u8], index: u64, offset: u64, ingest_ms: i64) {
        self.push_full(info, raw, index, offset, ingest_ms, None, None);
    }

    /// Appends one record with its unit context.
    pub fn push_with_context(&mut self, info: &ObjectInfo, raw: &[u8], index: u64, offset: u64, ingest_ms: i64, context: Option<&[u8]>) {
        self.push_full(info, raw, index, offset, ingest_ms, context, None);
    }

    /// Appends one record with its unit context and its enrichment: JSON the host attaches to
    /// this record (ABI 1.3; the shapes are documented on
    /// [`RawRecord::enrichment`](trawl_guest_sdk::RawRecord::enrichment)). Equal values are
    /// stored once per batch, so attaching the same object to many records is cheap.
    #[allow(clippy::too_many_arguments)]
    pub fn push_full(&mut self, info: &ObjectInfo, raw: &[u8], index: u64, offset: u64, ingest_ms: i64, context: Option<&[u8]>, enrichment: Option<&[u8]>) {
        match context {
            None => self.context_keys.append_null(),
            Some(c) => {
                if self.last_context.as_deref() != Some(c) {
                    self.context_values.append_value(c);
                    self.last_context = Some(c.to_vec());
                }
                self.context_keys.append_value(self.context_values.len() as u32 - 1);
            }
        }
        match enrichment {
            None => self.enrichment_keys.append_null(),
            Some(e) => {
                let key = match self.enrichment_index.get(e) {
                    Some(&k) => k,
                    None => {
                        let k = self.enrichment_values.len() as u32;
                        self.enrichment_values.append_value(e);
                        self.enrichment_index.insert(e.into(), k);
                        k
                    }
                };
                self.enrichment_keys.append_value(key);
            }
        }
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

    /// The batch so far; the builder starts over, with room for a batch like this one.
    pub fn finish(&mut self, seq: u64) -> RawBatch {
        // Builders start empty after `finish`; growing a megabyte buffer from nothing for every
        // batch is a dozen reallocs and copies, and the freed steps fragment the heap (peak RSS
        // grew with run length). Batches are alike, so size the next one like this one.
        let slack = |n: usize| n + n / 8;
        let strings = [&self.connector, &self.kind, &self.account, &self.region, &self.object].map(|b| slack(b.values_slice().len()));
        let next = Self::with_capacity(slack(self.rows), slack(self.raw.values_slice().len()), strings);
        let mut this = std::mem::replace(self, next);
        let cols: Vec<ArrayRef> = vec![
            Arc::new(this.raw.finish()),
            Arc::new(this.connector.finish()),
            Arc::new(this.kind.finish()),
            Arc::new(this.account.finish()),
            Arc::new(this.region.finish()),
            Arc::new(this.object.finish()),
            Arc::new(this.index.finish()),
            Arc::new(this.offset.finish()),
            Arc::new(this.ingest.finish()),
            Arc::new(DictionaryArray::<UInt32Type>::try_new(this.context_keys.finish(), Arc::new(this.context_values.finish())).expect("keys index the values")),
            Arc::new(DictionaryArray::<UInt32Type>::try_new(this.enrichment_keys.finish(), Arc::new(this.enrichment_values.finish())).expect("keys index the values")),
        ];
        let batch = RecordBatch::try_new(envelope_schema(), cols).expect("builder columns match the envelope schema");
        debug_assert_eq!(batch.schema().field(0).name(), envelope::RAW);
        RawBatch { batch, seq }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(object: &str, account: Option<&str>) -> ObjectInfo {
        ObjectInfo { connector: "prod".into(), source_kind: "cloudtrail", aws_account_id: account.map(String::from), region: None, object: object.into() }
    }

    /// A builder sized from the previous batch must start empty and hold only the new rows.
    #[test]
    fn each_batch_holds_exactly_the_rows_pushed_since_the_last_finish() {
        let mut b = RawBatchBuilder::new();
        for i in 0..5 {
            b.push(&info("a.json.gz", Some("111122223333")), format!("{{\"n\":{i}}}").as_bytes(), i, i * 10, 1);
        }
        let first = b.finish(0);
        assert_eq!((b.rows(), b.bytes()), (0, 0));
        b.push(&info("b.json.gz", None), b"{\"n\":99}", 7, 70, 2);
        let second = b.finish(1);
        assert_eq!((first.len(), second.len()), (5, 1));
        assert_eq!(first.provenance(4), ("a.json.gz", 4, 40));
        assert_eq!(second.provenance(0), ("b.json.gz", 7, 70));
        assert_eq!(second.batch.column(0).as_binary::<i32>().value(0), b"{\"n\":99}");
        assert!(second.batch.column(3).is_null(0), "no account carried over from the first batch");
        assert_eq!(b.finish(2).len(), 0);
    }

    /// The guest reads the context back per row; a run of equal contexts is stored once.
    #[test]
    fn contexts_are_stored_once_per_run_and_read_back_per_row() {
        let mut b = RawBatchBuilder::new();
        let i = info("flows.log.gz", None);
        b.push_with_context(&i, b"2 a", 0, 10, 1, Some(b"version srcaddr"));
        b.push_with_context(&i, b"2 b", 1, 20, 1, Some(b"version srcaddr"));
        b.push(&i, b"{}", 2, 30, 1);
        b.push_with_context(&i, b"ACCEPT", 3, 40, 1, Some(b"action"));
        let batch = b.finish(0);
        let dict = batch.batch.column_by_name(envelope::CONTEXT).unwrap().as_dictionary::<UInt32Type>();
        assert_eq!(dict.values().len(), 2, "each distinct run once");
        let view = trawl_guest_sdk::RawBatchView::new(&batch.batch).unwrap();
        let got: Vec<Option<&[u8]>> = (0..4).map(|r| view.get(r).context).collect();
        assert_eq!(got, [Some(&b"version srcaddr"[..]), Some(&b"version srcaddr"[..]), None, Some(&b"action"[..])]);
        // And through the IPC stream the mapper receives.
        let bytes = trawl_guest_sdk::runtime::ipc_encode(&batch.batch.schema(), std::slice::from_ref(&batch.batch)).unwrap();
        let back = trawl_guest_sdk::runtime::ipc_decode(&bytes).unwrap();
        let view = trawl_guest_sdk::RawBatchView::new(&back[0]).unwrap();
        assert_eq!(view.get(3).context, Some(&b"action"[..]));
        assert_eq!(view.get(2).context, None);
    }

    /// Enrichment values are stored once per batch however they interleave, read back per row
    /// (also through the IPC stream the mapper receives), and start over with each batch.
    #[test]
    fn enrichments_are_stored_once_per_batch_and_read_back_per_row() {
        let mut b = RawBatchBuilder::new();
        let i = info("flows.log.gz", None);
        let (web, db) = (&br#"{"src":{"instance_id":"i-1"}}"#[..], &br#"{"src":{"instance_id":"i-2"}}"#[..]);
        for (n, e) in [Some(web), Some(db), None, Some(web), Some(db)].into_iter().enumerate() {
            b.push_full(&i, b"2 x", n as u64, n as u64 * 10, 1, Some(b"version srcaddr"), e);
        }
        let batch = b.finish(0);
        let dict = batch.batch.column_by_name(envelope::ENRICHMENT).unwrap().as_dictionary::<UInt32Type>();
        assert_eq!(dict.values().len(), 2, "each distinct value once");
        let bytes = trawl_guest_sdk::runtime::ipc_encode(&batch.batch.schema(), std::slice::from_ref(&batch.batch)).unwrap();
        let back = trawl_guest_sdk::runtime::ipc_decode(&bytes).unwrap();
        let view = trawl_guest_sdk::RawBatchView::new(&back[0]).unwrap();
        let got: Vec<Option<&[u8]>> = (0..5).map(|r| view.get(r).enrichment).collect();
        assert_eq!(got, [Some(web), Some(db), None, Some(web), Some(db)]);
        assert_eq!(view.get(4).context, Some(&b"version srcaddr"[..]), "the context is untouched");
        b.push_full(&i, b"2 y", 0, 0, 1, None, Some(db));
        let next = b.finish(1);
        let view = trawl_guest_sdk::RawBatchView::new(&next.batch).unwrap();
        assert_eq!(view.get(0).enrichment, Some(db), "a new batch has its own dictionary");
    }
}
