//! Builds Arrow columns from serde-serialized events, by position.
//!
//! Derived `Serialize` impls write a struct's fields in declaration order, and the schema was
//! traced from the same type in the same order, so each field goes to the next column without
//! a name lookup. This is the fast path for the types OCSF classes are made of (strings,
//! integers, booleans, timestamps, structs, lists of them and string-to-string maps); a
//! schema with anything else is
//! built by serde_arrow instead ([`ColumnsBuilder::for_fields`] returns `None`). A key that
//! does not match the expected field (a hand-written `Serialize`) is looked up by name.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Int32Array, Int64Array, ListArray, MapArray, RecordBatch, StringArray, StructArray, UInt64Array,
    types::TimestampMillisecondType,
};
use arrow_buffer::{BooleanBuffer, BooleanBufferBuilder, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, FieldRef, Fields, Schema, TimeUnit};
use serde::ser::{self, Impossible, Serialize};

/// Column builders for one event type's fields.
pub struct ColumnsBuilder {
    fields: Fields,
    root: StructCol,
}

impl ColumnsBuilder {
    /// Builders for `fields`, or `None` when a field has a type only serde_arrow handles.
    pub fn for_fields(fields: &[FieldRef]) -> Option<Self> {
        let fields = Fields::from(fields.to_vec());
        let root = StructCol::new(&fields)?;
        Some(Self { fields, root })
    }

    /// Appends one event (a struct) as a row.
    pub fn push<T: Serialize>(&mut self, event: &T) -> Result<(), String> {
        event.serialize(RowSer(&mut self.root)).map_err(|e| e.0)
    }

    /// Rows pushed so far.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.root.len
    }

    /// Drops every row after the first `len` (the events of a record the mapper rejected
    /// after emitting them).
    pub fn truncate(&mut self, len: usize) {
        self.root.truncate(len);
    }

    /// The rows pushed so far as a record batch of the fields' schema.
    pub fn finish(self) -> Result<RecordBatch, String> {
        let (columns, _) = self.root.finish(&self.fields)?;
        RecordBatch::try_new(Arc::new(Schema::new(self.fields)), columns).map_err(|e| e.to_string())
    }
}

enum Col {
    Bool(BooleanBufferBuilder, Validity),
    I32(Vec<i32>, Validity),
    I64(Vec<i64>, Validity),
    U64(Vec<u64>, Validity),
    TimestampMs(Vec<i64>, Validity),
    Str { offsets: Vec<i32>, data: Vec<u8>, nulls: Validity },
    Struct(StructCol),
    List { offsets: Vec<i32>, item: Box<Col>, nulls: Validity },
    /// A map of strings to strings (OCSF `unmapped`, as Security Lake stores it).
    Map { offsets: Vec<i32>, keys: Box<Col>, values: Box<Col>, nulls: Validity },
}

struct StructCol {
    names: Vec<String>,
    /// The address of the `&'static str` key last matched at each position. Serde passes
    /// the same static key every time, so one pointer comparison finds the column; comparing
    /// the names byte by byte cost ~7% of mapping time in wasm, whose `memcmp` is a byte loop.
    key_ptrs: Vec<usize>,
    children: Vec<Col>,
    nulls: Validity,
    len: usize,
}

impl StructCol {
    fn new(fields: &Fields) -> Option<Self> {
        Some(Self {
            names: fields.iter().map(|f| f.name().clone()).collect(),
            key_ptrs: vec![0; fields.len()],
            children: fields.iter().map(|f| Col::new(f.data_type())).collect::<Option<_>>()?,
            nulls: Validity::new(),
            len: 0,
        })
    }

    /// A null row. The children are left behind: they catch up with nulls when they are next
    /// written ([`Col::pad_to`]) or finished. Pushing a null into every column under an absent
    /// struct was most of what an event's many absent OCSF objects cost.
    fn push_null(&mut self) {
        self.nulls.append_null();
        self.len += 1;
    }

