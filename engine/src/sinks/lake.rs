//! The partitioned, Security-Lake-style file layout, with atomic file publication.

use std::{
    collections::HashMap,
    fs::File,
    path::{Path, PathBuf},
    sync::Arc,
};

use arrow_array::{Array, RecordBatch, UInt32Array, cast::AsArray, types::TimestampMillisecondType};
use sha2::{Digest, Sha256};
use trawl_guest_sdk::time::civil_from_days;

use super::{
    FileFormat, FileWriter, SinkError,
    layout::{EventClass, Layout, SourceDirs},
    s3_upload::S3Destination,
};
use crate::state::StagedFile;

/// Where finished files are published.
pub enum Destination {
    /// A local directory: files are renamed into place.
    Local(PathBuf),
    /// An S3 prefix: files are uploaded (one PutObject, or a multipart upload for large
    /// ones), so a reader sees a whole object or none.
    S3(S3Destination),
}

/// Where one event goes and what identifies it.
#[derive(Debug, Clone, Copy)]
pub struct PartitionRow<'a> {
    /// AWS region, `unknown` when the source does not know.
    pub region: Option<&'a str>,
    /// AWS account id; when the source does not know, `unknown` (`external` in the
    /// `security_lake` layout).
    pub account: Option<&'a str>,
    /// Fallback time for events without a `time` (ms).
    pub fallback_time_ms: i64,
    /// The input object, for the deterministic file name.
    pub object: &'a str,
    /// The record index in the object.
    pub record_index: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PartitionKey {
    /// The class's directory: `<mapper>_<class>`, or `ext/<custom source name>`.
    source: String,
    region: String,
    account: String,
    day: String,
}

struct OpenFile {
    writer: Box<dyn FileWriter>,
    tmp: PathBuf,
    rows: u64,
    ident: Sha256,
}

/// The event's own region and account (OCSF `cloud.region`, `cloud.account.uid`), which place
/// it when they are usable as partition values: a region name, a 12-digit account id. Events
/// without them (passthrough rows, a `redacted` account) are placed by what the source knows
/// (the object key's `AWSLogs/<account>/…/<region>/`). So events from files outside an
/// `AWSLogs/` tree still land under their account and region.
struct EventCloud<'b> {
    cloud: Option<&'b arrow_array::StructArray>,
    region: Option<&'b arrow_array::StringArray>,
    account: Option<&'b arrow_array::StructArray>,
    account_uid: Option<&'b arrow_array::StringArray>,
}

impl<'b> EventCloud<'b> {
    fn of(events: &'b RecordBatch) -> Self {
        let cloud = events.column_by_name("cloud").and_then(|c| c.as_struct_opt());
        let account = cloud.and_then(|c| c.column_by_name("account")).and_then(|c| c.as_struct_opt());
        Self {
            cloud,
            region: cloud.and_then(|c| c.column_by_name("region")).and_then(|c| c.as_string_opt::<i32>()),
            account,
            account_uid: account.and_then(|a| a.column_by_name("uid")).and_then(|c| c.as_string_opt::<i32>()),
        }
    }

    /// Row `i` of `col`, when it and every struct above it are non-null.
    fn text(&self, col: Option<&'b arrow_array::StringArray>, parent: Option<&arrow_array::StructArray>, i: usize) -> Option<&'b str> {
        let valid = self.cloud.is_some_and(|c| c.is_valid(i)) && parent.is_none_or(|p| p.is_valid(i));
        col.filter(|c| valid && c.is_valid(i)).map(|c| c.value(i))
    }

    fn region(&self, i: usize) -> Option<&'b str> {
        let ok = |r: &&str| (1..=32).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        self.text(self.region, None, i).filter(ok)
    }

    fn account(&self, i: usize) -> Option<&'b str> {
        self.text(self.account_uid, self.account, i).filter(|a| crate::sources::common::s3::is_account(a))
    }
}

/// A file published by [`Destination::publish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    /// Final path.
    pub path: PathBuf,
    /// Events in it.
    pub rows: u64,
}

