//! The [`Mapper`] trait, its [`Manifest`] and the [`Emitter`] it writes events to.

use std::{any::Any, collections::HashMap, sync::Arc};

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, FieldRef, Fields, Schema, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::{RawRecord, abi};

/// Why one record could not be mapped. The host dead-letters the record with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapError(pub String);

impl MapError {
    /// A new error with a message that says what is wrong with the record.
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

impl std::fmt::Display for MapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MapError {}

/// A normalized event type: one OCSF class (or, for raw output, a class of its own).
///
/// The Arrow schema is traced from the Rust type (serde_arrow), so the struct *is* the
/// schema and the two cannot drift. `Option` fields become nullable columns, nested structs
/// become Struct columns, and `i64` fields stay `Int64`: OCSF's `timestamp_t` (`time`,
/// `*_time`) is integer milliseconds since the epoch, which is also how Amazon Security Lake
/// stores it in Parquet. Only `i64` fields named `*_dt` become TIMESTAMP(ms, UTC) columns, as
/// Security Lake stores the `datetime` profile's attributes.
pub trait OcsfEvent: Serialize + for<'de> Deserialize<'de> + 'static {
    /// OCSF `class_uid` (e.g. 6003). 0 for non-OCSF output such as passthrough.
    const CLASS_UID: i32;
    /// Class name in snake case, used in output paths (e.g. `api_activity`).
    const CLASS_NAME: &'static str;

    /// The Arrow fields of this event type (traced from the type).
    fn fields() -> Result<Vec<FieldRef>, String> {
        trace_fields::<Self>()
    }
}

/// Traces the Arrow fields of a serde type the way trawl writes them.
pub fn trace_fields<T: for<'de> Deserialize<'de>>() -> Result<Vec<FieldRef>, String> {
    use serde_arrow::schema::{SchemaLike, TracingOptions};
    let opts = TracingOptions::default()
        .allow_null_fields(true)
        .strings_as_large_utf8(false)
        .sequence_as_large_list(false)
        .bytes_as_large_binary(false)
        // Maps are Arrow maps (Parquet MAP), not structs with a field per key.
        .map_as_struct(false);
    let fields = Vec::<FieldRef>::from_type::<T>(opts).map_err(|e| e.to_string())?;
    Ok(fields.into_iter().map(datetimes).collect())
}

/// `*_dt` attributes (OCSF's `datetime` profile) are TIMESTAMP(ms, UTC) columns, as Security
/// Lake stores them; the Rust field holds the milliseconds. UTC is spelled `+00:00`, an offset
/// every Arrow reader and writer understands without a time-zone database (Parquet marks the
/// column adjusted to UTC either way).
fn datetimes(f: FieldRef) -> FieldRef {
    let dt = match f.data_type() {
        DataType::Int64 if f.name().ends_with("_dt") => DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
        DataType::Struct(children) => DataType::Struct(children.iter().cloned().map(datetimes).collect::<Fields>()),
        DataType::List(item) => DataType::List(datetimes(item.clone())),
        _ => return f,
    };
    Arc::new(f.as_ref().clone().with_data_type(dt))
}

/// One output class a mapper declares in its manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClassDecl {
    /// OCSF `class_uid`.
    pub uid: i32,
    /// Snake-case class name.
    pub name: String,
    /// The Arrow schema of the class's events (without the leading `_row` column).
    pub schema: Schema,
}

impl ClassDecl {
    /// Declares event type `T` as an output class.
    pub fn of<T: OcsfEvent>() -> Self {
        let fields = T::fields().unwrap_or_else(|e| panic!("cannot trace the schema of {}: {e}", T::CLASS_NAME));
        Self { uid: T::CLASS_UID, name: T::CLASS_NAME.to_string(), schema: Schema::new(fields) }
    }
}

/// What a mapper says about itself. The host reads it when loading the module.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Mapper name, e.g. `cloudtrail`.
    pub name: String,
    /// Mapper version (semver).
    pub version: String,
    /// One line for `trawl mapper inspect`.
    pub description: String,
    /// OCSF version of the output, e.g. `1.1.0`; empty for non-OCSF output.
    pub ocsf_version: String,
    /// Source kinds the mapper understands (`cloudtrail_files`, …); empty means any.
    pub source_kinds: Vec<String>,
    /// The classes it emits.
    pub classes: Vec<ClassDecl>,
    /// ABI major the module was built for (filled in by the SDK).
    #[serde(default)]
    pub abi_major: u32,
    /// ABI minor the module was built for (filled in by the SDK).
    #[serde(default)]
    pub abi_minor: u32,
    /// SDK version the module was built with (filled in by the SDK).
    #[serde(default)]
    pub sdk_version: String,
}

