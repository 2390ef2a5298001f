//! CloudTrail events in every container users hand over, sniffed once from the first bytes and
//! keys of the stream, then streamed by the reader for that container:
//!
//! | container | how it is recognized | records | read by |
//! |---|---|---|---|
//! | log file `{"Records":[…]}` (as CloudTrail delivers it, Insights files too) | a top-level key `Records` | the array's elements | [`JsonRecordsReader`] |
//! | bare array `[{…},…]` (console and CLI exports) | `[`, and the first element has `eventVersion` and `eventTime` (or the array is empty) | the elements | [`JsonRecordsReader::array`] |
//! | one event | an object with `eventVersion` and `eventTime`, nothing after it | the document | [`JsonDocumentReader`] |
//! | NDJSON / JSON Lines | such an object on one line, then another object | each line (a line that is not JSON is refused alone) | [`NdjsonReader`] |
//! | CloudWatch Logs subscription message | a top-level key `messageType` (`DATA_MESSAGE`; `CONTROL_MESSAGE` holds no events) or `logEvents` | each `logEvents[].message`, decoded; its offset is the log event's | [`JsonRecordsReader`] on `logEvents` |
//!
//! Messages delivered through Firehose are concatenated (`{…}{…}`, often one gzip member
//! each): each is sniffed in turn. Anything else — a digest file, an object that is no event,
//! an array of something else — is refused with a [`FormatError`] naming the offset.
//!
//! The log-file path costs nothing: when the first buffer of the stream starts with
//! `{"Records":[`, those bytes are consumed and [`JsonRecordsReader`] takes over the stream
//! itself. Other containers are sniffed into a buffer (at most one record's worth,
//! [`MAX_RECORD_BYTES`]) that is replayed in front of the rest of the stream.

use std::io::{self, BufRead, Cursor, Read};

use serde::de::{DeserializeOwned, IgnoredAny};

use super::{FormatError, MAX_RECORD_BYTES, Record, RecordReader, json_document::JsonDocumentReader, json_records::JsonRecordsReader, ndjson::NdjsonReader};

/// The format's name in errors.
pub const WHAT: &str = "CloudTrail log file";
/// The envelope's name in errors.
const CWL: &str = "CloudWatch Logs message";
/// A CloudWatch Logs subscription's health check, where a `CONTROL_MESSAGE`'s log events say it.
const CONTROL_TEXT: &str = "CWL CONTROL MESSAGE";
/// The most a sniff reads ahead: one record, and some.
const MAX_SNIFF: usize = MAX_RECORD_BYTES + 64 * 1024;
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The container a stream turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// `{"Records":[…]}`: a log file as CloudTrail delivers it.
    Records,
    /// `[{…},{…}]`: a bare array of events.
    Array,
    /// The whole document is one event.
    Event,
    /// One event per line.
    Lines,
    /// CloudWatch Logs subscription messages.
    CloudWatchLogs,
}

type Replay<R> = io::Chain<Cursor<Vec<u8>>, R>;

enum Mode<R> {
    Start(R),
    /// The log file, read straight from the stream.
    Records(JsonRecordsReader<R>),
    /// A log file, or something the log-file reader refuses best; `amend` adds to a refusal
    /// that the stream is no event either.
    Replayed { inner: JsonRecordsReader<Replay<R>>, amend: bool },
    Array(JsonRecordsReader<Replay<R>>),
    Event(JsonDocumentReader<Replay<R>>),
    Lines(NdjsonReader<Replay<R>>),
    /// `control`: a `CONTROL_MESSAGE`, whose log events are not events.
    Envelope { inner: JsonRecordsReader<Replay<R>>, control: bool },
    Done,
}

/// Reads the CloudTrail events of one decompressed stream (see
/// [`super::compression::decompressed`]), whatever its container.
pub struct CloudTrailReader<R> {
    mode: Mode<R>,
    container: Option<Container>,
    /// Index of the next envelope record (the other containers' readers count their own).
    next_index: u64,
}

impl<R: BufRead> CloudTrailReader<R> {
    /// A reader of a decompressed stream; nothing is read until the first record is asked for.
    pub fn new(r: R) -> Self {
        Self { mode: Mode::Start(r), container: None, next_index: 0 }
    }