/// Writes events into `<root>/<source>/region=<r>/accountId=<a>/eventDay=YYYYMMDD/`, where
/// `<source>` is `<mapper>_<class name>` or, in the [`Layout::SecurityLake`] layout,
/// `ext/<custom source name>`.
///
/// Contract: [`write`](Self::write) buffers events into temporary files (under
/// `<root>/.tmp/` for a local root, a local staging directory for S3), invisible to readers of
/// the layout. [`stage`](Self::stage) finishes and fsyncs every open file for a commit, and
/// [`Destination::publish`] publishes them: a rename (atomic on one filesystem) or an S3
/// upload (atomic per object); only then are the events visible. File names are the sha256 of the events' identities
/// (object, record index), so writing the same records again yields the same name and
/// replaces the file rather than duplicating it.
pub struct LakeSink {
    dest: Destination,
    tmp_dir: PathBuf,
    format: Arc<dyn FileFormat>,
    dirs: SourceDirs,
    open: HashMap<PartitionKey, OpenFile>,
    max_rows_per_file: u64,
    /// (temporary file, path relative to the root, rows)
    finished: Vec<(PathBuf, String, u64)>,
    seq: u64,
}

impl LakeSink {
    /// A sink rooted at the local directory `root`, staging files in `<root>/.tmp/`.
    pub fn new(root: &Path, format: Arc<dyn FileFormat>) -> Result<Self, SinkError> {
        Self::with_destination(Destination::Local(root.to_path_buf()), &root.join(".tmp"), format)
    }

    /// A sink publishing to `dest`, staging files in `tmp_dir`. Leftover staged files are
    /// removed by [`clean_staging`](Self::clean_staging), once a prepared commit that may
    /// name them has been rolled forward.
    pub fn with_destination(dest: Destination, tmp_dir: &Path, format: Arc<dyn FileFormat>) -> Result<Self, SinkError> {
        Ok(Self { dest, tmp_dir: tmp_dir.to_path_buf(), format, dirs: SourceDirs::default(), open: HashMap::new(), max_rows_per_file: 5_000_000, finished: Vec::new(), seq: 0 })
    }

    /// Lays files out in `layout`, with `[outputs.source_names]` (checked by the config).
    pub fn with_layout(mut self, layout: Layout, source_names: std::collections::BTreeMap<String, String>) -> Self {
        self.dirs = SourceDirs::new(layout, source_names);
        self
    }

    /// The layout files are written in.
    pub fn layout(&self) -> Layout {
        self.dirs.layout()
    }

