//! Line records where a record starts only at a line of a given shape, and every other line
//! continues it: the Redshift user activity log, whose records start with
//! `'YYYY-MM-DDTHH:MM:SSZ UTC [ db=` and whose SQL text runs over as many lines as it has.
//! Lines before the first start line form a record of their own (the mapper rejects it, and
//! the rest of the file still lands).

use std::io::BufRead;

use super::{FormatError, Lines, MAX_RECORD_BYTES, Record, RecordReader};

/// Reads multi-line records.
pub struct PatternLinesReader<R> {
    lines: Lines<R>,
    starts: fn(&[u8]) -> bool,
    /// The line read ahead: the start of the next record.
    ahead: Option<(u64, Vec<u8>)>,
    next_index: u64,
    what: &'static str,
}

impl<R: BufRead> PatternLinesReader<R> {
    /// A reader over a decompressed stream; `starts` tells a record's first line.
    pub fn new(r: R, starts: fn(&[u8]) -> bool, what: &'static str) -> Self {
        Self { lines: Lines::new(r, what), starts, ahead: None, next_index: 0, what }
    }
}

impl<R: BufRead> RecordReader for PatternLinesReader<R> {
    fn next_record(&mut self) -> Result<Option<Record>, FormatError> {
        let (offset, mut bytes) = match self.ahead.take() {
            Some(l) => l,
            None => loop {
                match self.lines.next_line()? {
                    None => return Ok(None),
                    Some((_, l)) if l.is_empty() => continue,
                    Some(l) => break l,
                }
            },
        };
        while let Some((at, line)) = self.lines.next_line()? {
            if (self.starts)(&line) {
                self.ahead = Some((at, line));
                break;
            }
            bytes.push(b'\n');
            bytes.extend_from_slice(&line);
            if bytes.len() > MAX_RECORD_BYTES {
                return Err(FormatError::Malformed { what: self.what, offset, detail: format!("a record is longer than {MAX_RECORD_BYTES} bytes"), partial: None });
            }
        }
        // Trailing empty lines belong to no record.
        while bytes.last() == Some(&b'\n') {
            bytes.pop();
        }
        let index = self.next_index;
        self.next_index += 1;
        Ok(Some(Record { index, offset, bytes }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(l: &[u8]) -> bool {
        l.starts_with(b"'20")
    }

    #[test]
    fn continuation_lines_join_their_record_and_orphans_form_their_own() {
        let input = b"orphan\n'2024-01-15T10:00:00Z UTC [ db=dev ]' LOG: select 1\nfrom t\n\n'2024-01-15T10:00:01Z UTC [ db=dev ]' LOG: select 2\n";
        let mut r = PatternLinesReader::new(&input[..], starts, "Redshift user activity log");
        let mut got = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            got.push((rec.index, rec.offset, String::from_utf8(rec.bytes).unwrap()));
        }
        assert_eq!(
            got,
            [
                (0, 0, "orphan".into()),
                (1, 7, "'2024-01-15T10:00:00Z UTC [ db=dev ]' LOG: select 1\nfrom t".into()),
                (2, 67, "'2024-01-15T10:00:01Z UTC [ db=dev ]' LOG: select 2".into()),
            ]
        );
    }
}