    /// The container, once the first record was asked for (None if it is none of them).
    pub fn container(&self) -> Option<Container> {
        self.container
    }

    /// The next record, `Ok(None)` at the end.
    pub fn next_record(&mut self) -> Result<Option<Record>, FormatError> {
        loop {
            match &mut self.mode {
                Mode::Records(r) => return r.next_record(),
                Mode::Replayed { inner, amend } => {
                    let amend = *amend;
                    return inner.next_record().map_err(|e| if amend { not_an_event(e) } else { e });
                }
                Mode::Array(r) => return r.next_record(),
                Mode::Event(r) => return r.next_record(),
                Mode::Lines(r) => return r.next_record()?.map(checked_line).transpose(),
                Mode::Envelope { inner, control } => {
                    let control = *control;
                    match inner.next_record() {
                        Ok(Some(ev)) => {
                            if let Some(rec) = self.log_event(ev, control)? {
                                return Ok(Some(rec));
                            }
                        }
                        Ok(None) => self.next_envelope()?,
                        Err(e) => {
                            self.mode = Mode::Done;
                            return Err(e);
                        }
                    }
                }
                Mode::Start(_) => {
                    let Mode::Start(r) = std::mem::replace(&mut self.mode, Mode::Done) else { unreachable!() };
                    self.mode = self.sniff(r)?;
                }
                Mode::Done => return Ok(None),
            }
        }
    }

    /// Sniffs the container and makes its reader.
    fn sniff(&mut self, mut r: R) -> Result<Mode<R>, FormatError> {
        if let Some(pos) = records_prefix(&mut r)? {
            self.container = Some(Container::Records);
            return Ok(Mode::Records(JsonRecordsReader::resume_in_records(r, pos, "Records", WHAT)));
        }
        let mut s = Sniffer { r, buf: Vec::new(), base: 0, eof: false };
        let found = s.sniff()?;
        let (container, mode) = match found {
            Sniffed::Records => (Some(Container::Records), Mode::Replayed { inner: JsonRecordsReader::cloudtrail(s.replay()), amend: false }),
            Sniffed::Fallback => (None, Mode::Replayed { inner: JsonRecordsReader::cloudtrail(s.replay()), amend: false }),
            Sniffed::NoEvent => (None, Mode::Replayed { inner: JsonRecordsReader::cloudtrail(s.replay()), amend: true }),
            Sniffed::Array => (Some(Container::Array), Mode::Array(JsonRecordsReader::array(s.replay(), WHAT))),
            Sniffed::Event => (Some(Container::Event), Mode::Event(JsonDocumentReader::new(s.replay(), WHAT))),
            Sniffed::Lines => (Some(Container::Lines), Mode::Lines(NdjsonReader::new(s.replay(), WHAT))),
            Sniffed::Envelope { control } => (Some(Container::CloudWatchLogs), s.envelope(control)),
            Sniffed::Refused(e) => return Err(e),
        };
        self.container = container;
        Ok(mode)
    }

    /// At the end of one CloudWatch Logs message: the next one, if another follows.
    fn next_envelope(&mut self) -> Result<(), FormatError> {
        let Mode::Envelope { inner, .. } = std::mem::replace(&mut self.mode, Mode::Done) else { unreachable!() };
        let (chain, pos) = inner.into_inner();
        let (cursor, r) = chain.into_inner();
        let used = cursor.position() as usize;
        let mut buf = cursor.into_inner();
        buf.drain(..used.min(buf.len()));
        let mut s = Sniffer { r, buf, base: pos, eof: false };
        let at = s.ws(0)?;
        match s.byte(at)? {
            None => Ok(()),
            Some(b'{') => match s.object(at)? {
                Sniffed::Envelope { control } => {
                    self.mode = s.envelope(control);
                    Ok(())
                }
                Sniffed::Refused(e) => Err(e),
                _ => Err(FormatError::Malformed { what: CWL, offset: pos + at as u64, detail: "after the CloudWatch Logs message comes a JSON object that is not one".into(), partial: None }),
            },
            Some(c) => Err(FormatError::Malformed { what: CWL, offset: pos + at as u64, detail: format!("{} after the CloudWatch Logs message", show(c)), partial: None }),
        }
    }

