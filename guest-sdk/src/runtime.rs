//! Runs a [`Mapper`] over one raw batch: decode the IPC input, map every record, encode the
//! output frames. The wasm exports call this; natively it is called directly (tests, benches).

use std::sync::Arc;

use arrow_array::{RecordBatch, UInt8Array, StringArray};
use arrow_ipc::{
    reader::{StreamDecoder, StreamReader},
    writer::StreamWriter,
};

use crate::{Emitter, Mapper, RawBatchView, abi};

/// Encodes record batches of one schema as an Arrow IPC stream.
pub fn ipc_encode(schema: &arrow_schema::Schema, batches: &[RecordBatch]) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    ipc_encode_into(&mut buf, schema, batches)?;
    Ok(buf)
}

/// Appends record batches of one schema, as an Arrow IPC stream, to `buf`.
pub fn ipc_encode_into(buf: &mut Vec<u8>, schema: &arrow_schema::Schema, batches: &[RecordBatch]) -> Result<(), String> {
    // The stream is about as big as the arrays: reserving it up front saves growing a
    // multi-MiB buffer by doubling (each step a realloc and a copy, ~1% of mapping time).
    buf.reserve(batches.iter().map(RecordBatch::get_array_memory_size).sum::<usize>() + 4096);
    let mut w = StreamWriter::try_new(buf, schema).map_err(|e| e.to_string())?;
    for b in batches {
        w.write(b).map_err(|e| e.to_string())?;
    }
    w.finish().map_err(|e| e.to_string())
}

/// Decodes an Arrow IPC stream into its record batches.
pub fn ipc_decode(buf: &[u8]) -> Result<Vec<RecordBatch>, String> {
    let reader = StreamReader::try_new(std::io::Cursor::new(buf), None).map_err(|e| e.to_string())?;
    reader.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
}

/// Decodes an Arrow IPC stream it owns: the arrays point into `buf` instead of copies of it.
pub fn ipc_decode_owned(buf: Vec<u8>) -> Result<Vec<RecordBatch>, String> {
    let mut buf = arrow_buffer::Buffer::from_vec(buf);
    let mut decoder = StreamDecoder::new();
    let mut batches = Vec::new();
    while !buf.is_empty() {
        let before = buf.len();
        if let Some(b) = decoder.decode(&mut buf).map_err(|e| e.to_string())? {
            batches.push(b);
        } else if buf.len() == before {
            break;
        }
    }
    decoder.finish().map_err(|e| e.to_string())?;
    Ok(batches)
}

/// Maps one raw batch given as an Arrow IPC stream and appends the output frames to `out`
/// (see [`abi`]): the frame count, the status frame, then one frame per class that has events.
pub fn map_ipc<M: Mapper>(mapper: &mut M, input: Vec<u8>, out: &mut Vec<u8>) -> Result<(), String> {
    let batches = ipc_decode_owned(input).map_err(|e| format!("cannot decode the raw batch: {e}"))?;
    let mut status = Vec::new();
    let mut errors: Vec<Option<String>> = Vec::new();
    let mut emitter = Emitter::columnar();
    let mut row = 0u32;
    for batch in &batches {
        let view = RawBatchView::new(batch)?;
        for i in 0..view.len() {
            let rec = view.get(i);
            emitter.begin(row);
            guest::set_row(Some(row));
            match mapper.map(&rec, &mut emitter) {
                Ok(()) if emitter.emitted() > 0 => {
                    status.push(abi::STATUS_OK);
                    errors.push(None);
                }
                Ok(()) => {
                    status.push(abi::STATUS_SKIP);
                    errors.push(None);
                }
                Err(e) => {
                    emitter.rollback();
                    status.push(abi::STATUS_ERROR);
                    errors.push(Some(e.0));
                }
            }
            row += 1;
        }
    }
    guest::set_row(None);
    drop(batches);
    let status_batch = RecordBatch::try_new(
        abi::status_schema(),
        vec![Arc::new(UInt8Array::from(status)), Arc::new(StringArray::from(errors))],
    )
    .map_err(|e| e.to_string())?;
    let classes = emitter.finish()?;
    // Frames are encoded straight into the output: no per-frame buffer to copy.
    out.extend_from_slice(&(1 + classes.len() as u32).to_le_bytes());
    abi::push_frame(out, |out| ipc_encode_into(out, &abi::status_schema(), &[status_batch]))?;
    for b in classes {
        abi::push_frame(out, |out| ipc_encode_into(out, &b.schema(), std::slice::from_ref(&b)))?;
    }
    Ok(())
}

/// The manifest of `M` with the ABI and SDK versions filled in.
pub fn manifest<M: Mapper>() -> crate::Manifest {
    let mut m = M::manifest();
    m.abi_major = abi::ABI_MAJOR;
    m.abi_minor = abi::ABI_MINOR;
    m.sdk_version = env!("CARGO_PKG_VERSION").to_string();
    m
}

