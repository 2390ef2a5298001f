//! The dead-letter output: every record that was not written, with why and where from.
//!
//! One NDJSON file per run, `<dir>/<run id>.ndjson`, created on the first entry. Each line:
//! `{"connector","source","object","record_index","byte_offset","reason","raw"|"raw_base64"}`
//! — `raw` when the bytes are UTF-8, else `raw_base64`. An entry about a whole object (e.g. a
//! corrupt gzip stream) has no `record_index`.

use std::{
    fs::{File, OpenOptions},
    io::{BufWriter, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::SinkError;
use crate::state::StagedDeadLetters;

/// One dead-letter line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeadLetterEntry {
    /// Connector account name.
    pub connector: String,
    /// Source id (`cloudtrail_files:<path>`).
    pub source: String,
    /// File path or `s3://bucket/key`.
    pub object: String,
    /// Record index in the object; absent for object-level failures.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub record_index: Option<u64>,
    /// Byte offset (decompressed) of the record or of the failure.
    pub byte_offset: u64,
    /// Why it was not written.
    pub reason: String,
    /// The record bytes, when UTF-8.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub raw: Option<String>,
    /// The record bytes, base64, when not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub raw_base64: Option<String>,
}

impl DeadLetterEntry {
    /// Sets `raw` or `raw_base64` from bytes.
    pub fn with_raw(mut self, bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(s) => self.raw = Some(s.to_string()),
            Err(_) => self.raw_base64 = Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        }
        self
    }
}

/// The dead-letter writer of one run.
///
/// Entries go to a staging segment beside the run's file; a commit stages the segment
/// ([`stage`](Self::stage)) and then appends it to `<dir>/<run id>.ndjson`
/// ([`publish`]), so the lines of records that a crash makes the next run read again are
/// never in the file twice.
pub struct DeadLetter {
    path: PathBuf,
    staging: PathBuf,
    out: Option<BufWriter<File>>,
    segments: u64,
    entries: u64,
    published: u64,
}

impl DeadLetter {
    /// A writer for `<dir>/<run_id>.ndjson` (not created until the first entry is published).
    pub fn new(dir: &Path, run_id: &str) -> Self {
        Self { path: dir.join(format!("{run_id}.ndjson")), staging: dir.join(".staging"), out: None, segments: 0, entries: 0, published: 0 }
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Entries published in this run.
    pub fn entries(&self) -> u64 {
        self.published
    }

    fn segment(&self) -> PathBuf {
        let run = self.path.file_stem().and_then(|s| s.to_str()).unwrap_or("run");
        self.staging.join(format!("{run}-{}-{}.seg", std::process::id(), self.segments))
    }

    /// Appends an entry to the current segment (durable only once a commit publishes it).
    pub fn write(&mut self, e: &DeadLetterEntry) -> Result<(), SinkError> {
        if self.out.is_none() {
            std::fs::create_dir_all(&self.staging).map_err(|err| SinkError::new(self.staging.display(), format!("cannot create: {err}")))?;
            let seg = self.segment();
            let f = File::create(&seg).map_err(|err| SinkError::new(seg.display(), err))?;
            self.out = Some(BufWriter::new(f));
        }
        let w = self.out.as_mut().expect("opened above");
        serde_json::to_writer(&mut *w, e).map_err(|err| SinkError::new(self.path.display(), err))?;
        w.write_all(b"\n").map_err(|err| SinkError::new(self.path.display(), err))?;
        self.entries += 1;
        Ok(())
    }

    /// Completes and fsyncs the current segment, for a commit; `None` when nothing was written
    /// since the last one.
    pub fn stage(&mut self) -> Result<Option<StagedDeadLetters>, SinkError> {
        let Some(mut w) = self.out.take() else { return Ok(None) };
        let seg = self.segment();
        w.flush().map_err(|err| SinkError::new(seg.display(), err))?;
        w.get_ref().sync_all().map_err(|err| SinkError::new(seg.display(), err))?;
        self.segments += 1;
        let at = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        self.published = self.entries;
        Ok(Some(StagedDeadLetters { segment: seg.display().to_string(), file: self.path.display().to_string(), at }))
    }

    /// Removes segments that no commit staged (left by a crashed run of this state dir).
    pub fn clean_staging(&self) -> Result<(), SinkError> {
        if self.staging.exists() {
            std::fs::remove_dir_all(&self.staging).map_err(|e| SinkError::new(self.staging.display(), format!("cannot clean: {e}")))?;
        }
        Ok(())
    }
}

/// Appends a staged segment to its dead-letter file. Idempotent: the file is first cut back
/// to its length before the commit, so rolling a commit forward twice writes each line once.
pub fn publish(s: &StagedDeadLetters) -> Result<(), SinkError> {
    let seg = Path::new(&s.segment);
    if !seg.exists() {
        return Ok(()); // published and removed before a crash
    }
    let file = Path::new(&s.file);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|err| SinkError::new(dir.display(), format!("cannot create: {err}")))?;
    }
    let mut out = OpenOptions::new().create(true).write(true).truncate(false).open(file).map_err(|e| SinkError::new(file.display(), e))?;
    out.set_len(s.at).map_err(|e| SinkError::new(file.display(), e))?;
    out.seek(SeekFrom::Start(s.at)).map_err(|e| SinkError::new(file.display(), e))?;
    let mut input = File::open(seg).map_err(|e| SinkError::new(seg.display(), e))?;
    std::io::copy(&mut input, &mut out).map_err(|e| SinkError::new(file.display(), e))?;
    out.sync_all().map_err(|e| SinkError::new(file.display(), e))?;
    std::fs::remove_file(seg).map_err(|e| SinkError::new(seg.display(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64) -> DeadLetterEntry {
        DeadLetterEntry { connector: "c".into(), source: "s".into(), object: "o".into(), record_index: Some(i), byte_offset: 0, reason: "r".into(), raw: None, raw_base64: None }
    }

    #[test]
    fn publishing_a_segment_twice_writes_its_lines_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut dl = DeadLetter::new(dir.path(), "run1");
        dl.write(&entry(0)).unwrap();
        let first = dl.stage().unwrap().unwrap();
        publish(&first).unwrap();
        dl.write(&entry(1)).unwrap();
        dl.write(&entry(2)).unwrap();
        let second = dl.stage().unwrap().unwrap();
        assert_eq!(second.at, std::fs::read(dl.path()).unwrap().len() as u64);
        // A crash mid-append: half the segment landed, the segment is still there.
        let seg = std::fs::read(&second.segment).unwrap();
        let mut f = OpenOptions::new().append(true).open(dl.path()).unwrap();
        f.write_all(&seg[..seg.len() / 2]).unwrap();
        publish(&second).unwrap();
        publish(&second).unwrap();
        let text = std::fs::read_to_string(dl.path()).unwrap();
        let idx: Vec<u64> = text.lines().map(|l| serde_json::from_str::<DeadLetterEntry>(l).unwrap().record_index.unwrap()).collect();
        assert_eq!(idx, [0, 1, 2]);
        assert!(dl.stage().unwrap().is_none(), "nothing new to stage");
    }
}