    /// Gives every class the mappers declare its directory before anything is written, so a
    /// Security Lake name that is invalid or held by two classes stops the run before it reads
    /// (a class seen first in [`write`](Self::write) is checked there the same way). Warns of
    /// `source_names` that name no class.
    pub fn register(&mut self, classes: &[EventClass<'_>]) -> Result<(), SinkError> {
        let mut shown = std::collections::BTreeSet::new();
        let security_lake = self.dirs.layout() == Layout::SecurityLake;
        for c in classes {
            let dir = self.dirs.dir(*c).map_err(|e| SinkError::new(self.dest.location(), e))?;
            if security_lake && shown.insert(dir.to_string()) {
                tracing::info!(output = %self.dest.location(), "class {} ({}) goes to the Security Lake custom source {}", c.trawl_source(), c.uid, dir.trim_start_matches("ext/"));
            }
        }
        for k in self.dirs.unused_names(classes) {
            tracing::warn!(output = %self.dest.location(), "source_names.{k} names no class of the mappers in this config (they are: {}); it is not used", classes.iter().map(EventClass::trawl_source).collect::<std::collections::BTreeSet<_>>().into_iter().collect::<Vec<_>>().join(", "));
        }
        Ok(())
    }

    /// Empties the staging directory (files of a crashed run that no commit names).
    pub fn clean_staging(&mut self) -> Result<(), SinkError> {
        let tmp = &self.tmp_dir;
        if tmp.exists() {
            std::fs::remove_dir_all(tmp).map_err(|e| SinkError::new(tmp.display(), format!("cannot clean temporary files: {e}")))?;
        }
        std::fs::create_dir_all(tmp).map_err(|e| SinkError::new(tmp.display(), format!("cannot create: {e}")))?;
        Ok(())
    }

    /// The destination files are published to.
    pub fn destination(&self) -> &Destination {
        &self.dest
    }

    /// Where files go, for messages: a directory or `s3://bucket/prefix`.
    pub fn location(&self) -> String {
        self.dest.location()
    }

    /// Writes events of one class. `rows[i]` is the input row of event `i`; `part(row)` says
    /// where that row belongs.
    pub fn write<'a>(
        &mut self,
        class: EventClass<'_>,
        events: &RecordBatch,
        rows: &UInt32Array,
        part: impl Fn(usize) -> PartitionRow<'a>,
    ) -> Result<(), SinkError> {
        let source = match self.dirs.dir(class) {
            Ok(d) => d.to_string(),
            Err(e) => return Err(SinkError::new(self.location(), e)),
        };
        let unknown_account = self.dirs.unknown_account();
        // `time` is Int64 milliseconds (OCSF timestamp_t); modules built before ABI 1.2 sent a
        // Timestamp(ms) column, the same values.
        let times: Option<arrow_array::Int64Array> = events.column_by_name("time").and_then(|c| {
            c.as_primitive_opt::<arrow_array::types::Int64Type>()
                .cloned()
                .or_else(|| c.as_primitive_opt::<TimestampMillisecondType>().map(|t| t.reinterpret_cast::<arrow_array::types::Int64Type>()))
        });
        let cloud = EventCloud::of(events);
        // Rows are grouped by borrowed (region, account, day); the owned key is built once per
        // group. A batch nearly always has one or a few groups, so a scan beats hashing.
        // Each group also hashes its rows' identities; an object's path is hashed once per run
        // of its rows (hashing it for every row was ~0.6% of a CloudTrail run).
        let mut groups: Vec<((&str, &str, i64), Vec<u32>, Sha256, &str)> = Vec::new();
        let mut last = 0;
        for i in 0..events.num_rows() {
            let p = part(rows.value(i) as usize);
            let t = times.as_ref().filter(|t| !t.is_null(i)).map(|t| t.value(i)).unwrap_or(p.fallback_time_ms);
            let region = cloud.region(i).or(p.region).unwrap_or("unknown");
            let account = cloud.account(i).or(p.account).unwrap_or(unknown_account);
            let k = (region, account, t.div_euclid(86_400_000));
            if groups.get(last).is_none_or(|g| g.0 != k) {
                last = match groups.iter().position(|g| g.0 == k) {
                    Some(j) => j,
                    None => {
                        groups.push((k, Vec::new(), Sha256::new(), ""));
                        groups.len() - 1
                    }
                };
            }
            let g = &mut groups[last];
            g.1.push(i as u32);
            if g.3 != p.object {
                g.2.update((p.object.len() as u64).to_le_bytes());
                g.2.update(p.object.as_bytes());
                g.3 = p.object;
            }
            g.2.update(p.record_index.to_le_bytes());
        }
        for ((region, account, days), idx, ident, _) in groups {
            let (y, m, d) = civil_from_days(days);
            let key = PartitionKey { source: source.clone(), region: region.to_string(), account: account.to_string(), day: format!("{y:04}{m:02}{d:02}") };
            let part = if idx.len() == events.num_rows() {
                events.clone() // every row, in order
            } else {
                arrow_select::take::take_record_batch(events, &UInt32Array::from(idx)).map_err(|e| SinkError::new(self.location(), e))?
            };
            self.append(key, part, ident)?;
        }
        Ok(())
    }

    fn append(&mut self, key: PartitionKey, batch: RecordBatch, ident: Sha256) -> Result<(), SinkError> {
        if !self.open.contains_key(&key) {
            self.seq += 1;
            let tmp = self.tmp_dir.join(format!("{}-{}.{}.tmp", std::process::id(), self.seq, self.format.extension()));
            let file = File::create(&tmp).map_err(|e| SinkError::new(tmp.display(), format!("cannot create: {e}")))?;
            let writer = self.format.open(file, batch.schema()).map_err(|e| SinkError::new(tmp.display(), e))?;
            self.open.insert(key.clone(), OpenFile { writer, tmp, rows: 0, ident: Sha256::new() });
        }
        let f = self.open.get_mut(&key).expect("inserted above");
        f.writer.write(&batch).map_err(|e| SinkError::new(f.tmp.display(), e))?;
        f.rows += batch.num_rows() as u64;
        f.ident.update(ident.finalize());
        if f.rows >= self.max_rows_per_file {
            let f = self.open.remove(&key).expect("present");
            self.finish_file(&key, f)?;
        }
        self.keep_within_budget()
    }