    /// The children as arrays, each caught up with the struct's rows first, and the struct's
    /// null buffer.
    fn finish(self, fields: &Fields) -> Result<(Vec<ArrayRef>, Validity), String> {
        let len = self.len;
        let children = self
            .children
            .into_iter()
            .zip(fields.iter())
            .map(|(mut c, f)| {
                c.pad_to(len);
                c.finish(f)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((children, self.nulls))
    }

    /// Also cuts children that a failed push left longer than the struct.
    fn truncate(&mut self, len: usize) {
        for c in &mut self.children {
            c.truncate(len);
        }
        self.nulls.truncate(len);
        self.len = self.len.min(len);
    }
}

/// A column's validity bits, built a 64-bit word at a time. Arrow's `NullBufferBuilder` grows
/// its bitmap a byte at a time, and in wasm each growth is a `memory.fill`, a call into the
/// host: every 8th row of every nullable column. Nothing is kept until the first null.
struct Validity {
    len: usize,
    /// One bit per row (set: valid), `ceil(len / 64)` words, the bits past `len` clear. `None`
    /// while every row is valid.
    words: Option<Vec<u64>>,
}

impl Validity {
    fn new() -> Self {
        Self { len: 0, words: None }
    }

    #[inline]
    fn append_non_null(&mut self) {
        if let Some(w) = &mut self.words {
            if self.len % 64 == 0 {
                w.push(0);
            }
            *w.last_mut().expect("a word per 64 rows") |= 1 << (self.len % 64);
        }
        self.len += 1;
    }

    #[inline]
    fn append_null(&mut self) {
        self.append_n_nulls(1);
    }

    fn append_n_nulls(&mut self, k: usize) {
        let len = self.len;
        let w = self.words.get_or_insert_with(|| {
            let mut w = vec![u64::MAX; len / 64];
            if len % 64 != 0 {
                w.push((1 << (len % 64)) - 1);
            }
            w
        });
        self.len += k;
        // The new bits are clear already in the last word; whole new words are zero.
        while w.len() < self.len.div_ceil(64) {
            w.push(0);
        }
    }

    fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        self.len = len;
        if let Some(w) = &mut self.words {
            w.truncate(len.div_ceil(64));
            if len % 64 != 0 {
                *w.last_mut().expect("a word per 64 rows") &= (1 << (len % 64)) - 1;
            }
        }
    }

    fn finish(&mut self) -> Option<NullBuffer> {
        let words = self.words.take()?;
        Some(NullBuffer::new(BooleanBuffer::new(Buffer::from_vec(words), 0, std::mem::take(&mut self.len))))
    }
}

/// Appends a null (a default value under it, as Arrow arrays hold one in every slot).
fn null<T: Default>(values: &mut Vec<T>, nulls: &mut Validity) {
    values.push(T::default());
    nulls.append_null();
}

impl Col {
    fn new(dt: &DataType) -> Option<Self> {
        let n = || Validity::new();
        Some(match dt {
            DataType::Boolean => Col::Bool(BooleanBufferBuilder::new(0), n()),
            DataType::Int32 => Col::I32(Vec::new(), n()),
            DataType::Int64 => Col::I64(Vec::new(), n()),
            DataType::UInt64 => Col::U64(Vec::new(), n()),
            DataType::Timestamp(TimeUnit::Millisecond, _) => Col::TimestampMs(Vec::new(), n()),
            DataType::Utf8 => Col::Str { offsets: vec![0], data: Vec::new(), nulls: n() },
            DataType::Struct(fields) => Col::Struct(StructCol::new(fields)?),
            DataType::List(item) => Col::List { offsets: vec![0], item: Box::new(Col::new(item.data_type())?), nulls: n() },
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(kv) if kv.len() == 2 && kv.iter().all(|f| f.data_type() == &DataType::Utf8) => Col::Map {
                    offsets: vec![0],
                    keys: Box::new(Col::new(&DataType::Utf8)?),
                    values: Box::new(Col::new(&DataType::Utf8)?),
                    nulls: n(),
                },
                _ => return None,
            },
            _ => return None,
        })
    }

    /// Appends nulls until the column holds `len` rows (a child catching up with its struct).
    /// False when it already holds more: a field written twice in one row.
    fn pad_to(&mut self, len: usize) -> bool {
        let have = self.len();
        if have >= len {
            return have == len;
        }
        let k = len - have;
        if k == 1 {
            // The usual case (the field was absent in the row before): a push, where the
            // resizes below are each a `memory.fill` call into the host in wasm.
            self.push_null();
            return true;
        }
        match self {
            Col::Bool(v, n) => {
                v.append_n(k, false);
                n.append_n_nulls(k);
            }
            Col::I32(v, n) => {
                v.resize(len, 0);
                n.append_n_nulls(k);
            }
            Col::I64(v, n) | Col::TimestampMs(v, n) => {
                v.resize(len, 0);
                n.append_n_nulls(k);
            }
            Col::U64(v, n) => {
                v.resize(len, 0);
                n.append_n_nulls(k);
            }
            Col::Str { offsets, data, nulls } => {
                offsets.resize(len + 1, data.len() as i32);
                nulls.append_n_nulls(k);
            }
            Col::Struct(s) => {
                s.nulls.append_n_nulls(k);
                s.len = len;
            }
            Col::List { offsets, nulls, .. } | Col::Map { offsets, nulls, .. } => {
                let end = *offsets.last().expect("starts at 0");
                offsets.resize(len + 1, end);
                nulls.append_n_nulls(k);
            }
        }
        true
    }

