//! The line-based readers (NDJSON, delimited with a header, pattern-started multi-line records)
//! and the single-document reader on arbitrary bytes: no panic, no unbounded loop, indexes
//! without gaps, offsets inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trawl_fuzz::formats::{
    Record, RecordReader, delimited::DelimitedReader, json_document::JsonDocumentReader, ndjson::NdjsonReader, pattern_lines::PatternLinesReader,
};

fn drain(mut r: impl RecordReader, len: usize) {
    let mut next = 0;
    while let Ok(Some(Record { index, offset, bytes })) = r.next_record() {
        assert_eq!(index, next);
        next += 1;
        assert!(offset as usize + bytes.len() <= len + 1, "record past the end");
        assert!(next <= len as u64 + 1, "more records than bytes");
    }
}

fuzz_target!(|data: &[u8]| {
    drain(NdjsonReader::new(data, "fuzz"), data.len());
    drain(DelimitedReader::new(data, |l| l.first().is_some_and(|b| b.is_ascii_lowercase()), "fuzz"), data.len());
    drain(PatternLinesReader::new(data, |l| l.starts_with(b"'20"), "fuzz"), data.len());
    drain(JsonDocumentReader::new(data, "fuzz"), data.len());
});