impl Manifest {
    /// A manifest for mapper `name` at `version` (usually `env!("CARGO_PKG_NAME")` and
    /// `env!("CARGO_PKG_VERSION")`) emitting `classes`. The SDK fills in the ABI fields.
    ///
    /// ```
    /// # use trawl_guest_sdk::{ClassDecl, Manifest, ocsf};
    /// let m = Manifest::new("raw", "0.1.0", vec![ClassDecl::of::<ocsf::RawEvent>()])
    ///     .describe("raw records")
    ///     .for_sources(&["cloudtrail_files"]);
    /// assert_eq!(m.source_kinds, ["cloudtrail_files"]);
    /// ```
    pub fn new(name: &str, version: &str, classes: Vec<ClassDecl>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            description: String::new(),
            ocsf_version: String::new(),
            source_kinds: Vec::new(),
            classes,
            abi_major: 0,
            abi_minor: 0,
            sdk_version: String::new(),
        }
    }

    /// Sets the one-line description shown by `trawl mapper inspect`.
    pub fn describe(mut self, description: &str) -> Self {
        self.description = description.into();
        self
    }

    /// Marks the output as OCSF of this version (`ocsf::VERSION` for the SDK's classes).
    pub fn ocsf(mut self, version: &str) -> Self {
        self.ocsf_version = version.into();
        self
    }

    /// Lists the source kinds the mapper understands (default: any).
    pub fn for_sources(mut self, kinds: &[&str]) -> Self {
        self.source_kinds = kinds.iter().map(|k| k.to_string()).collect();
        self
    }
}

/// A mapper: turns raw records into normalized events.
///
/// The host creates a mapper with [`Mapper::new`] for every fresh sandbox instance and calls
/// [`Mapper::map`] once per record of a batch, in order. The contract per record:
/// - emit one or more events and return `Ok` → written;
/// - emit nothing and return `Ok` → skipped on purpose (counted, not dead-lettered);
/// - return `Err` → the record goes to the dead-letter output with the message, and events
///   emitted for it are discarded.
///
/// A panic fails the whole batch; the host then isolates the record that caused it.
pub trait Mapper: Sized {
    /// Builds the mapper from its config table (the `[…mapper_config]` TOML as JSON; `null`
    /// when none is given).
    fn new(config: &serde_json::Value) -> Result<Self, MapError>;

    /// Describes the mapper. Must list every class [`Mapper::map`] emits.
    fn manifest() -> Manifest;

    /// Maps one record.
    fn map(&mut self, record: &RawRecord<'_>, out: &mut Emitter) -> Result<(), MapError>;
}

/// Collects the events of one batch, one buffer per class.
///
/// `Emitter::default()` keeps the events themselves (for [`Emitter::take`] in tests); the
/// runtime's emitter writes each event into its class's Arrow columns as it is emitted, while
/// its strings are still in cache, instead of keeping a vector of events (each moved again as
/// the vector grows) to convert at the end.
#[derive(Default)]
pub struct Emitter {
    buffers: Vec<Box<dyn ClassBuffer>>,
    by_class: HashMap<i32, usize>,
    row: u32,
    emitted: u32,
    columnar: bool,
}

impl Emitter {
    /// An emitter that builds the columns as events arrive (what the runtime uses).
    pub(crate) fn columnar() -> Self {
        Self { columnar: true, ..Self::default() }
    }

    /// Emits one event for the current record.
    pub fn emit<T: OcsfEvent>(&mut self, event: T) {
        let idx = match self.by_class.get(&T::CLASS_UID) {
            Some(&i) => i,
            None => {
                let fields = T::fields();
                let columns = if self.columnar { fields.as_ref().ok().and_then(|f| crate::columns::ColumnsBuilder::for_fields(f)) } else { None };
                self.buffers.push(Box::new(TypedBuffer::<T> { rows: Vec::new(), columns, fields, row_ids: Vec::new(), failed: None }));
                self.by_class.insert(T::CLASS_UID, self.buffers.len() - 1);
                self.buffers.len() - 1
            }
        };
        let buf = self.buffers[idx]
            .as_any()
            .downcast_mut::<TypedBuffer<T>>()
            .expect("two event types declare the same CLASS_UID");
        match &mut buf.columns {
            Some(columns) => {
                if buf.failed.is_none()
                    && let Err(e) = columns.push(&event)
                {
                    buf.failed = Some((self.row, format!("input row {}: {e}", self.row)));
                }
            }
            None => buf.rows.push(event),
        }
        buf.row_ids.push(self.row);
        self.emitted += 1;
    }

    /// Takes the events of type `T` collected so far (for tests; see [`crate::testing`]).
    pub fn take<T: OcsfEvent>(&mut self) -> Vec<T> {
        let Some(&i) = self.by_class.get(&T::CLASS_UID) else { return Vec::new() };
        match self.buffers[i].as_any().downcast_mut::<TypedBuffer<T>>() {
            Some(b) => {
                b.row_ids.clear();
                std::mem::take(&mut b.rows)
            }
            None => Vec::new(),
        }
    }

