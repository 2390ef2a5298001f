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
}

type Result<T> = std::result::Result<T, FormatError>;

impl<R: BufRead> JsonRecordsReader<R> {
    /// A reader of the array under `key` of a decompressed stream (see
    /// [`super::compression::decompressed`]); `what` names the format in errors
    /// (`CloudTrail log file`).
    pub fn new(r: R, key: &'static str, what: &'static str) -> Self {
        Self { r, key, what, pos: 0, state: State::Start, next_index: 0, saw_records: false }
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
                        Some(b'{') => {
                            self.bump();
                            self.state = State::TopLevel { first: true };
                        }
                        Some(c) => {
                            return Err(self.not_ct(&format!("expected a JSON object, found {}", show(c))));
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
                            if let Some(c) = self.skip_ws()? {
                                return Err(self.malformed(&format!("{} after the top-level object", show(c)), None));
                            }
                            self.state = State::Done;
                            return Ok(None);
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
                                    FormatError::NotFormat { .. } => {}
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
    fn truncated_record_is_returned_as_partial() {
        let (_, err) = read_all(br#"{"Records":[{"a":1},{"b":"tru"#);
        let mut err = err.unwrap();
        let p = err.take_partial().unwrap();
        assert_eq!((p.index, p.offset), (1, 20));
        assert_eq!(p.bytes, br#"{"b":"tru"#);
    }
}
