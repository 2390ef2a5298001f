//! Streaming reader of CloudTrail log files: `{"Records":[{…},{…}]}`.
//!
//! It never holds the file, only one record at a time: it scans the top-level object for the
//! `Records` key and yields each array element's exact bytes with its index and byte offset
//! (in the decompressed stream). Records are not parsed here — the mapper parses them anyway,
//! so parsing twice would only cost time. Other top-level keys are skipped.

use std::io::{self, BufRead};

use memchr::memchr2;

/// Records larger than this are refused (CloudTrail records are a few KB; the largest
/// documented are well under 1 MiB). Protects memory from a corrupt or hostile file.
pub const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// One record: its bytes, index in the `Records` array and byte offset in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Index in the `Records` array, from 0.
    pub index: u64,
    /// Offset of the record's first byte in the decompressed stream.
    pub offset: u64,
    /// The record's exact bytes.
    pub bytes: Vec<u8>,
}

/// Why a file could not be read to the end. Records already returned stay valid.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The stream is not a CloudTrail log (empty, not JSON, no `Records` array…).
    #[error("not a CloudTrail log file: {detail} (at byte {offset})")]
    NotCloudTrail {
        /// Offset where that became clear.
        offset: u64,
        /// What was found instead.
        detail: String,
    },
    /// The JSON breaks off or is malformed; `partial` holds the bytes of the record that was
    /// being read, if any.
    #[error("malformed CloudTrail log: {detail} (at byte {offset})")]
    Malformed {
        /// Offset of the problem.
        offset: u64,
        /// What is wrong.
        detail: String,
        /// The record being read when it happened, with its index and offset.
        partial: Option<LogRecord>,
    },
    /// Reading or decompressing failed (e.g. a corrupt gzip stream).
    #[error("cannot read the stream after byte {offset}: {source}")]
    Io {
        /// Decompressed bytes read before the failure.
        offset: u64,
        /// The I/O or decompression error.
        source: io::Error,
        /// The record being read when it happened.
        partial: Option<LogRecord>,
    },
}

impl LogError {
    /// The partial record being read when the error happened, if any.
    pub fn take_partial(&mut self) -> Option<LogRecord> {
        match self {
            LogError::Malformed { partial, .. } | LogError::Io { partial, .. } => partial.take(),
            LogError::NotCloudTrail { .. } => None,
        }
    }

    /// Byte offset of the error.
    pub fn offset(&self) -> u64 {
        match self {
            LogError::NotCloudTrail { offset, .. } | LogError::Malformed { offset, .. } | LogError::Io { offset, .. } => *offset,
        }
    }
}

enum State {
    Start,
    TopLevel { first: bool },
    InRecords { first: bool },
    Done,
}

/// Reads the records of one CloudTrail log stream, one at a time.
pub struct CloudTrailLogReader<R> {
    r: R,
    pos: u64,
    state: State,
    next_index: u64,
    saw_records: bool,
}

type Result<T> = std::result::Result<T, LogError>;

impl<R: BufRead> CloudTrailLogReader<R> {
    /// A reader over a decompressed stream (see [`super::compression::decompressed`]).
    pub fn new(r: R) -> Self {
        Self { r, pos: 0, state: State::Start, next_index: 0, saw_records: false }
    }

    /// Decompressed bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The next record, `Ok(None)` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<LogRecord>> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Start => {
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
                                return Err(self.not_ct("the top-level object has no \"Records\" array"));
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
                    if key == "Records" {
                        match self.skip_ws()? {
                            Some(b'[') => {
                                self.bump();
                                self.saw_records = true;
                                self.state = State::InRecords { first: true };
                            }
                            Some(c) => return Err(self.not_ct(&format!("\"Records\" is not an array (found {})", show(c)))),
                            None => return Err(self.eof_in("the Records key")),
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
                        None => return Err(self.eof_in("the Records array")),
                        Some(c) if !first => {
                            return Err(self.malformed(&format!("expected ',' or ']' between records, found {}", show(c)), None));
                        }
                        Some(_) => {}
                    }
                    if self.skip_ws()?.is_none() {
                        return Err(self.eof_in("the Records array"));
                    }
                    let offset = self.pos;
                    let index = self.next_index;
                    let mut bytes = Vec::with_capacity(2048);
                    match self.capture_value(&mut bytes, true) {
                        Ok(()) => {
                            self.next_index += 1;
                            self.state = State::InRecords { first: false };
                            return Ok(Some(LogRecord { index, offset, bytes }));
                        }
                        Err(mut e) => {
                            if !bytes.is_empty() {
                                let p = LogRecord { index, offset, bytes };
                                match &mut e {
                                    LogError::Malformed { partial, .. } | LogError::Io { partial, .. } => *partial = Some(p),
                                    LogError::NotCloudTrail { .. } => {}
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

    fn not_ct(&mut self, detail: &str) -> LogError {
        self.state = State::Done;
        LogError::NotCloudTrail { offset: self.pos, detail: detail.to_string() }
    }

    fn malformed(&mut self, detail: &str, partial: Option<LogRecord>) -> LogError {
        self.state = State::Done;
        LogError::Malformed { offset: self.pos, detail: detail.to_string(), partial }
    }

    fn eof_in(&mut self, what: &str) -> LogError {
        self.malformed(&format!("the file ends inside {what} (truncated?)"), None)
    }

    fn io(&mut self, e: io::Error) -> LogError {
        self.state = State::Done;
        LogError::Io { offset: self.pos, source: e, partial: None }
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

fn show(c: u8) -> String {
    if c.is_ascii_graphic() { format!("'{}'", c as char) } else { format!("byte 0x{c:02x}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8]) -> (Vec<LogRecord>, Option<LogError>) {
        let mut r = CloudTrailLogReader::new(input);
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
        let mut r = CloudTrailLogReader::new(r);
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
    fn truncated_record_is_returned_as_partial() {
        let (_, err) = read_all(br#"{"Records":[{"a":1},{"b":"tru"#);
        let mut err = err.unwrap();
        let p = err.take_partial().unwrap();
        assert_eq!((p.index, p.offset), (1, 20));
        assert_eq!(p.bytes, br#"{"b":"tru"#);
    }
}