    pub(crate) fn begin(&mut self, row: u32) {
        self.row = row;
        self.emitted = 0;
    }

    pub(crate) fn emitted(&self) -> u32 {
        self.emitted
    }

    pub(crate) fn rollback(&mut self) {
        for b in &mut self.buffers {
            b.rollback(self.row);
        }
        self.emitted = 0;
    }

    /// The collected events, one record batch per class, each led by the `_row` column.
    pub fn finish(self) -> Result<Vec<RecordBatch>, String> {
        self.buffers.into_iter().map(|b| b.finish()).collect()
    }
}

trait ClassBuffer {
    fn as_any(&mut self) -> &mut dyn Any;
    fn rollback(&mut self, row: u32);
    fn finish(self: Box<Self>) -> Result<RecordBatch, String>;
}

struct TypedBuffer<T> {
    /// The events, when they are kept (tests) or the positional builder cannot take them.
    rows: Vec<T>,
    /// The events' columns, built as they are emitted.
    columns: Option<crate::columns::ColumnsBuilder>,
    fields: Result<Vec<FieldRef>, String>,
    row_ids: Vec<u32>,
    /// The first event the columns could not take: the batch fails unless its row is rolled back.
    failed: Option<(u32, String)>,
}

impl<T: OcsfEvent> ClassBuffer for TypedBuffer<T> {
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }

    fn rollback(&mut self, row: u32) {
        while self.row_ids.last() == Some(&row) {
            self.row_ids.pop();
        }
        match &mut self.columns {
            Some(columns) => {
                if self.failed.as_ref().is_some_and(|(r, _)| *r == row) {
                    self.failed = None;
                }
                // One row per event kept; this also cuts what a failed push left half written.
                columns.truncate(self.row_ids.len());
            }
            None => self.rows.truncate(self.row_ids.len()),
        }
    }

    fn finish(self: Box<Self>) -> Result<RecordBatch, String> {
        let fields = self.fields?;
        let events = match (self.columns, self.failed) {
            (_, Some((_, e))) => Err(e),
            (Some(columns), None) => columns.finish(),
            (None, None) => match crate::columns::ColumnsBuilder::for_fields(&fields) {
                Some(mut columns) => {
                    for (event, row) in self.rows.iter().zip(&self.row_ids) {
                        columns.push(event).map_err(|e| format!("input row {row}: {e}"))?;
                    }
                    columns.finish()
                }
                // A type with fields the positional builder does not handle.
                None => serde_arrow::to_record_batch(&fields, &self.rows).map_err(|e| e.to_string()),
            },
        }
        .map_err(|e| format!("{}: cannot build Arrow columns: {e}", T::CLASS_NAME))?;
        let mut all: Vec<FieldRef> = vec![Arc::new(Field::new(abi::ROW_COLUMN, DataType::UInt32, false))];
        all.extend(events.schema().fields().iter().cloned());
        let mut cols: Vec<ArrayRef> = vec![Arc::new(UInt32Array::from(self.row_ids))];
        cols.extend(events.columns().iter().cloned());
        let meta = HashMap::from([
            (abi::META_CLASS_UID.to_string(), T::CLASS_UID.to_string()),
            (abi::META_CLASS_NAME.to_string(), T::CLASS_NAME.to_string()),
        ]);
        RecordBatch::try_new(Arc::new(Schema::new_with_metadata(all, meta)), cols).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocsf::{Authentication, RawEvent, User};

    fn raw(n: u64) -> RawEvent {
        RawEvent { raw: format!("record {n}"), record_index: n, ..Default::default() }
    }

    /// The runtime's emitter (columns built as events arrive) gives the same batches as the
    /// one that keeps the events, rolled-back records included.
    #[test]
    fn the_columnar_emitter_matches_the_keeping_one_with_rollbacks() {
        let run = |mut e: Emitter| {
            for row in 0..6u32 {
                e.begin(row);
                e.emit(raw(row as u64));
                if row % 2 == 1 {
                    e.emit(Authentication { user: User { name: Some(format!("u{row}")), ..Default::default() }, ..Default::default() });
                }
                if row == 3 || row == 4 {
                    e.emit(raw(100 + row as u64));
                    e.rollback();
                }
            }
            e.finish().unwrap()
        };
        let (kept, columnar) = (run(Emitter::default()), run(Emitter::columnar()));
        assert_eq!(kept.len(), 2);
        assert_eq!(kept, columnar);
        let rows = |b: &RecordBatch| b.column(0).as_any().downcast_ref::<UInt32Array>().unwrap().values().to_vec();
        assert_eq!(rows(&columnar[0]), [0, 1, 2, 5]);
        assert_eq!(rows(&columnar[1]), [1, 5]);
    }
}
