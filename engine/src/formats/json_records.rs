//! Streaming reader of a JSON document whose records are the elements of one top-level array:
//! CloudTrail log files (`{"Records":[{…},{…}]}`), and the other AWS logs shaped like them.
//!
//! It never holds the file, only one record at a time: it scans the top-level object for the
//! records key and yields each array element's exact bytes with its index and byte offset
//! (in the decompressed stream). Records are not parsed here — the mapper parses them anyway,
//! so parsing twice would only cost time. Other top-level keys are skipped.

use std::io::{self, BufRead};

use memchr::memchr2;

use super::{FormatError, MAX_RECORD_BYTES, Record, RecordReader};

enum State {
    Start,
    TopLevel { first: bool },
    InRecords { first: bool },
    Done,
}

/// Reads the records of one stream, one at a time.
pub struct JsonRecordsReader<R> {
    r: R,
    key: &'static str,
    what: &'static str,
    pos: u64,
    state: State,
    next_index: u64,
    saw_records: bool,
    /// The records are the elements of a top-level array (`[{…},{…}]`), not under a key.
    top_array: bool,
    /// Stop after the top-level value instead of refusing what follows (see [`Self::into_inner`]).
    stop_at_end: bool,
}

type Result<T> = std::result::Result<T, FormatError>;

impl<R: BufRead> JsonRecordsReader<R> {
    /// A reader of the array under `key` of a decompressed stream (see
    /// [`super::compression::decompressed`]); `what` names the format in errors
    /// (`CloudTrail log file`).
    pub fn new(r: R, key: &'static str, what: &'static str) -> Self {
        Self { r, key, what, pos: 0, state: State::Start, next_index: 0, saw_records: false, top_array: false, stop_at_end: false }
    }

    /// A reader of a document that is itself an array of records (`[{…},{…}]`: console and
    /// CLI exports).
    pub fn array(r: R, what: &'static str) -> Self {
        Self { top_array: true, ..Self::new(r, "", what) }
    }

    /// A reader resuming a stream whose first `pos` bytes were read by someone else, up to and
    /// including the `[` that opens the array under `key` (a sniffer that has seen
    /// `{"Records":[`): the next record is the array's first element.
    pub fn resume_in_records(r: R, pos: u64, key: &'static str, what: &'static str) -> Self {
        Self { pos, state: State::InRecords { first: true }, saw_records: true, ..Self::new(r, key, what) }
    }

    /// A reader of a stream whose first byte is at offset `pos` of a longer one (the next of
    /// concatenated documents): offsets count from there.
    pub fn starting_at(mut self, pos: u64) -> Self {
        self.pos = pos;
        self
    }

    /// Ends at the end of the top-level value even when more follows (concatenated documents):
    /// `Ok(None)` there, and [`Self::into_inner`] hands back the stream positioned at the next
    /// non-white-space byte.
    pub fn stop_at_end(mut self) -> Self {
        self.stop_at_end = true;
        self
    }

    /// The stream and the number of decompressed bytes consumed from it.
    pub fn into_inner(self) -> (R, u64) {
        (self.r, self.pos)
    }

    /// A reader of a CloudTrail log file: the `Records` array.
    pub fn cloudtrail(r: R) -> Self {
        Self::new(r, "Records", "CloudTrail log file")
    }