    /// One `logEvents` entry: its message is the record (None for a health check).
    fn log_event(&mut self, ev: Record, control: bool) -> Result<Option<Record>, FormatError> {
        if control {
            return Ok(None);
        }
        #[derive(serde::Deserialize)]
        struct LogEvent {
            message: String,
        }
        let index = self.next_index;
        match serde_json::from_slice::<LogEvent>(&ev.bytes) {
            Ok(m) if m.message.starts_with(CONTROL_TEXT) => Ok(None),
            Ok(m) => {
                self.next_index += 1;
                Ok(Some(Record { index, offset: ev.offset, bytes: m.message.into_bytes() }))
            }
            Err(e) => {
                self.next_index += 1;
                let detail = format!("a logEvents entry is not an object with a string message ({})", json_error(&e));
                Err(FormatError::BadRecord { what: CWL, offset: ev.offset, detail, record: Some(Record { index, ..ev }) })
            }
        }
    }
}

impl<R: BufRead> RecordReader for CloudTrailReader<R> {
    fn next_record(&mut self) -> Result<Option<Record>, FormatError> {
        CloudTrailReader::next_record(self)
    }
}

/// The hot path: whether the stream's first buffer starts with `{"Records":[` (after a byte
/// order mark and white space); if so those bytes are consumed and their count returned.
fn records_prefix<R: BufRead>(r: &mut R) -> Result<Option<u64>, FormatError> {
    loop {
        match r.fill_buf() {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FormatError::Io { offset: 0, source: e, partial: None }),
        }
    }
    let head = r.fill_buf().expect("filled above");
    let ws = |mut i: usize| {
        while matches!(head.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            i += 1;
        }
        i
    };
    let mut i = ws(if head.starts_with(BOM) { 3 } else { 0 });
    for token in [&b"{"[..], b"\"Records\"", b":", b"["] {
        if !head[i..].starts_with(token) {
            return Ok(None);
        }
        i = ws(i + token.len());
    }
    // `i` is past the white space after `[`: the first record's first byte.
    r.consume(i);
    Ok(Some(i as u64))
}

/// What the first bytes and keys said.
enum Sniffed {
    Records,
    Array,
    Event,
    Lines,
    Envelope { control: bool },
    /// A complete object that holds no records, no event and no message.
    NoEvent,
    /// Not JSON, empty, cut off, too large to sniff: the log-file reader says what it is.
    Fallback,
    Refused(FormatError),
}

/// Reads ahead into `buf` (all of it replayed afterwards) to find out what a stream is.
struct Sniffer<R> {
    r: R,
    buf: Vec<u8>,
    /// Offset of `buf[0]` in the stream.
    base: u64,
    eof: bool,
}

impl<R: BufRead> Sniffer<R> {
    fn sniff(&mut self) -> Result<Sniffed, FormatError> {
        self.byte(2)?;
        let start = self.ws(if self.buf.starts_with(BOM) { 3 } else { 0 })?;
        match self.byte(start)? {
            Some(b'{') => self.object(start),
            Some(b'[') => self.array(start),
            _ => Ok(Sniffed::Fallback),
        }
    }

