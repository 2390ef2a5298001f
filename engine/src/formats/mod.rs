//! Record formats: how the bytes AWS delivers split into records, independent of where the
//! bytes come from (a local file, an S3 object, an SQS message, an API field). Every reader
//! works on a decompressed [`std::io::BufRead`] (see [`compression::decompressed`], which
//! sniffs gzip), streams with bounded memory (one record at a time, at most
//! [`MAX_RECORD_BYTES`]), gives each record its index and byte offset, and says at which byte
//! a stream stops making sense. The source names the object in its messages.
//!
//! | reader | records | used by |
//! |---|---|---|
//! | [`cloudtrail::CloudTrailReader`] | CloudTrail events in any container: sniffs log file, bare array, one event, NDJSON or CloudWatch Logs message, then reads it with one of the readers below | every CloudTrail source |
//! | [`json_records::JsonRecordsReader`] | the elements of one top-level array (`{"Records":[…]}`, key a parameter; or a bare `[…]`) | CloudTrail log files, CloudWatch Logs messages |
//! | [`json_document::JsonDocumentReader`] | the whole document: one record (also one queue message body: an EventBridge event) | single-event files, queue messages |
//! | [`ndjson::NdjsonReader`] | one JSON value per line | JSON-lines exports |
//! | [`delimited::DelimitedReader`] | one line each, after a header line that names the fields (the unit context) | VPC Flow Logs |
//! | [`pattern_lines::PatternLinesReader`] | a line that starts a record, and the lines after it that do not | Redshift user activity log |

pub mod cloudtrail;
pub mod compression;
pub mod delimited;
pub mod json_document;
pub mod json_records;
pub mod ndjson;
pub mod pattern_lines;

use std::io::{self, BufRead};

/// Records larger than this are refused (CloudTrail records are a few KB; the largest
/// documented are well under 1 MiB). Protects memory from a corrupt or hostile file.
pub const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// One record: its bytes, index in its unit and byte offset in the decompressed stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Index among the unit's records, from 0.
    pub index: u64,
    /// Offset of the record's first byte in the decompressed stream.
    pub offset: u64,
    /// The record's exact bytes.
    pub bytes: Vec<u8>,
}

/// Why a stream could not be read to the end. Records already returned stay valid.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The stream is not of this format at all (empty, not JSON, no records array…).
    #[error("not a {what}: {detail} (at byte {offset})")]
    NotFormat {
        /// The format (`CloudTrail log file`).
        what: &'static str,
        /// Offset where that became clear.
        offset: u64,
        /// What was found instead.
        detail: String,
    },
    /// The stream breaks off or is malformed; `partial` holds the bytes of the record that was
    /// being read, if any.
    #[error("malformed {what}: {detail} (at byte {offset})")]
    Malformed {
        /// The format.
        what: &'static str,
        /// Offset of the problem.
        offset: u64,
        /// What is wrong.
        detail: String,
        /// The record being read when it happened.
        partial: Option<Record>,
    },
    /// One record cannot be a record (an NDJSON line that is not JSON, a CloudWatch Logs entry
    /// without a message): it is refused, and — unlike the other errors — the reader goes on
    /// with the next one.
    #[error("a record of the {what} is not readable: {detail} (at byte {offset})")]
    BadRecord {
        /// The format.
        what: &'static str,
        /// Offset of the record.
        offset: u64,
        /// What is wrong with it.
        detail: String,
        /// The record's index and exact bytes (taken by [`FormatError::take_partial`]).
        record: Option<Record>,
    },
    /// Reading or decompressing failed (e.g. a corrupt gzip stream).
    #[error("cannot read the stream after byte {offset}: {source}")]
    Io {
        /// Decompressed bytes read before the failure.
        offset: u64,
        /// The I/O or decompression error.
        source: io::Error,
        /// The record being read when it happened.
        partial: Option<Record>,
    },
}

impl FormatError {
    /// The partial record being read when the error happened, if any.
    pub fn take_partial(&mut self) -> Option<Record> {
        match self {
            FormatError::Malformed { partial, .. } | FormatError::Io { partial, .. } | FormatError::BadRecord { record: partial, .. } => partial.take(),
            FormatError::NotFormat { .. } => None,
        }
    }

