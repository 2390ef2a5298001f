//! The raw record a mapper sees: its bytes and where they came from.

use arrow_array::{
    Array, BinaryArray, RecordBatch, StringArray, TimestampMillisecondArray, UInt32Array, UInt64Array,
    cast::AsArray,
    types::{TimestampMillisecondType, UInt32Type, UInt64Type},
};

use crate::{MapError, abi::envelope};

/// One raw record with its provenance. Borrowed from the batch: no copies.
///
/// Not built field by field outside this crate (fields are added in ABI minor versions): in
/// tests, start from [`crate::testing::record`] and set what matters.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RawRecord<'a> {
    /// The record bytes exactly as the source read them (for CloudTrail: one JSON object).
    pub bytes: &'a [u8],
    /// The connector's account name (user-chosen, stamped on every event).
    pub connector: &'a str,
    /// The source kind, e.g. `cloudtrail_files`.
    pub source_kind: &'a str,
    /// The AWS account id, when the source knows it (from the object key, for CloudTrail).
    pub aws_account_id: Option<&'a str>,
    /// The AWS region, when the source knows it.
    pub region: Option<&'a str>,
    /// The file path or `s3://bucket/key` the record came from.
    pub object: &'a str,
    /// Index of the record within its object.
    pub record_index: u64,
    /// Byte offset of the record in the decompressed object.
    pub byte_offset: u64,
    /// When trawl read it, ms since the epoch.
    pub ingest_time_ms: i64,
    /// The unit context (ABI 1.2): e.g. the header line of the VPC Flow Logs file the record
    /// is a line of. `None` for formats without one.
    pub context: Option<&'a [u8]>,
    /// The enrichment (ABI 1.3): JSON the host attached to this record from what it fetched
    /// itself (paginated sweeps once per run, cached; a mapper never calls AWS). `None` when
    /// the source enriches nothing, found nothing for this record or has enrichment turned
    /// off, and from hosts before 1.3. Read it leniently: any key may be absent, and keys
    /// added later are to be ignored.
    ///
    /// **VPC Flow Logs** (`vpc_flow`) — one object:
    ///
    /// ```json
    /// {"account_alias": "prod-main",
    ///  "src": {"instance_id": "i-0a1b2c3d4e5f60718", "name": "web-1", "vpc_id": "vpc-0a1b2c3d",
    ///          "subnet_id": "subnet-0a1b2c3d", "image_id": "ami-0a1b2c3d4e5f60718",
    ///          "interface_id": "eni-0a1b2c3d4e5f60718", "az": "us-east-1a"},
    ///  "dst": {"instance_id": "i-…", "…": "…"}}
    /// ```
    ///
    /// - `account_alias`: the IAM alias of the account the record belongs to
    ///   (`iam:ListAccountAliases`).
    /// - `src` / `dst`: the EC2 instance (`ec2:DescribeInstances`) that owns the record's
    ///   source / destination address — one of its network interfaces' private or public
    ///   addresses — or, for the side whose address names no instance, the instance the
    ///   record's own network interface (`interface-id`) is attached to when that interface
    ///   holds the address. Keys: `instance_id`; `name`, its `Name` tag; `vpc_id`,
    ///   `subnet_id`, `image_id` (the AMI); `interface_id`, the network interface that holds
    ///   the address; `az`, the instance's Availability Zone.
    ///
    /// All values are strings.
    ///
    /// **CloudWatch Logs** (`cloudwatch_logs`) — the event the record is the message of, as
    /// FilterLogEvents returned it:
    ///
    /// ```json
    /// {"log_group": "/aws/redshift/cluster/prod/connectionlog", "log_stream": "prod",
    ///  "event_id": "37134448277055796160680128736489325346054405730130984960",
    ///  "timestamp": 1700000000123, "ingestion_time": 1700000000456}
    /// ```
    ///
    /// `timestamp` and `ingestion_time` are epoch milliseconds (numbers); the rest strings.
    pub enrichment: Option<&'a [u8]>,
}

