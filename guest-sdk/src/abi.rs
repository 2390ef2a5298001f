//! The mapper ABI, version 1: what crosses the host/guest boundary, shared by `trawl` (host)
//! and this SDK (guest) so the two sides cannot drift.
//!
//! One call per batch, never per record. Every call that returns data returns a *packed
//! buffer*: an `i64` holding `(ptr << 32) | len` of a guest-memory buffer whose first byte is
//! [`RESULT_OK`] or [`RESULT_ERR`] (then a UTF-8 message).
//!
//! | export | signature | meaning |
//! |---|---|---|
//! | `memory` | memory | the guest's linear memory |
//! | `trawl_abi_version` | `() -> i32` | `(major << 16) \| minor` |
//! | `trawl_alloc` | `(len: i32) -> i32` | a buffer the host writes input into |
//! | `trawl_dealloc` | `(ptr: i32, len: i32)` | frees a buffer returned by the guest |
//! | `trawl_manifest` | `() -> i64` | packed buffer: [`Manifest`](crate::Manifest) as JSON |
//! | `trawl_init` | `(ptr: i32, len: i32) -> i64` | mapper config (JSON) → packed OK / error |
//! | `trawl_map_batch` | `(ptr: i32, len: i32) -> i64` | raw batch (Arrow IPC stream) → packed output |
//!
//! Imports, module `trawl`: `log(level: i32, ptr: i32, len: i32)` and
//! `panic(ptr: i32, len: i32)` (the panic message, sent before the guest aborts).
//!
//! **Output of `trawl_map_batch`** after the result byte: `u32 n`, then `n` frames of
//! `u32 len` + an Arrow IPC stream (all integers little-endian). Frame 0 is the status stream,
//! one row per input row: `status: UInt8` ([`STATUS_OK`], [`STATUS_SKIP`], [`STATUS_ERROR`]) and
//! `error: Utf8`. Every further frame holds the events of one OCSF class: column `_row`
//! (`UInt32`, the input row that produced the event) followed by the class's columns, with the
//! class in the schema metadata ([`META_CLASS_UID`], [`META_CLASS_NAME`]).

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// ABI major version. The host refuses modules built for another major.
pub const ABI_MAJOR: u32 = 1;
/// ABI minor version. Minor additions are backwards compatible.
/// - 1.1: import `trawl::log_row(level, row, ptr, len)`: a log line with the input row.
/// - 1.2: envelope column [`envelope::CONTEXT`]: the unit context of each record. Modules
///   built for 1.1 read columns by name and never see it.
/// - 1.3: envelope column [`envelope::ENRICHMENT`]: JSON the host attaches to a record (see
///   [`RawRecord::enrichment`](crate::RawRecord::enrichment)). Modules built for 1.2 or
///   earlier read columns by name and never see it; a 1.3 module given a batch without it
///   reads `None`.
pub const ABI_MINOR: u32 = 3;

/// First byte of a packed result: success.
pub const RESULT_OK: u8 = 0;
/// First byte of a packed result: failure, a UTF-8 message follows.
pub const RESULT_ERR: u8 = 1;

/// The record produced at least one event.
pub const STATUS_OK: u8 = 0;
/// The mapper chose to drop the record (a filter); counted, not dead-lettered.
pub const STATUS_SKIP: u8 = 1;
/// The record could not be mapped; the host dead-letters it with the message.
pub const STATUS_ERROR: u8 = 2;

/// Schema metadata key on a class frame: the OCSF `class_uid`.
pub const META_CLASS_UID: &str = "trawl.class_uid";
/// Schema metadata key on a class frame: the class name in snake case (`api_activity`).
pub const META_CLASS_NAME: &str = "trawl.class_name";
/// Name of the input-row column that leads every class frame.
pub const ROW_COLUMN: &str = "_row";

/// Packs an ABI version for `trawl_abi_version`.
pub const fn packed_abi_version() -> i32 {
    ((ABI_MAJOR << 16) | ABI_MINOR) as i32
}