    /// The object at `start`: its keys decide.
    fn object(&mut self, start: usize) -> Result<Sniffed, FormatError> {
        let (mut version, mut time) = (false, false);
        let mut i = start + 1;
        let mut first = true;
        loop {
            i = self.ws(i)?;
            match self.byte(i)? {
                Some(b'}') => break,
                Some(b',') if !first => i = self.ws(i + 1)?,
                Some(_) if first => {}
                _ => return Ok(Sniffed::Fallback),
            }
            first = false;
            let Some((key, end)) = self.value::<String>(i)? else { return Ok(Sniffed::Fallback) };
            i = self.ws(end)?;
            if self.byte(i)? != Some(b':') {
                return Ok(Sniffed::Fallback);
            }
            i = self.ws(i + 1)?;
            match key.as_str() {
                "Records" => return Ok(Sniffed::Records),
                "logEvents" => return Ok(Sniffed::Envelope { control: false }),
                "messageType" => {
                    let Some((t, _)) = self.value::<String>(i)? else { return Ok(Sniffed::Fallback) };
                    return Ok(match t.as_str() {
                        "DATA_MESSAGE" => Sniffed::Envelope { control: false },
                        "CONTROL_MESSAGE" => Sniffed::Envelope { control: true },
                        _ => Sniffed::Refused(FormatError::NotFormat {
                            what: CWL,
                            offset: self.base + i as u64,
                            detail: format!("messageType {t:?} is neither DATA_MESSAGE nor CONTROL_MESSAGE"),
                        }),
                    });
                }
                k => {
                    version |= k == "eventVersion";
                    time |= k == "eventTime";
                    let Some((_, end)) = self.value::<IgnoredAny>(i)? else { return Ok(Sniffed::Fallback) };
                    i = end;
                }
            }
        }
        let end = i + 1;
        if !(version && time) {
            return Ok(Sniffed::NoEvent);
        }
        let next = self.ws(end)?;
        Ok(match self.byte(next)? {
            None if self.eof => Sniffed::Event,
            None => Sniffed::Fallback,
            Some(b'{') if !self.buf[start..end].contains(&b'\n') => Sniffed::Lines,
            Some(b'{') => Sniffed::Refused(FormatError::NotFormat {
                what: WHAT,
                offset: self.base + next as u64,
                detail: "a CloudTrail event, then another JSON document: several events must be one per line (NDJSON), in a JSON array or under \"Records\"".into(),
            }),
            Some(c) => Sniffed::Refused(FormatError::Malformed { what: WHAT, offset: self.base + next as u64, detail: format!("{} after the event", show(c)), partial: None }),
        })
    }

    /// The array at `start`: its first element decides.
    fn array(&mut self, start: usize) -> Result<Sniffed, FormatError> {
        let i = self.ws(start + 1)?;
        if self.byte(i)? == Some(b']') {
            return Ok(Sniffed::Array);
        }
        // A first element that cannot be parsed is left to the array reader to report.
        let Some((first, _)) = self.value::<serde_json::Value>(i)? else { return Ok(Sniffed::Array) };
        if first.get("eventVersion").is_some() && first.get("eventTime").is_some() {
            return Ok(Sniffed::Array);
        }
        Ok(Sniffed::Refused(FormatError::NotFormat {
            what: WHAT,
            offset: self.base + i as u64,
            detail: "a JSON array whose first element is not a CloudTrail event (no eventVersion and eventTime)".into(),
        }))
    }

    /// The stream again from `base`: the bytes read ahead, then the rest.
    fn replay(self) -> Replay<R> {
        Cursor::new(self.buf).chain(self.r)
    }

    fn envelope(self, control: bool) -> Mode<R> {
        let base = self.base;
        Mode::Envelope { inner: JsonRecordsReader::new(self.replay(), "logEvents", CWL).starting_at(base).stop_at_end(), control }
    }

    /// Reads more into `buf` (at least one buffer, doubling what is held); false at the end
    /// of the stream or of what a sniff may hold.
    fn more(&mut self) -> Result<bool, FormatError> {
        if self.eof || self.buf.len() >= MAX_SNIFF {
            return Ok(false);
        }
        let before = self.buf.len();
        let target = (before * 2).clamp(before + 1, MAX_SNIFF);
        while self.buf.len() < target {
            let chunk = loop {
                match self.r.fill_buf() {
                    Ok(_) => break self.r.fill_buf().expect("filled above"),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(FormatError::Io { offset: self.base + self.buf.len() as u64, source: e, partial: None }),
                }
            };
            if chunk.is_empty() {
                self.eof = true;
                break;
            }
            let n = chunk.len();
            self.buf.extend_from_slice(chunk);
            self.r.consume(n);
        }
        Ok(self.buf.len() > before)
    }

    /// The byte at `i`, reading ahead as needed; None past the end.
    fn byte(&mut self, i: usize) -> Result<Option<u8>, FormatError> {
        while i >= self.buf.len() {
            if !self.more()? {
                return Ok(None);
            }
        }
        Ok(Some(self.buf[i]))
    }

    /// The first index at or after `i` that is not JSON white space.
    fn ws(&mut self, mut i: usize) -> Result<usize, FormatError> {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.byte(i)? {
            i += 1;
        }
        Ok(i)
    }

