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

    /// Deserializes the record as JSON into `T` (borrowing from the record where `T` allows).
    pub fn json<T: serde::Deserialize<'a>>(&self) -> Result<T, MapError> {
        serde_json::from_slice(self.bytes).map_err(|e| MapError::new(format!("malformed JSON: {e}")))
    }
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
        let context = match batch.column_by_name(envelope::CONTEXT) {
            None => None,
            Some(c) => {
                let d = c.as_dictionary_opt::<UInt32Type>().ok_or("column \"context\" is not Dictionary<UInt32, Binary>")?;
                Some((d.keys(), d.values().as_binary_opt::<i32>().ok_or("the values of column \"context\" are not Binary")?))
            }
        };
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
            context: self.context.and_then(|(keys, values)| (!keys.is_null(i)).then(|| values.value(keys.value(i) as usize))),
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
}