    /// Decompressed bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The next record, `Ok(None)` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Start => {
                    // A UTF-8 byte order mark (editors on Windows add one) is not content.
                    if self.pos == 0 && self.fill()?.starts_with(b"\xEF\xBB\xBF") {
                        self.r.consume(3);
                        self.pos = 3;
                    }
                    match self.skip_ws()? {
                        None => return Err(self.not_ct("the file is empty")),
                        Some(b'{') if !self.top_array => {
                            self.bump();
                            self.state = State::TopLevel { first: true };
                        }
                        Some(b'[') if self.top_array => {
                            self.bump();
                            self.saw_records = true;
                            self.state = State::InRecords { first: true };
                        }
                        Some(c) => {
                            let want = if self.top_array { "array" } else { "object" };
                            return Err(self.not_ct(&format!("expected a JSON {want}, found {}", show(c))));
                        }
                    }
                }
                State::TopLevel { first } => {
                    match self.skip_ws()? {
                        Some(b'}') => {
                            self.bump();
                            if !self.saw_records {
                                let detail = format!("the top-level object has no {:?} array", self.key);
                                return Err(self.not_ct(&detail));
                            }
                            return self.end_of_document("object");
                        }
                        Some(b',') if !first => {
                            self.bump();
                            self.skip_ws()?;
                        }
                        None => return Err(self.eof_in("the top-level object")),
                        Some(c) if !first => {
                            return Err(self.malformed(&format!("expected ',' or '}}', found {}", show(c)), None));
                        }
                        Some(_) => {}
                    }
                    let key = self.read_key()?;
                    if key == self.key {
                        match self.skip_ws()? {
                            Some(b'[') => {
                                self.bump();
                                self.saw_records = true;
                                self.state = State::InRecords { first: true };
                            }
                            Some(c) => {
                                let detail = format!("{:?} is not an array (found {})", self.key, show(c));
                                return Err(self.not_ct(&detail));
                            }
                            None => return Err(self.eof_in("the records key")),
                        }
                    } else {
                        // Some other key (digest files have logFiles, …): skip its value.
                        let mut sink = Vec::new();
                        self.capture_value(&mut sink, false)?;
                        self.state = State::TopLevel { first: false };
                    }
                }
                State::InRecords { first } => {
                    match self.skip_ws()? {
                        Some(b']') => {
                            self.bump();
                            if self.top_array {
                                return self.end_of_document("array");
                            }
                            self.state = State::TopLevel { first: false };
                            continue;
                        }
                        Some(b',') if !first => {
                            self.bump();
                        }
                        None => return Err(self.eof_in("the records array")),
                        Some(c) if !first => {
                            return Err(self.malformed(&format!("expected ',' or ']' between records, found {}", show(c)), None));
                        }
                        Some(_) => {}
                    }
                    if self.skip_ws()?.is_none() {
                        return Err(self.eof_in("the records array"));
                    }
                    let offset = self.pos;
                    let index = self.next_index;
                    let mut bytes = Vec::with_capacity(2048);
                    match self.capture_value(&mut bytes, true) {
                        Ok(()) => {
                            self.next_index += 1;
                            self.state = State::InRecords { first: false };
                            return Ok(Some(Record { index, offset, bytes }));
                        }
                        Err(mut e) => {
                            if !bytes.is_empty() {
                                let p = Record { index, offset, bytes };
                                match &mut e {
                                    FormatError::Malformed { partial, .. } | FormatError::Io { partial, .. } => *partial = Some(p),
                                    FormatError::NotFormat { .. } | FormatError::BadRecord { .. } => {}
                                }
                            }
                            self.state = State::Done;
                            return Err(e);
                        }
                    }
                }
            }
        }
    }

    /// After the top-level value: nothing but white space may follow (unless `stop_at_end`).
    fn end_of_document(&mut self, value: &str) -> Result<Option<Record>> {
        if let Some(c) = self.skip_ws()? {
            if !self.stop_at_end {
                return Err(self.malformed(&format!("{} after the top-level {value}", show(c)), None));
            }
        }
        self.state = State::Done;
        Ok(None)
    }

    fn not_ct(&mut self, detail: &str) -> FormatError {
        self.state = State::Done;
        FormatError::NotFormat { what: self.what, offset: self.pos, detail: detail.to_string() }
    }

    fn malformed(&mut self, detail: &str, partial: Option<Record>) -> FormatError {
        self.state = State::Done;
        FormatError::Malformed { what: self.what, offset: self.pos, detail: detail.to_string(), partial }
    }

    fn eof_in(&mut self, what: &str) -> FormatError {
        self.malformed(&format!("the file ends inside {what} (truncated?)"), None)
    }

    fn io(&mut self, e: io::Error) -> FormatError {
        self.state = State::Done;
        FormatError::Io { offset: self.pos, source: e, partial: None }
    }

    fn fill(&mut self) -> Result<&[u8]> {
        loop {
            match self.r.fill_buf() {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io(e)),
            }
        }
        Ok(self.r.fill_buf().expect("filled above"))
    }

    fn bump(&mut self) {
        self.r.consume(1);
        self.pos += 1;
    }

    /// Skips whitespace and returns the next byte without consuming it.
    fn skip_ws(&mut self) -> Result<Option<u8>> {
        loop {
            let buf = self.fill()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let n = buf.iter().take_while(|c| matches!(c, b' ' | b'\n' | b'\r' | b'\t')).count();
            let next = buf.get(n).copied();
            self.r.consume(n);
            self.pos += n as u64;
            if next.is_some() {
                return Ok(next);
            }
        }
    }

    /// Reads `"key"` and the `:` after it.
    fn read_key(&mut self) -> Result<String> {
        match self.skip_ws()? {
            Some(b'"') => {}
            Some(c) => return Err(self.malformed(&format!("expected a key, found {}", show(c)), None)),
            None => return Err(self.eof_in("the top-level object")),
        }
        let mut raw = Vec::new();
        self.capture_value(&mut raw, false)?;
        let key: String = serde_json::from_slice(&raw).map_err(|e| self.malformed(&format!("bad key: {e}"), None))?;
        match self.skip_ws()? {
            Some(b':') => {
                self.bump();
                self.skip_ws()?;
                Ok(key)
            }
            Some(c) => Err(self.malformed(&format!("expected ':' after key {key:?}, found {}", show(c)), None)),
            None => Err(self.eof_in("the top-level object")),
        }
    }

    /// Copies one JSON value (object, array, string or scalar) into `out`, tracking strings and
    /// nesting only — enough to find where it ends. Validation is the mapper's job.
    fn capture_value(&mut self, out: &mut Vec<u8>, is_record: bool) -> Result<()> {
        let mut depth: u32 = 0;
        let mut in_str = false;
        let mut esc = false;
        let mut started = false;
        loop {
            let buf = match self.fill() {
                Ok(b) => b,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                let what = if is_record { "a record" } else { "a value" };
                return Err(self.eof_in(what));
            }
            let mut i = 0;
            let mut done = false;
            while i < buf.len() {
                if in_str {
                    if esc {
                        esc = false;
                        i += 1;
                        continue;
                    }
                    match memchr2(b'"', b'\\', &buf[i..]) {
                        None => {
                            i = buf.len();
                            break;
                        }
                        Some(j) => {
                            i += j;
                            if buf[i] == b'\\' {
                                esc = true;
                            } else {
                                in_str = false;
                                if depth == 0 {
                                    i += 1;
                                    done = true;
                                    break;
                                }
                            }
                            i += 1;
                            continue;
                        }
                    }
                }
                let c = buf[i];
                match c {
                    b'"' => in_str = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        if depth == 0 {
                            // The end of an enclosing container: a scalar value ended before it.
                            done = true;
                            break;
                        }
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            done = true;
                            break;
                        }
                    }
                    b',' | b' ' | b'\n' | b'\r' | b'\t' if depth == 0 && started => {
                        done = true;
                        break;
                    }
                    _ => {}
                }
                started = true;
                i += 1;
            }
            out.extend_from_slice(&buf[..i]);
            self.r.consume(i);
            self.pos += i as u64;
            if done {
                return Ok(());
            }
            if out.len() > MAX_RECORD_BYTES {
                return Err(self.malformed(&format!("a value is larger than {MAX_RECORD_BYTES} bytes"), None));
            }
        }
    }
}