/// A failed call's result buffer as the ABI returns it: the error result byte, then the message.
pub fn error_buffer(msg: &str) -> Vec<u8> {
    let mut out = vec![abi::RESULT_ERR];
    out.extend_from_slice(msg.as_bytes());
    out
}

/// Guest-side glue used by [`export_mapper!`](crate::export_mapper). Not for direct use.
#[doc(hidden)]
pub mod guest {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        static INSTANCE: RefCell<Option<Box<dyn std::any::Any>>> = const { RefCell::new(None) };
        /// The input row being mapped, for log lines; -1 outside a record.
        static ROW: std::cell::Cell<i64> = const { std::cell::Cell::new(-1) };
    }

    /// Records which input row is being mapped (None between records).
    pub fn set_row(row: Option<u32>) {
        ROW.with(|r| r.set(row.map_or(-1, i64::from)));
    }

    #[cfg(target_family = "wasm")]
    #[link(wasm_import_module = "trawl")]
    unsafe extern "C" {
        #[link_name = "log"]
        fn host_log(level: i32, ptr: *const u8, len: usize);
        #[link_name = "log_row"]
        fn host_log_row(level: i32, row: i32, ptr: *const u8, len: usize);
        #[link_name = "panic"]
        fn host_panic(ptr: *const u8, len: usize);
    }

    /// Sends a log line to the host (wasm) or stderr (native).
    pub fn log(level: crate::Level, msg: &str) {
        let row = ROW.with(|r| r.get());
        #[cfg(target_family = "wasm")]
        unsafe {
            if row >= 0 {
                host_log_row(level as i32, row as i32, msg.as_ptr(), msg.len())
            } else {
                host_log(level as i32, msg.as_ptr(), msg.len())
            }
        }
        #[cfg(not(target_family = "wasm"))]
        if row >= 0 {
            eprintln!("[{level:?}] row {row}: {msg}");
        } else {
            eprintln!("[{level:?}] {msg}");
        }
    }

    /// Routes panic messages to the host before the guest aborts (otherwise a trap says only
    /// "unreachable").
    pub fn install_panic_hook() {
        #[cfg(target_family = "wasm")]
        std::panic::set_hook(Box::new(|info| {
            let msg = info.to_string();
            unsafe { host_panic(msg.as_ptr(), msg.len()) }
        }));
    }

    /// Leaks `buf` to the host as a packed `(ptr << 32) | len`. The host copies it out and the
    /// instance is discarded or the host calls `trawl_dealloc`.
    pub fn pack(buf: Vec<u8>) -> i64 {
        let buf = buf.into_boxed_slice();
        let len = buf.len();
        let ptr = Box::into_raw(buf) as *mut u8 as usize;
        ((ptr as i64) << 32) | (len as i64)
    }

    /// # Safety
    /// `ptr..ptr+len` must be a buffer from `alloc`.
    pub unsafe fn take(ptr: *mut u8, len: usize) -> Vec<u8> {
        unsafe { Vec::from_raw_parts(ptr, len, len) }
    }

    pub fn alloc(len: usize) -> *mut u8 {
        let mut v = Vec::<u8>::with_capacity(len.max(1));
        let p = v.as_mut_ptr();
        std::mem::forget(v);
        p
    }

    /// # Safety
    /// `ptr..ptr+len` must be a buffer from `alloc` or `pack`.
    pub unsafe fn dealloc(ptr: *mut u8, len: usize) {
        drop(unsafe { Vec::from_raw_parts(ptr, 0, len.max(1)) });
    }

    pub fn manifest_json<M: Mapper>() -> Vec<u8> {
        let mut out = vec![abi::RESULT_OK];
        serde_json::to_writer(&mut out, &manifest::<M>()).expect("manifest serializes");
        out
    }

    pub fn init<M: Mapper + 'static>(config: &[u8]) -> Vec<u8> {
        install_panic_hook();
        let r = serde_json::from_slice::<serde_json::Value>(config)
            .map_err(|e| format!("mapper config is not JSON: {e}"))
            .and_then(|cfg| M::new(&cfg).map_err(|e| format!("mapper config rejected: {e}")));
        match r {
            Ok(m) => {
                INSTANCE.with(|i| *i.borrow_mut() = Some(Box::new(m)));
                vec![abi::RESULT_OK]
            }
            Err(e) => error_buffer(&e),
        }
    }

    pub fn map_batch<M: Mapper + 'static>(input: Vec<u8>) -> Vec<u8> {
        INSTANCE.with(|i| {
            let mut slot = i.borrow_mut();
            let Some(m) = slot.as_mut().and_then(|b| b.downcast_mut::<M>()) else {
                return error_buffer("trawl_init was not called");
            };
            let mut out = vec![abi::RESULT_OK];
            match map_ipc(m, input, &mut out) {
                Ok(()) => out,
                Err(e) => error_buffer(&e),
            }
        })
    }
}