impl<'a> RawRecord<'a> {
    /// The record as UTF-8 text.
    pub fn text(&self) -> Result<&'a str, MapError> {
        // std checks for ASCII a `usize` at a time, which is 4 bytes on wasm32; records are
        // mostly ASCII, so check 16 bytes a step first and let std validate only the rest.
        let ascii = ascii_prefix_len(self.bytes);
        match std::str::from_utf8(&self.bytes[ascii..]) {
            // SAFETY: bytes[..ascii] is ASCII and bytes[ascii..] was just validated; a UTF-8
            // sequence cannot start inside ASCII, so the whole is valid UTF-8.
            Ok(_) => Ok(unsafe { std::str::from_utf8_unchecked(self.bytes) }),
            Err(e) => Err(MapError::new(format!(
                "record is not valid UTF-8: invalid byte at offset {}",
                ascii + e.valid_up_to()
            ))),
        }
    }

    /// A stable id of the record from where it was read: its object and its position in it
    /// (FNV-1a, 128 bits, as 32 hex digits). The same record read again — a rerun after a
    /// crash, the same object arriving through the `sqs` source — gets the same id. For
    /// formats with no event id of their own (flow logs, audit log lines) it is what
    /// `metadata.uid` holds, so a consumer can drop any duplicate an at-least-once loader
    /// downstream delivers.
    pub fn position_uid(&self) -> String {
        position_uid(self.object, self.record_index, self.byte_offset)
    }

    /// Deserializes the record as JSON into `T` (borrowing from the record where `T` allows).
    pub fn json<T: serde::Deserialize<'a>>(&self) -> Result<T, MapError> {
        serde_json::from_slice(self.bytes).map_err(|e| MapError::new(format!("malformed JSON: {e}")))
    }
}

/// [`RawRecord::position_uid`] of the record at `index` and `offset` in `object`.
pub fn position_uid(object: &str, index: u64, offset: u64) -> String {
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013B;
    const BASIS: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    fn eat(mut h: u128, bytes: &[u8]) -> u128 {
        for b in bytes {
            h = (h ^ *b as u128).wrapping_mul(PRIME);
        }
        h
    }
    // The records of a batch mostly share their object: its part of the hash (128-bit
    // multiplies, slow on wasm32) is kept for the next call rather than redone per record.
    thread_local! {
        static LAST: std::cell::RefCell<(String, u128)> = const { std::cell::RefCell::new((String::new(), BASIS.wrapping_mul(PRIME))) };
    }
    let mut h = LAST.with_borrow_mut(|(last, h)| {
        if !bytes_eq(last.as_bytes(), object.as_bytes()) {
            // A separator no key contains, so ("a", 12) and ("a1", 2) differ.
            *h = eat(eat(BASIS, object.as_bytes()), &[0]);
            last.clear();
            last.push_str(object);
        }
        *h
    });
    h = eat(h, &index.to_le_bytes());
    h = eat(h, &offset.to_le_bytes());
    hex_u128(h)
}

/// `format!("{h:032x}")` without the formatting machinery, which was most of what a uid
/// cost in wasm (~2 % of a VPC Flow run).
fn hex_u128(h: u128) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    for (i, d) in out.iter_mut().enumerate() {
        *d = DIGITS[(h >> (124 - 4 * i) & 0xf) as usize];
    }
    // SAFETY: every byte is an ASCII hex digit.
    unsafe { String::from_utf8_unchecked(out.to_vec()) }
}

/// `a == b`, 8 bytes a step. Slice equality is `memcmp`, which on wasm32 is a byte loop: for
/// the ~200-byte header a VPC Flow record is checked against, and the object name each
/// record's uid is hashed from, that was ~6% of a run.
pub fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |w: &[u8]| u64::from_le_bytes(w.try_into().expect("8 bytes"));
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    x.by_ref().zip(y.by_ref()).all(|(p, q)| word(p) == word(q)) && x.remainder() == y.remainder()
}

/// The length of the longest prefix of `b` made of whole 16-byte ASCII blocks.
fn ascii_prefix_len(b: &[u8]) -> usize {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(block) = b.get(i..i + 16) {
        let (x, y) = block.split_at(8);
        let word = |w: &[u8]| u64::from_le_bytes(w.try_into().expect("8 bytes"));
        if (word(x) | word(y)) & HIGH != 0 {
            break;
        }
        i += 16;
    }
    i
}

/// Column views over a decoded raw batch. Built once per batch.
pub struct RawBatchView<'a> {
    raw: &'a BinaryArray,
    connector: &'a StringArray,
    source_kind: &'a StringArray,
    account: &'a StringArray,
    region: &'a StringArray,
    object: &'a StringArray,
    index: &'a UInt64Array,
    offset: &'a UInt64Array,
    ingest: &'a TimestampMillisecondArray,
    /// Keys and values of the dictionary-encoded context column, when the host sends one.
    context: Option<(&'a UInt32Array, &'a BinaryArray)>,
    /// The same for the enrichment column (ABI 1.3).
    enrichment: Option<(&'a UInt32Array, &'a BinaryArray)>,
}

