//! The CloudTrail log reader on arbitrary bytes (gzip sniffing included): it must never
//! panic, never return a record that is not a slice of its input at the offset it names, and
//! index records without gaps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trawl_fuzz::formats::{RecordReader, compression::decompressed, json_records::JsonRecordsReader};

fuzz_target!(|data: &[u8]| {
    let Ok(stream) = decompressed(std::io::Cursor::new(data.to_vec())) else { return };
    let plain = !data.starts_with(&[0x1f, 0x8b]);
    let mut r = JsonRecordsReader::cloudtrail(stream);
    let mut next = 0;
    while let Ok(Some(rec)) = RecordReader::next_record(&mut r) {
        assert_eq!(rec.index, next);
        next += 1;
        if plain {
            let at = rec.offset as usize;
            assert_eq!(&data[at..at + rec.bytes.len()], &rec.bytes[..]);
        }
    }
});