    /// One open file per partition adds up: when the files together buffer more than the
    /// format's budget, the biggest buffers are written out.
    fn keep_within_budget(&mut self) -> Result<(), SinkError> {
        let budget = self.format.buffer_budget();
        if budget == usize::MAX {
            return Ok(());
        }
        let mut sizes: Vec<(usize, PartitionKey)> = self.open.iter().map(|(k, f)| (f.writer.buffered_bytes(), k.clone())).collect();
        let mut total: usize = sizes.iter().map(|s| s.0).sum();
        sizes.sort_by(|a, b| b.0.cmp(&a.0));
        for (size, key) in sizes {
            if total <= budget {
                break;
            }
            let f = self.open.get_mut(&key).expect("listed above");
            f.writer.flush_buffered().map_err(|e| SinkError::new(f.tmp.display(), e))?;
            total -= size;
        }
        Ok(())
    }

    fn finish_file(&mut self, key: &PartitionKey, f: OpenFile) -> Result<(), SinkError> {
        f.writer.finish().map_err(|e| SinkError::new(f.tmp.display(), e))?;
        let rel = format!(
            "{}/region={}/accountId={}/eventDay={}/{}.{}",
            key.source,
            key.region,
            key.account,
            key.day,
            &hex::encode(f.ident.finalize())[..32],
            self.format.extension()
        );
        self.finished.push((f.tmp, rel, f.rows));
        Ok(())
    }

    /// Finishes (and fsyncs) every open file, for a commit: what is to be published where.
    pub fn stage(&mut self) -> Result<Vec<StagedFile>, SinkError> {
        let open: Vec<_> = self.open.drain().collect();
        for (key, f) in open {
            self.finish_file(&key, f)?;
        }
        let output = self.location();
        Ok(std::mem::take(&mut self.finished)
            .into_iter()
            .map(|(tmp, rel, rows)| StagedFile { output: output.clone(), staged: tmp.display().to_string(), target: rel, rows })
            .collect())
    }
}

impl Destination {
    /// Where files go, for messages and [`StagedFile::output`].
    pub fn location(&self) -> String {
        match self {
            Destination::Local(root) => root.display().to_string(),
            Destination::S3(s3) => s3.url(""),
        }
    }

    /// Publishes staged files; returns their final paths. Idempotent, so that a prepared
    /// commit can be rolled forward after a crash: a file whose staged copy is gone was
    /// published already (a staged copy is removed only after its upload or rename).
    pub fn publish(&self, files: &[StagedFile]) -> Result<Vec<WrittenFile>, SinkError> {
        let mut out = Vec::new();
        let mut dirs = std::collections::BTreeSet::new();
        for f in files {
            let staged = Path::new(&f.staged);
            match self {
                Destination::Local(root) => {
                    let path = root.join(&f.target);
                    if staged.exists() {
                        let dir = path.parent().expect("has a partition dir");
                        std::fs::create_dir_all(dir).map_err(|e| SinkError::new(dir.display(), format!("cannot create: {e}")))?;
                        std::fs::rename(staged, &path).map_err(|e| SinkError::new(path.display(), format!("cannot publish {}: {e}", staged.display())))?;
                        dirs.insert(dir.to_path_buf());
                    } else if !path.exists() {
                        return Err(SinkError::new(path.display(), format!("cannot publish: the staged file {} is gone", staged.display())));
                    }
                    out.push(WrittenFile { path, rows: f.rows });
                }
                Destination::S3(s3) => {
                    if staged.exists() {
                        s3.upload(staged, &f.target)?;
                        let _ = std::fs::remove_file(staged);
                    }
                    out.push(WrittenFile { path: PathBuf::from(s3.url(&f.target)), rows: f.rows });
                }
            }
        }
        // The renames themselves must survive a crash: fsync the directories that changed.
        for d in dirs {
            if let Ok(f) = File::open(&d) {
                let _ = f.sync_all();
            }
        }
        Ok(out)
    }
}
