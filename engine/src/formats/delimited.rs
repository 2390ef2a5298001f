//! Delimited text whose first line names the fields: VPC Flow Logs (`version account-id
//! interface-id srcaddr …`, in the order the flow log's format gives). The header is the
//! unit context: it reaches the mapper with every record, which splits the line by it. A
//! header line repeated later in the stream (files concatenated) is not a record; a different
//! header line starts a new context.

use std::io::BufRead;

use super::{FormatError, Lines, Record, RecordReader, is_blank};

/// Reads one record per line after the header line.
pub struct DelimitedReader<R> {
    lines: Lines<R>,
    header: Option<Vec<u8>>,
    is_header: fn(&[u8]) -> bool,
    next_index: u64,
    what: &'static str,
}

impl<R: BufRead> DelimitedReader<R> {
    /// A reader over a decompressed stream. `is_header` tells a header line from a record
    /// (VPC Flow: it starts with a field name, not a value); the first non-blank line must be
    /// one.
    pub fn new(r: R, is_header: fn(&[u8]) -> bool, what: &'static str) -> Self {
        Self { lines: Lines::new(r, what), header: None, is_header, next_index: 0, what }
    }
}

impl<R: BufRead> RecordReader for DelimitedReader<R> {
    fn next_record(&mut self) -> Result<Option<Record>, FormatError> {
        while let Some((offset, line)) = self.lines.next_line()? {
            if is_blank(&line) {
                continue;
            }
            if (self.is_header)(&line) {
                self.header = Some(line);
                continue;
            }
            if self.header.is_none() {
                return Err(FormatError::NotFormat { what: self.what, offset, detail: "the first line is not a header naming the fields".into() });
            }
            let index = self.next_index;
            self.next_index += 1;
            return Ok(Some(Record { index, offset, bytes: line }));
        }
        Ok(None)
    }

    fn context(&self) -> Option<&[u8]> {
        self.header.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test's field names are lower case; its values are digits or upper case.
    fn header(l: &[u8]) -> bool {
        l.first().is_some_and(|b| b.is_ascii_lowercase())
    }

    #[test]
    fn records_come_with_their_header_repeated_headers_are_skipped() {
        let input = b"version srcaddr\n2 10.0.0.1\n\nversion srcaddr\n2 10.0.0.2\naction version\nACCEPT 5";
        let mut r = DelimitedReader::new(&input[..], header, "VPC flow log");
        let mut got = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            got.push((rec.index, rec.offset, String::from_utf8(rec.bytes).unwrap(), String::from_utf8(r.context().unwrap().to_vec()).unwrap()));
        }
        assert_eq!(
            got,
            [
                (0, 16, "2 10.0.0.1".into(), "version srcaddr".into()),
                (1, 44, "2 10.0.0.2".into(), "version srcaddr".into()),
                (2, 70, "ACCEPT 5".into(), "action version".into()),
            ]
        );
        let e = DelimitedReader::new(&b"2 10.0.0.1\n"[..], header, "VPC flow log").next_record().unwrap_err();
        assert!(e.to_string().contains("not a header"), "{e}");
    }
}