    /// The JSON value at `i` and the index after it; None if it is not a `T`, not JSON, cut
    /// off, or larger than a sniff holds.
    fn value<T: DeserializeOwned>(&mut self, i: usize) -> Result<Option<(T, usize)>, FormatError> {
        loop {
            let complete = self.eof;
            let mut values = serde_json::Deserializer::from_slice(self.buf.get(i..).unwrap_or_default()).into_iter::<T>();
            match values.next() {
                // A value that ends where the buffer does may go on (a number) unless the stream ends there.
                Some(Ok(v)) if complete || i + values.byte_offset() < self.buf.len() => return Ok(Some((v, i + values.byte_offset()))),
                Some(Ok(_)) => {}
                Some(Err(e)) if e.is_eof() && !complete => {}
                _ => return Ok(None),
            }
            if !self.more()? && !self.eof {
                return Ok(None);
            }
        }
    }
}

/// An NDJSON line must be JSON; one that is not is refused alone.
fn checked_line(rec: Record) -> Result<Record, FormatError> {
    match serde_json::from_slice::<IgnoredAny>(&rec.bytes) {
        Ok(_) => Ok(rec),
        Err(e) => Err(FormatError::BadRecord { what: WHAT, offset: rec.offset, detail: format!("the line is not JSON ({})", json_error(&e)), record: Some(rec) }),
    }
}

/// A refusal of an object that is not a log file, amended: it is no event or message either.
fn not_an_event(e: FormatError) -> FormatError {
    match e {
        FormatError::NotFormat { what, offset, detail } => FormatError::NotFormat {
            what,
            offset,
            detail: format!("{detail}, and it is not a CloudTrail event (eventVersion and eventTime) or a CloudWatch Logs message (messageType) either"),
        },
        e => e,
    }
}

/// A serde_json error without its line (every record is one line here), with its column.
fn json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => format!("{}, at column {} of it", &text[..at], e.column()),
        None => text,
    }
}

