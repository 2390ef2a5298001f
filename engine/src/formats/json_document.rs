//! One JSON document, one record: a file holding a single event, or a queue message body (an
//! EventBridge event: one message, one record).

use std::io::{BufRead, Read};

use super::{FormatError, MAX_RECORD_BYTES, Record, RecordReader};

/// Reads the whole stream as one record (leading white space and a byte order mark skipped).
pub struct JsonDocumentReader<R> {
    r: Option<R>,
    what: &'static str,
}

impl<R: BufRead> JsonDocumentReader<R> {
    /// A reader over a decompressed stream; `what` names the format in errors.
    pub fn new(r: R, what: &'static str) -> Self {
        Self { r: Some(r), what }
    }
}

impl<R: BufRead> RecordReader for JsonDocumentReader<R> {
    fn next_record(&mut self) -> Result<Option<Record>, FormatError> {
        let Some(r) = self.r.take() else { return Ok(None) };
        let mut bytes = Vec::new();
        let n = r.take(MAX_RECORD_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(|e| FormatError::Io { offset: 0, source: e, partial: None })?;
        if n > MAX_RECORD_BYTES {
            return Err(FormatError::Malformed { what: self.what, offset: 0, detail: format!("the document is larger than {MAX_RECORD_BYTES} bytes"), partial: None });
        }
        let mut start = if bytes.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
        start += bytes[start..].iter().take_while(|b| b.is_ascii_whitespace()).count();
        let end = bytes.len() - bytes[start..].iter().rev().take_while(|b| b.is_ascii_whitespace()).count();
        if start == end {
            return Err(FormatError::NotFormat { what: self.what, offset: 0, detail: "it is empty".into() });
        }
        Ok(Some(Record { index: 0, offset: start as u64, bytes: bytes[start..end].to_vec() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_the_one_record() {
        let mut r = JsonDocumentReader::new(&b"\xEF\xBB\xBF\n {\"detail\":{}}\n"[..], "EventBridge event");
        let rec = r.next_record().unwrap().unwrap();
        assert_eq!((rec.index, rec.offset, rec.bytes.as_slice()), (0, 5, &b"{\"detail\":{}}"[..]));
        assert!(r.next_record().unwrap().is_none());
        let e = JsonDocumentReader::new(&b"  \n"[..], "EventBridge event").next_record().unwrap_err();
        assert_eq!(e.to_string(), "not a EventBridge event: it is empty (at byte 0)");
    }
}