    fn push_null(&mut self) {
        match self {
            Col::Bool(v, n) => {
                v.append(false);
                n.append_null();
            }
            Col::I32(v, n) => null(v, n),
            Col::I64(v, n) | Col::TimestampMs(v, n) => null(v, n),
            Col::U64(v, n) => null(v, n),
            Col::Str { offsets, data, nulls } => {
                offsets.push(data.len() as i32);
                nulls.append_null();
            }
            Col::Struct(s) => s.push_null(),
            Col::List { offsets, nulls, .. } | Col::Map { offsets, nulls, .. } => {
                offsets.push(*offsets.last().expect("starts at 0"));
                nulls.append_null();
            }
        }
    }

    fn finish(self, field: &FieldRef) -> Result<ArrayRef, String> {
        let dt = field.data_type();
        Ok(match self {
            Col::Bool(mut v, mut n) => Arc::new(BooleanArray::new(v.finish(), n.finish())),
            Col::I32(v, mut n) => Arc::new(Int32Array::new(ScalarBuffer::from(v), n.finish())),
            Col::I64(v, mut n) => Arc::new(Int64Array::new(ScalarBuffer::from(v), n.finish())),
            Col::U64(v, mut n) => Arc::new(UInt64Array::new(ScalarBuffer::from(v), n.finish())),
            Col::TimestampMs(v, mut n) => {
                Arc::new(arrow_array::PrimitiveArray::<TimestampMillisecondType>::new(ScalarBuffer::from(v), n.finish()).with_data_type(dt.clone()))
            }
            Col::Str { offsets, data, mut nulls } => {
                if data.len() > i32::MAX as usize {
                    return Err(format!("column {}: over 2 GiB of strings in one batch", field.name()));
                }
                // SAFETY: the offsets start at 0 and only grow, each to the end of a whole
                // `&str` appended to `data`, so every slice is in bounds and valid UTF-8.
                Arc::new(unsafe { StringArray::new_unchecked(OffsetBuffer::new_unchecked(ScalarBuffer::from(offsets)), Buffer::from_vec(data), nulls.finish()) })
            }
            Col::Struct(s) => {
                let DataType::Struct(fields) = dt else { unreachable!("built from this field") };
                let (children, mut nulls) = s.finish(fields)?;
                Arc::new(StructArray::try_new(fields.clone(), children, nulls.finish()).map_err(|e| format!("column {}: {e}", field.name()))?)
            }
            Col::Map { offsets, keys, values, mut nulls } => {
                let DataType::Map(entries, sorted) = dt else { unreachable!("built from this field") };
                let DataType::Struct(kv) = entries.data_type() else { unreachable!("checked in Col::new") };
                let columns = vec![keys.finish(&kv[0])?, values.finish(&kv[1])?];
                let entries_array = StructArray::try_new(kv.clone(), columns, None).map_err(|e| format!("column {}: {e}", field.name()))?;
                Arc::new(
                    MapArray::try_new(entries.clone(), OffsetBuffer::new(ScalarBuffer::from(offsets)), entries_array, nulls.finish(), *sorted)
                        .map_err(|e| format!("column {}: {e}", field.name()))?,
                )
            }
            Col::List { offsets, item, mut nulls } => {
                let DataType::List(item_field) = dt else { unreachable!("built from this field") };
                let values = item.finish(item_field)?;
                Arc::new(
                    ListArray::try_new(item_field.clone(), OffsetBuffer::new(ScalarBuffer::from(offsets)), values, nulls.finish())
                        .map_err(|e| format!("column {}: {e}", field.name()))?,
                )
            }
        })
    }
}

#[derive(Debug)]
struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// Appends a non-null value.
fn value<T>(values: &mut Vec<T>, nulls: &mut Validity, v: T) -> Result<(), Error> {
    values.push(v);
    nulls.append_non_null();
    Ok(())
}

fn mismatch(col: &Col, what: &str) -> Error {
    let expected = match col {
        Col::Bool(..) => "a boolean",
        Col::I32(..) => "an i32",
        Col::I64(..) => "an i64",
        Col::U64(..) => "a u64",
        Col::TimestampMs(..) => "an i64 timestamp",
        Col::Str { .. } => "a string",
        Col::Struct(_) => "a struct",
        Col::List { .. } => "a sequence",
        Col::Map { .. } => "a map",
    };
    Error(format!("expected {expected}, got {what}"))
}

/// Serializes the event itself into the root struct (which has no null buffer of its own).
struct RowSer<'a>(&'a mut StructCol);

/// Serializes one value into one column. The flag says whether the column is a struct's
/// field, whose nulls are left to [`Col::pad_to`] (nothing is written for an absent field: most
/// of an OCSF event's fields are absent, and a null pushed for each was ~8% of mapping time);
/// a list's items and a map's values push theirs.
struct ValueSer<'a>(&'a mut Col, bool);

/// Fields of a struct, in order.
struct FieldsSer<'a> {
    s: &'a mut StructCol,
    next: usize,
    /// Whether the struct is a nested column (with its own null buffer) or the row.
    nested: bool,
}