/// Column names of the raw envelope, in order. See [`envelope_schema`].
pub mod envelope {
    /// The raw record bytes, exactly as read from the source.
    pub const RAW: &str = "raw";
    /// The connector's account name, chosen by the user and stamped on every event.
    pub const CONNECTOR: &str = "connector";
    /// The source kind (`cloudtrail_files`, `cloudtrail_s3`, …).
    pub const SOURCE_KIND: &str = "source_kind";
    /// The AWS account id the record belongs to, when known.
    pub const AWS_ACCOUNT_ID: &str = "aws_account_id";
    /// The AWS region the record belongs to, when known.
    pub const REGION: &str = "region";
    /// The object the record came from: a file path or `s3://bucket/key`.
    pub const OBJECT: &str = "object";
    /// The record's index within its object, from 0.
    pub const RECORD_INDEX: &str = "record_index";
    /// Byte offset of the record in the object's decompressed stream.
    pub const BYTE_OFFSET: &str = "byte_offset";
    /// When trawl read the record (ms since the epoch, UTC).
    pub const INGEST_TIME: &str = "ingest_time";
    /// The unit context (ABI 1.2): bytes every record of its unit is read with, such as the
    /// header line naming a VPC Flow Logs file's fields; null when the format has none.
    /// Dictionary-encoded, so a batch carries each distinct context once.
    pub const CONTEXT: &str = "context";
    /// The enrichment (ABI 1.3): JSON the host attaches to one record from what it fetched
    /// itself (for VPC Flow Logs: the account alias and the EC2 instances behind the record's
    /// addresses), never fetched by the mapper; null when there is none. Dictionary-encoded,
    /// so a batch carries each distinct value once. The JSON shapes are documented on
    /// [`RawRecord::enrichment`](crate::RawRecord::enrichment).
    pub const ENRICHMENT: &str = "enrichment";
}

/// The one schema of every raw batch, whatever the source: the record bytes plus provenance.
pub fn envelope_schema() -> SchemaRef {
    use envelope::*;
    Arc::new(Schema::new(vec![
        Field::new(RAW, DataType::Binary, false),
        Field::new(CONNECTOR, DataType::Utf8, false),
        Field::new(SOURCE_KIND, DataType::Utf8, false),
        Field::new(AWS_ACCOUNT_ID, DataType::Utf8, true),
        Field::new(REGION, DataType::Utf8, true),
        Field::new(OBJECT, DataType::Utf8, false),
        Field::new(RECORD_INDEX, DataType::UInt64, false),
        Field::new(BYTE_OFFSET, DataType::UInt64, false),
        Field::new(INGEST_TIME, DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new(CONTEXT, DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Binary)), true),
        Field::new(ENRICHMENT, DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Binary)), true),
    ]))
}

/// Schema of the status frame.
pub fn status_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("status", DataType::UInt8, false),
        Field::new("error", DataType::Utf8, true),
    ]))
}

/// Appends one frame to a map output being built: its length, then what `write` appends.
/// The frame count at the start of the output is the caller's to write.
pub fn push_frame<E>(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<(), E> {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    write(out)?;
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// Splits a map output (after the result byte) into its frames.
pub fn read_frames(buf: &[u8]) -> Result<Vec<&[u8]>, String> {
    fn u32_at(buf: &[u8], at: usize) -> Result<u32, String> {
        buf.get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
            .ok_or_else(|| format!("output truncated at byte {at}"))
    }
    let n = u32_at(buf, 0)? as usize;
    let mut at = 4;
    let mut frames = Vec::with_capacity(n.min(64));
    for i in 0..n {
        let len = u32_at(buf, at)? as usize;
        at += 4;
        let f = buf
            .get(at..at + len)
            .ok_or_else(|| format!("frame {i} of {len} bytes runs past the end of the output"))?;
        frames.push(f);
        at += len;
    }
    if at != buf.len() {
        return Err(format!("{} trailing bytes after {n} frames", buf.len() - at));
    }
    Ok(frames)
}