impl<R: BufRead> RecordReader for JsonRecordsReader<R> {
    fn next_record(&mut self) -> Result<Option<Record>> {
        JsonRecordsReader::next_record(self)
    }
}

fn show(c: u8) -> String {
    if c.is_ascii_graphic() { format!("'{}'", c as char) } else { format!("byte 0x{c:02x}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8]) -> (Vec<Record>, Option<FormatError>) {
        let mut r = JsonRecordsReader::cloudtrail(input);
        let mut out = Vec::new();
        loop {
            match r.next_record() {
                Ok(Some(rec)) => out.push(rec),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn yields_each_record_with_offset() {
        let input = br#"{"Records": [{"a":1,"s":"x}]\"{"}, {"b":[2,{"c":3}]} ]}"#;
        let (recs, err) = read_all(input);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].bytes, br#"{"a":1,"s":"x}]\"{"}"#);
        assert_eq!(&input[recs[0].offset as usize..][..recs[0].bytes.len()], &recs[0].bytes[..]);
        assert_eq!(recs[1].bytes, br#"{"b":[2,{"c":3}]}"#);
        assert_eq!((recs[1].index, recs[1].offset), (1, 35));
    }

    #[test]
    fn skips_other_keys_and_accepts_empty_records() {
        let (recs, err) = read_all(br#"{"digest": {"x": [1,2]}, "n": 5, "Records": [], "s": "}"}"#);
        assert!(recs.is_empty());
        assert!(err.is_none(), "{err:?}");
    }

    #[test]
    fn reads_through_small_buffers() {
        let input: &[u8] = br#"{"Records":[{"k":"v\\"},{"k":"w"}]}"#;
        let r = std::io::BufReader::with_capacity(1, input);
        let mut r = JsonRecordsReader::cloudtrail(r);
        let mut n = 0;
        while let Some(rec) = r.next_record().unwrap() {
            serde_json::from_slice::<serde_json::Value>(&rec.bytes).unwrap();
            n += 1;
        }
        assert_eq!(n, 2);
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let cases: &[(&[u8], &str, usize)] = &[
            (b"", "the file is empty", 0),
            (b"   \n", "the file is empty", 0),
            (b"[1,2]", "expected a JSON object", 0),
            (br#"{"digestStartTime":"x","logFiles":[]}"#, "no \"Records\" array", 0),
            (br#"{"Records":{"a":1}}"#, "\"Records\" is not an array", 0),
            (br#"{"Records":[{"a":1},{"b":2"#, "ends inside a record", 1),
            (br#"{"Records":[{"a":1} {"b":2}]}"#, "expected ',' or ']'", 1),
            (br#"{"Records":[{"a":1}]} x"#, "after the top-level object", 1),
        ];
        for (input, want, n_ok) in cases {
            let (recs, err) = read_all(input);
            let err = err.unwrap_or_else(|| panic!("no error for {:?}", String::from_utf8_lossy(input)));
            assert!(err.to_string().contains(want), "{err} should contain {want}");
            assert_eq!(recs.len(), *n_ok, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn a_byte_order_mark_at_the_start_is_skipped() {
        let (recs, err) = read_all(b"\xEF\xBB\xBF{\"Records\":[{\"a\":1}]}");
        assert!(err.is_none(), "{err:?}");
        assert_eq!((recs.len(), recs[0].offset), (1, 15));
    }

    #[test]
    fn the_records_key_is_a_parameter() {
        let mut r = JsonRecordsReader::new(&br#"{"Records":[1],"findings":[{"id":"a"},{"id":"b"}]}"#[..], "findings", "findings export");
        assert_eq!(r.next_record().unwrap().unwrap().bytes, br#"{"id":"a"}"#);
        assert_eq!(r.next_record().unwrap().unwrap().index, 1);
        assert!(r.next_record().unwrap().is_none());
        let e = JsonRecordsReader::new(&br#"{"Records":[]}"#[..], "findings", "findings export").next_record().unwrap_err();
        assert_eq!(e.to_string(), "not a findings export: the top-level object has no \"findings\" array (at byte 14)");
    }

    #[test]
    fn a_top_level_array_resuming_and_stopping_at_the_end() {
        let mut r = JsonRecordsReader::array(&b" [ {\"a\":1} , {\"b\":2} ] \n"[..], "export");
        assert_eq!(r.next_record().unwrap().unwrap(), Record { index: 0, offset: 3, bytes: b"{\"a\":1}".to_vec() });
        assert_eq!(r.next_record().unwrap().unwrap().offset, 13);
        assert!(r.next_record().unwrap().is_none());
        let e = JsonRecordsReader::array(&b"{\"Records\":[]}"[..], "export").next_record().unwrap_err();
        assert!(e.to_string().contains("expected a JSON array, found '{'"), "{e}");
        let e = JsonRecordsReader::array(&b"[1] 2"[..], "export");
        let mut e = e;
        e.next_record().unwrap();
        assert!(e.next_record().unwrap_err().to_string().contains("'2' after the top-level array"));
        // Resumed after `{"Records":[`, read by someone else: same offsets as from the start.
        let input = br#"{"Records":[{"a":1},{"b":2}]}"#;
        let mut r = JsonRecordsReader::resume_in_records(&input[12..], 12, "Records", "CloudTrail log file");
        assert_eq!(r.next_record().unwrap().unwrap(), Record { index: 0, offset: 12, bytes: b"{\"a\":1}".to_vec() });
        assert_eq!(r.next_record().unwrap().unwrap().offset, 20);
        assert!(r.next_record().unwrap().is_none());
        // Stopping at the end of the first of two documents hands the rest back.
        let input = &b"{\"k\":[1]}  {\"k\":[2]}"[..];
        let mut r = JsonRecordsReader::new(input, "k", "doc").stop_at_end();
        assert_eq!(r.next_record().unwrap().unwrap().bytes, b"1");
        assert!(r.next_record().unwrap().is_none());
        let (rest, pos) = r.into_inner();
        assert_eq!((rest, pos), (&b"{\"k\":[2]}"[..], 11));
        let mut r = JsonRecordsReader::new(rest, "k", "doc").starting_at(pos);
        assert_eq!(r.next_record().unwrap().unwrap().offset, 17);
    }

    #[test]
    fn truncated_record_is_returned_as_partial() {
        let (_, err) = read_all(br#"{"Records":[{"a":1},{"b":"tru"#);
        let mut err = err.unwrap();
        let p = err.take_partial().unwrap();
        assert_eq!((p.index, p.offset), (1, 20));
        assert_eq!(p.bytes, br#"{"b":"tru"#);
    }
}
