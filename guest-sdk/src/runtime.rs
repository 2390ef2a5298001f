//! Runs a [`Mapper`] over one raw batch: decode the IPC input, map every record, encode the
//! output frames. The wasm exports call this; natively it is called directly (tests, benches).

use std::sync::Arc;

use arrow_array::{RecordBatch, UInt8Array, StringArray};
use arrow_ipc::{reader::StreamReader, writer::StreamWriter};

use crate::{Emitter, Mapper, RawBatchView, abi};

/// Encodes record batches of one schema as an Arrow IPC stream.
pub fn ipc_encode(schema: &arrow_schema::Schema, batches: &[RecordBatch]) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let mut w = StreamWriter::try_new(&mut buf, schema).map_err(|e| e.to_string())?;
    for b in batches {
        w.write(b).map_err(|e| e.to_string())?;
    }
    w.finish().map_err(|e| e.to_string())?;
    drop(w);
    Ok(buf)
}

/// Decodes an Arrow IPC stream into its record batches.
pub fn ipc_decode(buf: &[u8]) -> Result<Vec<RecordBatch>, String> {
    let reader = StreamReader::try_new(std::io::Cursor::new(buf), None).map_err(|e| e.to_string())?;
    reader.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
}

/// Maps one raw batch given as an Arrow IPC stream and returns the output frames
/// (see [`abi`]): the status frame, then one frame per class that has events.
pub fn map_ipc<M: Mapper>(mapper: &mut M, input: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let batches = ipc_decode(input).map_err(|e| format!("cannot decode the raw batch: {e}"))?;
    let mut status = Vec::new();
    let mut errors: Vec<Option<String>> = Vec::new();
    let mut emitter = Emitter::default();
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
    let status_batch = RecordBatch::try_new(
        abi::status_schema(),
        vec![Arc::new(UInt8Array::from(status)), Arc::new(StringArray::from(errors))],
    )
    .map_err(|e| e.to_string())?;
    let mut frames = vec![ipc_encode(&abi::status_schema(), &[status_batch])?];
    for b in emitter.finish()? {
        frames.push(ipc_encode(&b.schema(), &[b])?);
    }
    Ok(frames)
}

/// The manifest of `M` with the ABI and SDK versions filled in.
pub fn manifest<M: Mapper>() -> crate::Manifest {
    let mut m = M::manifest();
    m.abi_major = abi::ABI_MAJOR;
    m.abi_minor = abi::ABI_MINOR;
    m.sdk_version = env!("CARGO_PKG_VERSION").to_string();
    m
}

/// A result buffer as the ABI returns it: the result byte, then payload.
pub fn result_buffer(r: Result<Vec<Vec<u8>>, String>) -> Vec<u8> {
    match r {
        Ok(frames) => {
            let mut out = vec![abi::RESULT_OK];
            abi::write_frames(&mut out, &frames);
            out
        }
        Err(msg) => {
            let mut out = vec![abi::RESULT_ERR];
            out.extend_from_slice(msg.as_bytes());
            out
        }
    }
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
            Err(e) => result_buffer(Err(e)),
        }
    }

    pub fn map_batch<M: Mapper + 'static>(input: &[u8]) -> Vec<u8> {
        INSTANCE.with(|i| {
            let mut slot = i.borrow_mut();
            let Some(m) = slot.as_mut().and_then(|b| b.downcast_mut::<M>()) else {
                return result_buffer(Err("trawl_init was not called".into()));
            };
            result_buffer(map_ipc(m, input))
        })
    }
}