/// Keys and values of an optional `Dictionary<UInt32, Binary>` column: `None` when the batch
/// has no such column (a host of an earlier ABI minor).
fn dictionary_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<Option<(&'a UInt32Array, &'a BinaryArray)>, String> {
    let Some(c) = batch.column_by_name(name) else { return Ok(None) };
    let d = c.as_dictionary_opt::<UInt32Type>().ok_or_else(|| format!("column {name:?} is not Dictionary<UInt32, Binary>"))?;
    let values = d.values().as_binary_opt::<i32>().ok_or_else(|| format!("the values of column {name:?} are not Binary"))?;
    Ok(Some((d.keys(), values)))
}

/// Row `i` of a column read by [`dictionary_column`].
fn dictionary_value<'a>(col: Option<(&'a UInt32Array, &'a BinaryArray)>, i: usize) -> Option<&'a [u8]> {
    col.and_then(|(keys, values)| (!keys.is_null(i)).then(|| values.value(keys.value(i) as usize)))
}

impl<'a> RawBatchView<'a> {
    /// Checks that `batch` has the envelope schema and borrows its columns.
    pub fn new(batch: &'a RecordBatch) -> Result<Self, String> {
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| format!("raw batch has no column {name:?}"))
        };
        let s = |name: &str| -> Result<&'a StringArray, String> {
            let c: &'a dyn Array = batch
                .column_by_name(name)
                .ok_or_else(|| format!("raw batch has no column {name:?}"))?
                .as_ref();
            c.as_string_opt::<i32>().ok_or_else(|| format!("column {name:?} is not Utf8"))
        };
        let context = dictionary_column(batch, envelope::CONTEXT)?;
        let enrichment = dictionary_column(batch, envelope::ENRICHMENT)?;
        let raw = col(envelope::RAW)?
            .as_binary_opt::<i32>()
            .ok_or("column \"raw\" is not Binary")?;
        Ok(Self {
            raw,
            connector: s(envelope::CONNECTOR)?,
            source_kind: s(envelope::SOURCE_KIND)?,
            account: s(envelope::AWS_ACCOUNT_ID)?,
            region: s(envelope::REGION)?,
            object: s(envelope::OBJECT)?,
            index: col(envelope::RECORD_INDEX)?
                .as_primitive_opt::<UInt64Type>()
                .ok_or("record_index is not UInt64")?,
            offset: col(envelope::BYTE_OFFSET)?
                .as_primitive_opt::<UInt64Type>()
                .ok_or("byte_offset is not UInt64")?,
            ingest: col(envelope::INGEST_TIME)?
                .as_primitive_opt::<TimestampMillisecondType>()
                .ok_or("ingest_time is not Timestamp(ms)")?,
            context,
            enrichment,
        })
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// True when the batch holds no records.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The record at `i`.
    pub fn get(&self, i: usize) -> RawRecord<'a> {
        let opt = |a: &'a StringArray| (!a.is_null(i)).then(|| a.value(i));
        RawRecord {
            bytes: self.raw.value(i),
            connector: self.connector.value(i),
            source_kind: self.source_kind.value(i),
            aws_account_id: opt(self.account),
            region: opt(self.region),
            object: self.object.value(i),
            record_index: self.index.value(i),
            byte_offset: self.offset.value(i),
            ingest_time_ms: self.ingest.value(i),
            context: dictionary_value(self.context, i),
            enrichment: dictionary_value(self.enrichment, i),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(bytes: &[u8]) -> RawRecord<'_> {
        RawRecord {
            bytes,
            connector: "c",
            source_kind: "k",
            aws_account_id: None,
            region: None,
            object: "o",
            record_index: 0,
            byte_offset: 0,
            ingest_time_ms: 0,
            context: None,
            enrichment: None,
        }
    }

    #[test]
    fn bytes_eq_is_slice_equality_at_every_length_and_position() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8).collect();
            assert!(bytes_eq(&a, &a.clone()), "len {n}");
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x40;
                assert!(!bytes_eq(&a, &b), "len {n}, differing at {at}");
            }
            assert!(!bytes_eq(&a, &a[..n.saturating_sub(1)]) || n == 0, "len {n} against one shorter");
        }
    }

    #[test]
    fn text_accepts_utf8_anywhere_and_names_the_offset_of_a_bad_byte() {
        for prefix in [0, 5, 16, 31, 32, 40] {
            let good = format!("{}é€{}", "a".repeat(prefix), "z".repeat(20));
            assert_eq!(record(good.as_bytes()).text().unwrap(), good, "prefix {prefix}");
            let mut bad = good.clone().into_bytes();
            bad[prefix] = 0xff;
            let err = record(&bad).text().unwrap_err().to_string();
            assert!(err.contains(&format!("offset {prefix}")), "prefix {prefix}: {err}");
        }
        assert_eq!(ascii_prefix_len(&[b'a'; 40]), 32);
        assert_eq!(ascii_prefix_len("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaé".as_bytes()), 16);
    }

    /// A batch in the envelope of another ABI minor: without the enrichment column (a 1.2
    /// host) the view reads `None`; with a column it does not know (what a module built for
    /// 1.2 sees in a 1.3 envelope, or a 1.3 module in a later one) it reads every other column
    /// as before.
    #[test]
    fn envelopes_of_other_minors_are_read_by_column_name() {
        use std::sync::Arc;

        use arrow_array::{ArrayRef, DictionaryArray, TimestampMillisecondArray};
        use arrow_schema::{DataType, Field, Schema};

        let envelope = crate::abi::envelope_schema();
        let cols: Vec<ArrayRef> = envelope
            .fields()
            .iter()
            .map(|f| -> ArrayRef {
                match f.data_type() {
                    DataType::Binary => Arc::new(BinaryArray::from_vec(vec![b"2 x"])),
                    DataType::Utf8 => Arc::new(StringArray::from(vec![f.name().as_str()])),
                    DataType::UInt64 => Arc::new(UInt64Array::from(vec![7])),
                    DataType::Timestamp(..) => Arc::new(TimestampMillisecondArray::from(vec![1]).with_timezone("UTC")),
                    DataType::Dictionary(..) => {
                        Arc::new(DictionaryArray::<UInt32Type>::try_new(UInt32Array::from(vec![0]), Arc::new(BinaryArray::from_vec(vec![f.name().as_bytes()]))).unwrap())
                    }
                    other => panic!("no test column for {other}"),
                }
            })
            .collect();
        let full = RecordBatch::try_new(envelope.clone(), cols.clone()).unwrap();
        let rec = RawBatchView::new(&full).unwrap().get(0);
        assert_eq!((rec.bytes, rec.record_index, rec.context, rec.enrichment), (&b"2 x"[..], 7, Some(&b"context"[..]), Some(&b"enrichment"[..])));

        // ABI 1.2: no enrichment column.
        let keep: Vec<usize> = (0..envelope.fields().len()).filter(|&i| envelope.field(i).name() != envelope::ENRICHMENT).collect();
        let older = full.project(&keep).unwrap();
        let rec = RawBatchView::new(&older).unwrap().get(0);
        assert_eq!((rec.context, rec.enrichment), (Some(&b"context"[..]), None));

        // A column this SDK does not know, first: nothing shifts.
        let mut fields = vec![Field::new("added_later", DataType::Int32, true)];
        fields.extend(envelope.fields().iter().map(|f| f.as_ref().clone()));
        let mut all: Vec<ArrayRef> = vec![Arc::new(arrow_array::Int32Array::from(vec![1]))];
        all.extend(cols);
        let newer = RecordBatch::try_new(Arc::new(Schema::new(fields)), all).unwrap();
        let rec = RawBatchView::new(&newer).unwrap().get(0);
        assert_eq!((rec.bytes, rec.object, rec.enrichment), (&b"2 x"[..], "object", Some(&b"enrichment"[..])));
    }
}

#[cfg(test)]
mod position_uid_tests {
    /// The cached object state gives what hashing everything afresh gives, whatever the order
    /// of objects (the empty one included).
    #[test]
    fn the_cache_changes_nothing() {
        fn fresh(object: &str, index: u64, offset: u64) -> String {
            let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
            for b in object.as_bytes().iter().chain(&[0]).chain(&index.to_le_bytes()).chain(&offset.to_le_bytes()) {
                h = (h ^ *b as u128).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013B);
            }
            format!("{h:032x}")
        }
        for (o, i, off) in [("", 0, 0), ("a", 12, 3), ("a", 13, 40), ("a1", 2, 3), ("", 5, 1), ("s3://b/k.gz", 0, 0), ("a1", 2, 3)] {
            assert_eq!(super::position_uid(o, i, off), fresh(o, i, off), "{o} {i} {off}");
        }
        assert_ne!(super::position_uid("a", 12, 0), super::position_uid("a1", 2, 0));
    }

    #[test]
    fn hex_is_what_format_writes() {
        for h in [0u128, 1, 0xf, 0x10, u128::MAX, 1 << 127, 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210] {
            assert_eq!(super::hex_u128(h), format!("{h:032x}"));
        }
    }
}