fn show(c: u8) -> String {
    if c.is_ascii_graphic() { format!("'{}'", c as char) } else { format!("byte 0x{c:02x}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::compression::decompressed;

    fn event(id: &str) -> String {
        format!(r#"{{"eventVersion":"1.09","userIdentity":{{"type":"IAMUser","userName":"a"}},"eventTime":"2024-10-08T16:15:32Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","eventID":"{id}"}}"#)
    }

    fn read_all(r: impl BufRead) -> (Option<Container>, Vec<Record>, Option<FormatError>) {
        let mut r = CloudTrailReader::new(r);
        let mut out = Vec::new();
        loop {
            match r.next_record() {
                Ok(Some(rec)) => out.push(rec),
                Ok(None) => return (r.container(), out, None),
                Err(e) => return (r.container(), out, Some(e)),
            }
        }
    }

    fn read(input: &[u8]) -> (Option<Container>, Vec<Record>, Option<FormatError>) {
        read_all(input)
    }

    /// (index, offset, text) of each record.
    fn rows(recs: &[Record]) -> Vec<(u64, u64, String)> {
        recs.iter().map(|r| (r.index, r.offset, String::from_utf8(r.bytes.clone()).unwrap())).collect()
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn a_log_file_is_read_by_the_records_reader_on_the_stream_itself() {
        let input = format!("{{\"Records\": [ {}, {} ]}}", event("a"), event("b"));
        let (container, recs, err) = read(input.as_bytes());
        assert!(err.is_none(), "{err:?}");
        assert_eq!(container, Some(Container::Records));
        let mut plain = JsonRecordsReader::cloudtrail(input.as_bytes());
        let mut want = Vec::new();
        while let Some(r) = plain.next_record().unwrap() {
            want.push(r);
        }
        assert_eq!(recs, want, "same records, indexes and offsets as the log-file reader");
        // The hot path holds no replay buffer: the reader is the log-file reader on the stream.
        let mut r = CloudTrailReader::new(input.as_bytes());
        r.next_record().unwrap();
        assert!(matches!(r.mode, Mode::Records(_)));
        // Through a 1-byte buffer (no `{"Records":[` in the first buffer) it is sniffed and replayed: same records.
        let (container, recs, err) = read_all(io::BufReader::with_capacity(1, input.as_bytes()));
        assert!(err.is_none(), "{err:?}");
        assert_eq!((container, recs), (Some(Container::Records), want.clone()));
        // Another key first (as a digest has), and a byte order mark.
        let input = format!("\u{feff}{{\"note\": {{\"x\": [1]}}, \"Records\":[{}]}}", event("c"));
        let (container, recs, err) = read(input.as_bytes());
        assert!(err.is_none(), "{err:?}");
        assert_eq!(container, Some(Container::Records));
        assert_eq!(rows(&recs), [(0, input.find("{\"eventVersion").unwrap() as u64, event("c"))]);
    }

    #[test]
    fn a_single_event_document_is_one_record() {
        let pretty = serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&event("one")).unwrap()).unwrap();
        let input = format!("\u{feff}\n{pretty}\n\n");
        let (container, recs, err) = read(input.as_bytes());
        assert!(err.is_none(), "{err:?}");
        assert_eq!(container, Some(Container::Event));
        assert_eq!(rows(&recs), [(0, 4, pretty)]);
        // An Insights event is an event too (no eventName, no userIdentity).
        let insight = r#"{"eventVersion":"1.08","eventTime":"2024-10-08T16:00:00Z","awsRegion":"us-east-1","eventID":"x","eventType":"AwsCloudTrailInsight","eventCategory":"Insight","insightDetails":{"state":"Start"}}"#;
        let (container, recs, err) = read(insight.as_bytes());
        assert!(err.is_none(), "{err:?}");
        assert_eq!((container, recs.len()), (Some(Container::Event), 1));
    }

    #[test]
    fn ndjson_is_one_record_per_line_and_a_broken_line_is_refused_alone() {
        let input = format!("{}\r\n\n{}\n{{\"eventVersion\":\"1.09\",\"eventTi\n{}", event("1"), event("2"), event("4"));
        let mut r = CloudTrailReader::new(input.as_bytes());
        let a = r.next_record().unwrap().unwrap();
        assert_eq!(r.container(), Some(Container::Lines));
        let b = r.next_record().unwrap().unwrap();
        assert_eq!(rows(&[a, b]), [(0, 0, event("1")), (1, event("1").len() as u64 + 3, event("2"))]);
        let broken_at = input.find("{\"eventVersion\":\"1.09\",\"eventTi\n").unwrap() as u64;
        let mut e = r.next_record().unwrap_err();
        assert!(e.is_bad_record());
        assert_eq!(e.offset(), broken_at, "{e}");
        assert!(e.to_string().contains("the line is not JSON (EOF while parsing"), "{e}");
        assert!(e.to_string().ends_with(&format!("(at byte {broken_at})")), "{e}");
        let bad = e.take_partial().unwrap();
        assert_eq!((bad.index, bad.offset, bad.bytes.as_slice()), (2, broken_at, &b"{\"eventVersion\":\"1.09\",\"eventTi"[..]));
        // The reader goes on after the bad line.
        let d = r.next_record().unwrap().unwrap();
        assert_eq!((d.index, d.bytes), (3, event("4").into_bytes()));
        assert!(r.next_record().unwrap().is_none());
    }

    #[test]
    fn gzip_is_read_through_the_usual_decompression() {
        let input = format!("{}\n{}\n", event("1"), event("2"));
        let (container, recs, err) = read_all(decompressed(io::Cursor::new(gz(input.as_bytes()))).unwrap());
        assert!(err.is_none(), "{err:?}");
        assert_eq!(container, Some(Container::Lines));
        assert_eq!(rows(&recs), [(0, 0, event("1")), (1, event("1").len() as u64 + 1, event("2"))]);
        let array = format!("[{},{}]", event("1"), event("2"));
        let (container, recs, err) = read_all(decompressed(io::Cursor::new(gz(array.as_bytes()))).unwrap());
        assert!(err.is_none(), "{err:?}");
        assert_eq!((container, recs.len()), (Some(Container::Array), 2));
    }

    #[test]
    fn a_bare_array_of_events_is_read_element_by_element() {
        let input = format!("[\n  {},\n  {}\n]\n", event("1"), event("2"));
        let (container, recs, err) = read(input.as_bytes());
        assert!(err.is_none(), "{err:?}");
        assert_eq!(container, Some(Container::Array));
        assert_eq!(rows(&recs), [(0, 4, event("1")), (1, 4 + event("1").len() as u64 + 4, event("2"))]);
        let (container, recs, err) = read(b" [ ] ");
        assert!(err.is_none() && recs.is_empty(), "an empty export: {err:?}");
        assert_eq!(container, Some(Container::Array));
        let (_, recs, err) = read(format!("[{}, {}", event("1"), &event("2")[..40]).as_bytes());
        assert_eq!(recs.len(), 1);
        assert!(err.unwrap().to_string().contains("ends inside a record"));
    }

    fn envelope(message_type: &str, messages: &[String]) -> String {
        let events: Vec<String> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| format!(r#"{{"id":"3800923848383620836279925729651843258549043290741800960{i}","timestamp":1728404132000,"message":{}}}"#, serde_json::to_string(m).unwrap()))
            .collect();
        format!(
            r#"{{"messageType":"{message_type}","owner":"111122223333","logGroup":"aws-cloudtrail-logs-111122223333","logStream":"111122223333_CloudTrail_us-east-1","subscriptionFilters":["to-firehose"],"logEvents":[{}]}}"#,
            events.join(",")
        )
    }

    #[test]
    fn a_cloudwatch_logs_message_yields_each_log_event_message() {
        let input = envelope("DATA_MESSAGE", &[event("1"), event("2")]);
        let (container, recs, err) = read(input.as_bytes());
        assert!(err.is_none(), "{err:?}");
        assert_eq!(container, Some(Container::CloudWatchLogs));
        let starts: Vec<u64> = input.match_indices("{\"id\"").map(|(i, _)| i as u64).collect();
        assert_eq!(rows(&recs), [(0, starts[0], event("1")), (1, starts[1], event("2"))], "the decoded message, at the offset of its log event");
        // Gzip'd, as a subscription delivers it; and keys in another order (logEvents first).
        let sorted = serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&input).unwrap()).unwrap();
        assert!(sorted.starts_with("{\"logEvents\""));
        let (container, recs, err) = read_all(decompressed(io::Cursor::new(gz(sorted.as_bytes()))).unwrap());
        assert!(err.is_none(), "{err:?}");
        assert_eq!((container, recs.len()), (Some(Container::CloudWatchLogs), 2));
        // The CloudWatch Logs guide's CloudTrail example: owner, logGroup, logStream and
        // subscriptionFilters come before messageType.
        let documented = input.replacen(r#"{"messageType":"DATA_MESSAGE","#, "{", 1).replacen(r#","logEvents":"#, r#","messageType":"DATA_MESSAGE","logEvents":"#, 1);
        assert!(documented.starts_with(r#"{"owner""#), "{documented}");
        let (container, recs, err) = read(documented.as_bytes());
        assert!(err.is_none(), "{err:?}");
        assert_eq!((container, rows(&recs)[1].2.clone()), (Some(Container::CloudWatchLogs), event("2")));
    }

    #[test]
    fn a_control_message_holds_no_records() {
        let input = envelope("CONTROL_MESSAGE", &["CWL CONTROL MESSAGE: Checking health of destination Firehose.".into()]);
        let (container, recs, err) = read(input.as_bytes());
        assert!(err.is_none(), "{err:?}");
        assert_eq!((container, recs.len()), (Some(Container::CloudWatchLogs), 0));
        // Keys sorted (logEvents before messageType): the health check's text still gives it away.
        let sorted = serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&input).unwrap()).unwrap();
        let (_, recs, err) = read(sorted.as_bytes());
        assert!(err.is_none() && recs.is_empty(), "{err:?} {recs:?}");
    }

    #[test]
    fn concatenated_messages_as_firehose_delivers_them_are_each_read() {
        let a = envelope("DATA_MESSAGE", &[event("1")]);
        let b = envelope("CONTROL_MESSAGE", &["CWL CONTROL MESSAGE: Checking health of destination Firehose.".into()]);
        let c = envelope("DATA_MESSAGE", &[event("2"), event("3")]);
        let mut body = gz(a.as_bytes());
        body.extend(gz(b.as_bytes()));
        body.extend(gz(c.as_bytes()));
        let (container, recs, err) = read_all(decompressed(io::Cursor::new(body)).unwrap());
        assert!(err.is_none(), "{err:?}");
        assert_eq!(container, Some(Container::CloudWatchLogs));
        let c_start = (a.len() + b.len()) as u64;
        let c_events: Vec<u64> = c.match_indices("{\"id\"").map(|(i, _)| c_start + i as u64).collect();
        assert_eq!(rows(&recs), [(0, a.find("{\"id\"").unwrap() as u64, event("1")), (1, c_events[0], event("2")), (2, c_events[1], event("3"))]);
        // Something else after a message is refused where it starts.
        let input = format!("{a}\n{}", event("x"));
        let (_, recs, err) = read(input.as_bytes());
        assert_eq!(recs.len(), 1);
        let err = err.unwrap();
        assert_eq!(err.offset(), a.len() as u64 + 1, "{err}");
        assert!(err.to_string().contains("not one"), "{err}");
        // A log event without a message is refused alone.
        let input = a.replace(r#""message":"#, r#""msg":"#);
        let (_, recs, err) = read(input.as_bytes());
        let err = err.unwrap();
        assert!(recs.is_empty() && err.is_bad_record(), "{err}");
        assert_eq!(err.offset(), a.find("{\"id\"").unwrap() as u64);
        assert!(err.to_string().contains("missing field `message`"), "{err}");
    }

    #[test]
    fn json_that_is_not_cloudtrail_is_refused_naming_the_offset() {
        let digest = br#"{"awsAccountId":"111122223333","digestStartTime":"2024-01-15T10:00:00Z","logFiles":[]}"#;
        let cases: &[(&[u8], &str, u64)] = &[
            (digest, "no \"Records\" array, and it is not a CloudTrail event (eventVersion and eventTime) or a CloudWatch Logs message (messageType) either", digest.len() as u64),
            (br#"{"eventVersion":"1.09","eventName":"x"}"#, "no \"Records\" array, and it is not a CloudTrail event", 39),
            (br#"{"hello":"world"}"#, "no \"Records\" array", 17),
            (b"", "not a CloudTrail log file: the file is empty", 0),
            (b"  \n", "the file is empty", 3),
            (b"\"text\"", "expected a JSON object, found '\"'", 0),
            (b"not json", "expected a JSON object, found 'n'", 0),
            (b"[1,2]", "a JSON array whose first element is not a CloudTrail event", 1),
            (br#"[{"a":1}]"#, "a JSON array whose first element is not a CloudTrail event", 1),
            (br#"{"messageType":"SOMETHING","logEvents":[]}"#, "not a CloudWatch Logs message: messageType \"SOMETHING\"", 15),
            (br#"{"eventVersion":"1.09","eventTime":"t"} x"#, "'x' after the event", 40),
            (b"{\"eventVersion\":\"1.09\",\n\"eventTime\":\"t\"}\n{\"eventVersion\":\"1.09\"}", "several events must be one per line", 41),
            (br#"{"eventVersion":"1.09","eventTime":"2024-"#, "the file ends inside a value (truncated?)", 41),
        ];
        for (input, want, offset) in cases {
            let (_, recs, err) = read(input);
            let err = err.unwrap_or_else(|| panic!("no error for {:?}", String::from_utf8_lossy(input)));
            assert!(err.to_string().contains(want), "{:?}: {err} should contain {want}", String::from_utf8_lossy(input));
            assert_eq!(err.offset(), *offset, "{:?}: {err}", String::from_utf8_lossy(input));
            assert!(recs.is_empty());
            assert!(!err.is_bad_record());
        }
    }

    #[test]
    fn sniffing_reads_through_small_buffers() {
        for input in [
            format!("{}\n{}", event("1"), event("2")),
            format!("[{},{}]", event("1"), event("2")),
            envelope("DATA_MESSAGE", &[event("1"), event("2")]),
            format!("{{\"x\":12345,\"Records\":[{},{}]}}", event("1"), event("2")),
        ] {
            let (_, big, err) = read(input.as_bytes());
            assert!(err.is_none(), "{err:?}");
            let (_, small, err) = read_all(io::BufReader::with_capacity(3, input.as_bytes()));
            assert!(err.is_none(), "{err:?}");
            assert_eq!((big.len(), &big), (2, &small), "{input}");
        }
    }
}