/// Entries of a map: keys and values alternate.
struct MapSer<'a> {
    offsets: &'a mut Vec<i32>,
    keys: &'a mut Col,
    values: &'a mut Col,
    nulls: &'a mut Validity,
    len: i32,
}

struct SeqSer<'a> {
    offsets: &'a mut Vec<i32>,
    item: &'a mut Col,
    nulls: &'a mut Validity,
    len: i32,
}

macro_rules! unsupported {
    ($($f:ident($($t:ty),*)),* $(,)?) => {
        $(fn $f(self, $(_: $t),*) -> Result<Self::Ok, Error> {
            Err(Error(concat!("unsupported value: ", stringify!($f)).into()))
        })*
    };
}

/// Small integers go through `serialize_i64`, which fits them to the column's type.
macro_rules! widen_to_i64 {
    ($($f:ident($t:ty)),* $(,)?) => {
        $(fn $f(self, v: $t) -> Result<(), Error> {
            self.serialize_i64(v.into())
        })*
    };
}

impl<'a> ser::Serializer for RowSer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = FieldsSer<'a>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<FieldsSer<'a>, Error> {
        Ok(FieldsSer { s: self.0, next: 0, nested: false })
    }

    unsupported!(
        serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_i32(i32), serialize_i64(i64),
        serialize_u8(u8), serialize_u16(u16), serialize_u32(u32), serialize_u64(u64), serialize_f32(f32), serialize_f64(f64),
        serialize_char(char), serialize_str(&str), serialize_bytes(&[u8]), serialize_none(), serialize_unit(),
        serialize_unit_struct(&'static str), serialize_unit_variant(&'static str, u32, &'static str),
    );
    fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(self, _: &'static str, _: u32, _: &'static str, _: &T) -> Result<(), Error> {
        Err(Error("an event must be a struct, not an enum".into()))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(Error("an event must be a struct, not a sequence".into()))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(Error("an event must be a struct, not a tuple".into()))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Error> {
        Err(Error("an event must be a struct, not a tuple struct".into()))
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeTupleVariant, Error> {
        Err(Error("an event must be a struct, not an enum".into()))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(Error("an event must be a struct, not a map".into()))
    }
    fn serialize_struct_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeStructVariant, Error> {
        Err(Error("an event must be a struct, not an enum".into()))
    }
}

/// Appends `src` to `dst`.
///
/// In wasm, a copy of unknown length compiles to `memory.copy`, which wasmtime runs as a call
/// into the host; for the short strings most event fields hold, that call cost more than the
/// copy (string appends were ~5% of mapping time, all of it in the host's `memmove`). Up to
/// 32 bytes, a few overlapping word copies inline do the same job; longer strings still take
/// `memory.copy`. Native builds keep `extend_from_slice`, whose `memcpy` is already cheap.
#[inline]
fn append_bytes(dst: &mut Vec<u8>, src: &[u8]) {
    if cfg!(target_family = "wasm") && src.len() <= 32 {
        append_short(dst, src);
    } else {
        dst.extend_from_slice(src);
    }
}

/// `dst.extend_from_slice(src)` for `src` of at most 32 bytes, without a `memcpy`.
#[inline]
fn append_short(dst: &mut Vec<u8>, src: &[u8]) {
    let n = src.len();
    assert!(n <= 32);
    dst.reserve(n);
    // SAFETY: `reserve` made room for `n` more bytes after `len`; every read below is within
    // `src[..n]` and every write within those `n` bytes, which are all written before
    // `set_len` (overlapping writes store the same bytes twice).
    unsafe {
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr().add(dst.len()));
        let word = |at: usize| d.add(at).cast::<u64>().write_unaligned(s.add(at).cast::<u64>().read_unaligned());
        match n {
            16..=32 => {
                word(0);
                word(8);
                word(n - 16);
                word(n - 8);
            }
            8..=15 => {
                word(0);
                word(n - 8);
            }
            4..=7 => {
                d.cast::<u32>().write_unaligned(s.cast::<u32>().read_unaligned());
                d.add(n - 4).cast::<u32>().write_unaligned(s.add(n - 4).cast::<u32>().read_unaligned());
            }
            1..=3 => {
                *d = *s;
                *d.add(n / 2) = *s.add(n / 2);
                *d.add(n - 1) = *s.add(n - 1);
            }
            _ => {}
        }
        dst.set_len(dst.len() + n);
    }
}

impl<'a> ser::Serializer for ValueSer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = SeqSer<'a>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = MapSer<'a>;
    type SerializeStruct = FieldsSer<'a>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        match self.0 {
            Col::Bool(b, n) => {
                b.append(v);
                n.append_non_null();
                Ok(())
            }
            c => Err(mismatch(c, "a boolean")),
        }
    }
    widen_to_i64!(serialize_i8(i8), serialize_i16(i16), serialize_u8(u8), serialize_u16(u16), serialize_u32(u32));
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        match self.0 {
            Col::I32(b, n) => value(b, n, v),
            _ => self.serialize_i64(v.into()),
        }
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        match self.0 {
            Col::I64(b, n) | Col::TimestampMs(b, n) => value(b, n, v),
            Col::I32(b, n) => value(b, n, i32::try_from(v).map_err(|_| Error(format!("{v} does not fit an i32 column")))?),
            Col::U64(b, n) => value(b, n, u64::try_from(v).map_err(|_| Error(format!("{v} does not fit a u64 column")))?),
            c => Err(mismatch(c, "an integer")),
        }
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        match self.0 {
            Col::U64(b, n) => value(b, n, v),
            _ => self.serialize_i64(i64::try_from(v).map_err(|_| Error(format!("{v} does not fit a signed column")))?),
        }
    }
    fn serialize_f32(self, _: f32) -> Result<(), Error> {
        Err(mismatch(self.0, "a float"))
    }
    fn serialize_f64(self, _: f64) -> Result<(), Error> {
        Err(mismatch(self.0, "a float"))
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        match self.0 {
            Col::Str { offsets, data, nulls } => {
                append_bytes(data, v.as_bytes());
                offsets.push(data.len() as i32);
                nulls.append_non_null();
                Ok(())
            }
            c => Err(mismatch(c, "a string")),
        }
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
        Err(mismatch(self.0, "bytes"))
    }
    fn serialize_none(self) -> Result<(), Error> {
        if !self.1 {
            self.0.push_null();
        }
        Ok(())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(self, _: &'static str, _: u32, _: &'static str, _: &T) -> Result<(), Error> {
        Err(mismatch(self.0, "an enum with data"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<SeqSer<'a>, Error> {
        match self.0 {
            Col::List { offsets, item, nulls } => {
                let len = *offsets.last().expect("starts at 0");
                Ok(SeqSer { offsets, item, nulls, len })
            }
            c => Err(mismatch(c, "a sequence")),
        }
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(mismatch(self.0, "a tuple"))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Error> {
        Err(mismatch(self.0, "a tuple struct"))
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeTupleVariant, Error> {
        Err(mismatch(self.0, "an enum with data"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapSer<'a>, Error> {
        match self.0 {
            Col::Map { offsets, keys, values, nulls } => {
                let len = *offsets.last().expect("starts at 0");
                Ok(MapSer { offsets, keys, values, nulls, len })
            }
            c => Err(mismatch(c, "a map")),
        }
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<FieldsSer<'a>, Error> {
        match self.0 {
            Col::Struct(s) => Ok(FieldsSer { s, next: 0, nested: true }),
            c => Err(mismatch(c, "a struct")),
        }
    }
    fn serialize_struct_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeStructVariant, Error> {
        Err(mismatch(self.0, "an enum with data"))
    }
}

impl FieldsSer<'_> {
    /// The column of field `key`, caught up with the rows before this one: the next one in
    /// order, else found by name.
    #[inline]
    fn column(&mut self, key: &'static str) -> Result<&mut Col, Error> {
        let len = self.s.len;
        let i = self.position(key)?;
        let c = &mut self.s.children[i];
        if c.pad_to(len) { Ok(c) } else { Err(Error(format!("field {key} was written more than once"))) }
    }

    /// The position of field `key`, and the next position after it.
    #[inline]
    fn position(&mut self, key: &'static str) -> Result<usize, Error> {
        let i = self.next;
        if self.s.key_ptrs.get(i) == Some(&(key.as_ptr() as usize)) && self.s.names[i].len() == key.len() {
            self.next = i + 1;
            return Ok(i);
        }
        self.find_column(key)
    }

    /// The first time a key is seen at a position, or fields out of the usual order.
    #[cold]
    #[inline(never)]
    fn find_column(&mut self, key: &'static str) -> Result<usize, Error> {
        let i = if self.s.names.get(self.next).is_some_and(|n| n == key) {
            self.next
        } else {
            self.s.names.iter().position(|n| n == key).ok_or_else(|| Error(format!("field {key} is not in the schema")))?
        };
        self.s.key_ptrs[i] = key.as_ptr() as usize;
        self.next = i + 1;
        Ok(i)
    }
}

impl ser::SerializeStruct for FieldsSer<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, v: &T) -> Result<(), Error> {
        let col = self.column(key)?;
        v.serialize(ValueSer(col, true)).map_err(|e| Error(format!("{key}: {e}")))
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), Error> {
        // Null, so nothing to write (see `ValueSer`); only the position moves on.
        self.position(key).map(drop)
    }

    fn end(self) -> Result<(), Error> {
        // A field the value did not write is null in this row: its column catches up when it
        // is next written, or when the batch is finished.
        if self.nested {
            self.s.nulls.append_non_null();
        }
        self.s.len += 1;
        Ok(())
    }
}

impl Col {
    /// Keeps the first `len` values (and, under a list or map, only the items they hold).
    fn truncate(&mut self, len: usize) {
        match self {
            Col::Bool(v, n) => {
                v.truncate(len);
                n.truncate(len);
            }
            Col::I32(v, n) => {
                v.truncate(len);
                n.truncate(len);
            }
            Col::I64(v, n) | Col::TimestampMs(v, n) => {
                v.truncate(len);
                n.truncate(len);
            }
            Col::U64(v, n) => {
                v.truncate(len);
                n.truncate(len);
            }
            Col::Str { offsets, data, nulls } => {
                offsets.truncate(len + 1);
                let end = *offsets.last().expect("starts at 0") as usize;
                data.truncate(end);
                nulls.truncate(len);
            }
            Col::Struct(s) => s.truncate(len),
            Col::List { offsets, item, nulls } => {
                offsets.truncate(len + 1);
                let end = *offsets.last().expect("starts at 0") as usize;
                item.truncate(end);
                nulls.truncate(len);
            }
            Col::Map { offsets, keys, values, nulls } => {
                offsets.truncate(len + 1);
                let end = *offsets.last().expect("starts at 0") as usize;
                keys.truncate(end);
                values.truncate(end);
                nulls.truncate(len);
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Col::Bool(v, _) => v.len(),
            Col::I32(v, _) => v.len(),
            Col::I64(v, _) | Col::TimestampMs(v, _) => v.len(),
            Col::U64(v, _) => v.len(),
            Col::Str { offsets, .. } | Col::List { offsets, .. } | Col::Map { offsets, .. } => offsets.len() - 1,
            Col::Struct(s) => s.len,
        }
    }
}

impl ser::SerializeMap for MapSer<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, k: &T) -> Result<(), Error> {
        k.serialize(ValueSer(self.keys, false))
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Error> {
        v.serialize(ValueSer(self.values, false))?;
        self.len += 1;
        Ok(())
    }

    fn end(self) -> Result<(), Error> {
        self.offsets.push(self.len);
        self.nulls.append_non_null();
        Ok(())
    }
}

impl ser::SerializeSeq for SeqSer<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Error> {
        v.serialize(ValueSer(self.item, false))?;
        self.len += 1;
        Ok(())
    }

    fn end(self) -> Result<(), Error> {
        self.offsets.push(self.len);
        self.nulls.append_non_null();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// Validity bits against a plain list of flags, over runs of appends, null runs and cuts
    /// that cross word boundaries (a deterministic pseudo-random sequence).
    #[test]
    fn validity_matches_a_list_of_flags() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for round in 0..200 {
            let (mut v, mut model) = (super::Validity::new(), Vec::<bool>::new());
            for _ in 0..next(40) {
                match next(if round % 3 == 0 { 4 } else { 10 }) {
                    0 => {
                        let k = next(150) as usize;
                        v.append_n_nulls(k);
                        model.extend(std::iter::repeat_n(false, k));
                    }
                    1 => {
                        let len = next(model.len() as u64 + 1) as usize;
                        v.truncate(len);
                        model.truncate(len);
                    }
                    2 => {
                        v.append_null();
                        model.push(false);
                    }
                    _ => {
                        for _ in 0..next(100) {
                            v.append_non_null();
                            model.push(true);
                        }
                    }
                }
            }
            let len = model.len();
            let got: Vec<bool> = match v.finish() {
                Some(n) => {
                    assert_eq!(n.len(), len, "round {round}");
                    n.iter().collect()
                }
                None => vec![true; len],
            };
            assert_eq!(got, model, "round {round}");
        }
    }

    #[test]
    fn short_appends_copy_every_byte_at_every_length() {
        let src: Vec<u8> = (1..=32).collect();
        for n in 0..=32 {
            let mut dst = b"ab".to_vec();
            super::append_short(&mut dst, &src[..n]);
            assert_eq!(&dst[..2], b"ab", "length {n}: the old bytes are kept");
            assert_eq!(&dst[2..], &src[..n], "length {n}");
        }
    }

    use super::*;
    use crate::{
        OcsfEvent,
        ocsf::{
            Account, Actor, ApiActivity, Authentication, Cloud, Database, DatastoreActivity, Enrichment, Metadata, NetworkActivity, NetworkConnectionInfo,
            NetworkEndpoint, NetworkTraffic, Process, QueryInfo, RawEvent, ResourceDetails, Session, User,
        },
    };

    /// The positional builder must produce exactly what serde_arrow produces.
    fn same_as_serde_arrow<T: OcsfEvent>(events: &[T]) {
        let fields = T::fields().unwrap();
        let expected = serde_arrow::to_record_batch(&fields, &events).unwrap();
        let mut b = ColumnsBuilder::for_fields(&fields).expect("OCSF types take the fast path");
        for e in events {
            b.push(e).unwrap();
        }
        let got = b.finish().unwrap();
        assert_eq!(got.schema(), expected.schema());
        for (i, (g, e)) in got.columns().iter().zip(expected.columns()).enumerate() {
            assert_eq!(g.to_data(), e.to_data(), "column {}", fields[i].name());
        }
    }

    fn user(n: i32) -> User {
        User {
            uid: Some(format!("arn:aws:iam::123456789012:user/u{n}")),
            name: (n % 2 == 0).then(|| format!("u{n}")),
            type_id: Some(n),
            account: (n % 3 == 0).then(|| Account { uid: Some("123456789012".into()), ..Default::default() }),
            ..Default::default()
        }
    }

    fn api_events() -> Vec<ApiActivity> {
        (0..7)
            .map(|n| ApiActivity {
                time: 1_700_000_000_000 + n as i64,
                time_dt: (n % 2 == 0).then_some(1_700_000_000_000 + n as i64),
                class_uid: 6003,
                class_name: "API Activity".into(),
                activity_id: n,
                status: (n % 2 == 1).then(|| "Failure".into()),
                actor: Actor {
                    user: (n != 3).then(|| user(n)),
                    session: (n % 2 == 0).then(|| Session { is_mfa: Some(n == 0), created_time: Some(n as i64), created_time_dt: (n == 2).then_some(n as i64), ..Default::default() }),
                    ..Default::default()
                },
                resources: match n {
                    0 => None,
                    1 => Some(vec![]),
                    _ => Some((0..n).map(|k| ResourceDetails { uid: Some(format!("r{k}")), ..Default::default() }).collect()),
                },
                cloud: Cloud { provider: "AWS".into(), region: Some("us-east-1".into()), account: None, zone: None },
                metadata: Metadata {
                    version: "1.1.0".into(),
                    labels: (n == 4).then(|| vec!["privileged-role".into(), "x".into()]),
                    profiles: Some(vec!["cloud".into()]),
                    ..Default::default()
                },
                unmapped: (n == 5).then(|| [("a".to_string(), "1".to_string()), ("b".to_string(), "x\"y".to_string())].into_iter().collect()),
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn api_activity_and_authentication_match_serde_arrow() {
        let api = api_events();
        same_as_serde_arrow(&api);
        let auth: Vec<Authentication> =
            (0..4).map(|n| Authentication { user: user(n), is_mfa: (n > 1).then_some(n == 2), actor: None, ..Default::default() }).collect();
        same_as_serde_arrow(&auth);
        same_as_serde_arrow(&[RawEvent { raw: "{}".into(), record_index: 7, ..Default::default() }]);
        same_as_serde_arrow::<ApiActivity>(&[]);
    }

    /// Rows cut off (a rejected record's events) leave no trace in any column: lists of
    /// structs, maps, nested nulls. Rows 2 and 5 are pushed, cut and pushed again as others.
    #[test]
    fn truncated_rows_leave_nothing_behind() {
        let api = api_events();
        let fields = ApiActivity::fields().unwrap();
        let mut b = ColumnsBuilder::for_fields(&fields).unwrap();
        let keep = [0, 1, 3, 4, 6];
        for (i, e) in api.iter().enumerate() {
            if !keep.contains(&i) {
                continue;
            }
            b.push(e).unwrap();
            // The event after it, pushed and taken back.
            let pushed = b.len();
            b.push(&api[(i + 2) % api.len()]).unwrap();
            b.push(&api[5]).unwrap();
            b.truncate(pushed);
            assert_eq!(b.len(), pushed);
        }
        let kept: Vec<ApiActivity> = keep.iter().map(|&i| api[i].clone()).collect();
        let expected = serde_arrow::to_record_batch(&fields, &kept).unwrap();
        let got = b.finish().unwrap();
        for (i, (g, e)) in got.columns().iter().zip(expected.columns()).enumerate() {
            assert_eq!(g.to_data(), e.to_data(), "column {}", fields[i].name());
        }
    }

    /// The classes of the VPC Flow Logs and Redshift mappers, with lists of structs
    /// (`enrichments`), nested objects and required integers.
    #[test]
    fn network_and_datastore_activity_match_serde_arrow() {
        let net: Vec<NetworkActivity> = (0..5)
            .map(|n| NetworkActivity {
                time: n as i64,
                start_time_dt: (n % 2 == 0).then_some(n as i64),
                src_endpoint: NetworkEndpoint { ip: Some(format!("10.0.0.{n}")), port: Some(443), instance_uid: (n == 1).then(|| "i-1".into()), ..Default::default() },
                dst_endpoint: NetworkEndpoint { intermediate_ips: (n == 2).then(|| vec!["10.1.1.1".into()]), ..Default::default() },
                connection_info: (n != 3).then(|| NetworkConnectionInfo { direction_id: n, protocol_num: Some(6), tcp_flags: (n == 4).then_some(18), ..Default::default() }),
                traffic: Some(NetworkTraffic { bytes: Some(n as i64 * 1000), packets: Some(n as i64), ..Default::default() }),
                action_id: n % 3,
                enrichments: match n {
                    0 => None,
                    1 => Some(vec![]),
                    _ => Some((0..n).map(|k| Enrichment { name: format!("e{k}"), value: "v".into(), data: "{}".into(), ..Default::default() }).collect()),
                },
                ..Default::default()
            })
            .collect();
        same_as_serde_arrow(&net);
        let ds: Vec<DatastoreActivity> = (0..3)
            .map(|n| DatastoreActivity {
                actor: Actor { process: Some(Process { pid: Some(n), ..Default::default() }), ..Default::default() },
                database: (n != 1).then(|| Database { name: Some("dev".into()), type_id: 1, ..Default::default() }),
                query_info: Some(QueryInfo { query_string: "select 1".repeat(n as usize), ..Default::default() }),
                ..Default::default()
            })
            .collect();
        same_as_serde_arrow(&ds);
    }

    #[test]
    fn absent_and_skipped_fields_are_null_and_a_field_written_twice_is_an_error() {
        // Rows that leave fields out (skipped, as `skip_serializing_if` does, or not written
        // at all), a null row between them, and one that writes a field twice.
        struct Row(Option<i64>, Option<&'static str>, usize);
        impl Serialize for Row {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use ser::SerializeStruct;
                let mut st = s.serialize_struct("Row", 2)?;
                match self.0 {
                    Some(a) => st.serialize_field("a", &a)?,
                    None => st.skip_field("a")?,
                }
                if let Some(b) = self.1 {
                    st.serialize_field("b", b)?;
                }
                for _ in 1..self.2 {
                    st.serialize_field("b", "again")?;
                }
                st.end()
            }
        }
        let fields: Vec<FieldRef> =
            vec![Arc::new(arrow_schema::Field::new("a", DataType::Int64, true)), Arc::new(arrow_schema::Field::new("b", DataType::Utf8, true))];
        let mut b = ColumnsBuilder::for_fields(&fields).unwrap();
        for r in [Row(Some(1), None, 1), Row(None, Some("x"), 1), Row(None, None, 1), Row(Some(4), Some("y"), 1), Row(None, None, 1)] {
            b.push(&r).unwrap();
        }
        let err = b.push(&Row(Some(6), Some("z"), 2)).unwrap_err();
        assert!(err.contains("field b was written more than once"), "{err}");
        b.truncate(5);
        let got = b.finish().unwrap();
        let a = got.column(0).as_any().downcast_ref::<arrow_array::Int64Array>().unwrap();
        let s = got.column(1).as_any().downcast_ref::<arrow_array::StringArray>().unwrap();
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![Some(1), None, None, Some(4), None]);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![None, Some("x"), None, Some("y"), None]);
    }

    /// Fields found by the remembered key address, by name when the order changes, and by
    /// name when the same name arrives from another address.
    #[test]
    fn fields_in_any_order_and_from_any_key_address_land_in_their_columns() {
        struct Row(i64, &'static str, bool);
        impl Serialize for Row {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use ser::SerializeStruct;
                let mut st = s.serialize_struct("Row", 2)?;
                if self.2 {
                    // Another `&'static str` with the same text, at another address.
                    let a: &'static str = String::from("a").leak();
                    st.serialize_field("b", self.1)?;
                    st.serialize_field(a, &self.0)?;
                } else {
                    st.serialize_field("a", &self.0)?;
                    st.serialize_field("b", self.1)?;
                }
                st.end()
            }
        }
        let fields: Vec<FieldRef> =
            vec![Arc::new(arrow_schema::Field::new("a", DataType::Int64, false)), Arc::new(arrow_schema::Field::new("b", DataType::Utf8, false))];
        let mut b = ColumnsBuilder::for_fields(&fields).unwrap();
        let rows = [Row(1, "x", false), Row(2, "y", false), Row(3, "z", true), Row(4, "w", true), Row(5, "v", false)];
        for r in &rows {
            b.push(r).unwrap();
        }
        let got = b.finish().unwrap();
        let a = got.column(0).as_any().downcast_ref::<arrow_array::Int64Array>().unwrap();
        let s = got.column(1).as_any().downcast_ref::<arrow_array::StringArray>().unwrap();
        assert_eq!(a.values().to_vec(), vec![1, 2, 3, 4, 5]);
        assert_eq!(s.iter().map(Option::unwrap).collect::<Vec<_>>(), vec!["x", "y", "z", "w", "v"]);
    }

    #[test]
    fn a_type_with_other_fields_takes_serde_arrow() {
        let fields = vec![Arc::new(arrow_schema::Field::new("x", DataType::Float64, false))];
        assert!(ColumnsBuilder::for_fields(&fields).is_none());
    }
}