    /// Byte offset of the error.
    pub fn offset(&self) -> u64 {
        match self {
            FormatError::NotFormat { offset, .. } | FormatError::Malformed { offset, .. } | FormatError::Io { offset, .. } | FormatError::BadRecord { offset, .. } => *offset,
        }
    }

    /// Whether only one record is bad and the reader goes on ([`FormatError::BadRecord`]).
    pub fn is_bad_record(&self) -> bool {
        matches!(self, FormatError::BadRecord { .. })
    }
}

/// Reads a unit's records one at a time.
///
/// Contract: `Ok(None)` once, at the end; after an `Err` the reader is done (the source
/// dead-letters the partial record and the rest of the unit, naming the offset) — except
/// after [`FormatError::BadRecord`]: that one record is dead-lettered and the next call goes
/// on. Indexes count up from 0 without gaps (a bad record has one too); offsets are of the
/// decompressed stream.
pub trait RecordReader {
    /// The next record.
    fn next_record(&mut self) -> Result<Option<Record>, FormatError>;
    /// The unit context known so far: bytes that every record of the unit is read with (the
    /// header line naming VPC Flow Logs' fields), handed to the mapper beside each record.
    fn context(&self) -> Option<&[u8]> {
        None
    }
}

/// Lines of a stream, bounded: the text formats' common ground. A UTF-8 byte order mark at
/// the very start is skipped; `\r\n` endings lose the `\r`; a missing final newline is fine.
pub(crate) struct Lines<R> {
    r: R,
    pos: u64,
    what: &'static str,
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(r: R, what: &'static str) -> Self {
        Self { r, pos: 0, what }
    }

    /// The next line and its offset; `None` at the end.
    pub(crate) fn next_line(&mut self) -> Result<Option<(u64, Vec<u8>)>, FormatError> {
        if self.pos == 0 {
            let buf = self.fill()?;
            if buf.starts_with(b"\xEF\xBB\xBF") {
                self.r.consume(3);
                self.pos = 3;
            }
        }
        let start = self.pos;
        let mut line = Vec::new();
        loop {
            let buf = self.fill()?;
            if buf.is_empty() {
                if line.is_empty() && self.pos == start {
                    return Ok(None);
                }
                break;
            }
            let (take, end) = match memchr::memchr(b'\n', buf) {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            line.extend_from_slice(&buf[..take]);
            self.r.consume(take);
            self.pos += take as u64;
            if line.len() > MAX_RECORD_BYTES {
                return Err(FormatError::Malformed {
                    what: self.what,
                    offset: start,
                    detail: format!("a line is longer than {MAX_RECORD_BYTES} bytes"),
                    partial: None,
                });
            }
            if end {
                break;
            }
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(Some((start, line)))
    }

    fn fill(&mut self) -> Result<&[u8], FormatError> {
        loop {
            match self.r.fill_buf() {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(FormatError::Io { offset: self.pos, source: e, partial: None }),
            }
        }
        Ok(self.r.fill_buf().expect("filled above"))
    }
}

/// Whether a line holds nothing but white space.
pub(crate) fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| b.is_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_skip_a_bom_strip_crlf_and_keep_a_last_line_without_newline() {
        let mut l = Lines::new(&b"\xEF\xBB\xBFa\r\n\nb"[..], "test");
        assert_eq!(l.next_line().unwrap(), Some((3, b"a".to_vec())));
        assert_eq!(l.next_line().unwrap(), Some((6, b"".to_vec())));
        assert_eq!(l.next_line().unwrap(), Some((7, b"b".to_vec())));
        assert_eq!(l.next_line().unwrap(), None);
        let mut l = Lines::new(std::io::BufReader::with_capacity(1, &b"xy\nz\n"[..]), "test");
        assert_eq!(l.next_line().unwrap(), Some((0, b"xy".to_vec())));
        assert_eq!(l.next_line().unwrap(), Some((3, b"z".to_vec())));
        assert_eq!(l.next_line().unwrap(), None);
    }
}
