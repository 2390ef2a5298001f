//! Newline-delimited JSON: one value per line; blank lines are skipped.

use std::io::BufRead;

use super::{FormatError, Lines, Record, RecordReader, is_blank};

/// Reads one record per non-blank line.
pub struct NdjsonReader<R> {
    lines: Lines<R>,
    next_index: u64,
}

impl<R: BufRead> NdjsonReader<R> {
    /// A reader over a decompressed stream; `what` names the format in errors.
    pub fn new(r: R, what: &'static str) -> Self {
        Self { lines: Lines::new(r, what), next_index: 0 }
    }
}

impl<R: BufRead> RecordReader for NdjsonReader<R> {
    fn next_record(&mut self) -> Result<Option<Record>, FormatError> {
        while let Some((offset, line)) = self.lines.next_line()? {
            if is_blank(&line) {
                continue;
            }
            let index = self.next_index;
            self.next_index += 1;
            return Ok(Some(Record { index, offset, bytes: line }));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_record_per_line_with_offsets_blank_lines_skipped() {
        let input = b"{\"a\":1}\n\n  \r\n{\"b\":2}\r\n{\"c\":3}";
        let mut r = NdjsonReader::new(&input[..], "test");
        let mut got = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            got.push((rec.index, rec.offset, String::from_utf8(rec.bytes).unwrap()));
        }
        assert_eq!(got, [(0, 0, "{\"a\":1}".into()), (1, 13, "{\"b\":2}".into()), (2, 22, "{\"c\":3}".into())]);
    }
}
