//! # trawl guest SDK
//!
//! Write a trawl mapper in Rust: implement [`Mapper`] for a type, call
//! [`export_mapper!`] once, build the crate for `wasm32-wasip1` and point trawl at the
//! `.wasm`. The same crate compiles natively, so `cargo test` exercises the mapping code with
//! no wasm toolchain.
//!
//! ```
//! use trawl_guest_sdk::{ClassDecl, Emitter, Manifest, MapError, Mapper, RawRecord, ocsf};
//!
//! struct Raw;
//! impl Mapper for Raw {
//!     fn new(_config: &serde_json::Value) -> Result<Self, MapError> { Ok(Raw) }
//!     fn manifest() -> Manifest {
//!         Manifest::new("raw", "0.1.0", vec![ClassDecl::of::<ocsf::RawEvent>()]).describe("raw records")
//!     }
//!     fn map(&mut self, rec: &RawRecord<'_>, out: &mut Emitter) -> Result<(), MapError> {
//!         out.emit(ocsf::RawEvent::from_record(rec, rec.ingest_time_ms)?);
//!         Ok(())
//!     }
//! }
//! trawl_guest_sdk::export_mapper!(Raw);
//! # fn main() {}
//! ```
//!
//! **What a record carries** ([`RawRecord`]): its exact bytes and provenance; the *unit
//! context* (ABI 1.2), bytes every record of its unit is read with, such as the header line
//! naming a VPC Flow Logs file's fields; and the *enrichment* (ABI 1.3), JSON the host
//! attaches to the record from data it fetched itself — for VPC Flow Logs the account alias
//! and the EC2 instances (id, `Name` tag, VPC, subnet, AMI, interface, Availability Zone)
//! behind the source and destination addresses. A mapper never calls AWS: it has no network,
//! and one sweep per run by the host replaces a call per record. The shapes are documented on
//! [`RawRecord::enrichment`]; both are `None` when absent, so one mapper serves hosts with and
//! without them.
//!
//! **Why serde structs, traced into Arrow schemas (serde_arrow), rather than hand-written
//! Arrow builders:** the event struct is the schema, so they cannot disagree; nested OCSF
//! objects are plain Rust structs with `Option` for optional attributes; golden tests compare
//! values, not builder calls. The cost is one serde pass per event, measured well below the
//! JSON parsing every mapper does anyway.

pub mod abi;
pub mod alloc;
mod columns;
mod mapper;
pub mod ocsf;
mod record;
pub mod runtime;
pub mod testing;
pub mod time;

/// On wasm the SDK installs [`alloc::SizeClassAlloc`] as the guest's allocator (feature
/// `allocator`, on by default).
#[cfg(all(target_family = "wasm", feature = "allocator"))]
#[global_allocator]
static GLOBAL: alloc::SizeClassAlloc = alloc::SizeClassAlloc::new();

pub use mapper::{ClassDecl, Emitter, Manifest, MapError, Mapper, OcsfEvent, trace_fields};
pub use record::{RawBatchView, RawRecord, bytes_eq, position_uid};

/// Log levels for [`log!`] (values as sent over the ABI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Level {
    /// Something is wrong.
    Error = 1,
    /// Something looks wrong.
    Warn = 2,
    /// Normal operation.
    Info = 3,
    /// Details for debugging.
    Debug = 4,
}

/// Logs a line through the host's tracing. The host attaches the mapper name and batch, and
/// the row when the line is logged while a record is being mapped.
/// `trawl_guest_sdk::log!(Warn, "odd record {}", n)`.
#[macro_export]
macro_rules! log {
    ($level:ident, $($arg:tt)*) => {
        $crate::runtime::guest::log($crate::Level::$level, &format!($($arg)*))
    };
}

/// Exports a [`Mapper`] type as a trawl wasm module (ABI v1). Call once, at the crate root.
/// On native targets it expands to nothing, so the crate also builds as a normal library.
#[macro_export]
macro_rules! export_mapper {
    ($ty:ty) => {
        #[cfg(target_family = "wasm")]
        mod __trawl_exports {
            #[allow(unused_imports)]
            use super::*;
            use $crate::runtime::guest;

            #[unsafe(no_mangle)]
            pub extern "C" fn trawl_abi_version() -> i32 {
                $crate::abi::packed_abi_version()
            }
            #[unsafe(no_mangle)]
            pub extern "C" fn trawl_alloc(len: i32) -> i32 {
                guest::alloc(len as usize) as i32
            }
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn trawl_dealloc(ptr: i32, len: i32) {
                unsafe { guest::dealloc(ptr as usize as *mut u8, len as usize) }
            }
            #[unsafe(no_mangle)]
            pub extern "C" fn trawl_manifest() -> i64 {
                guest::pack(guest::manifest_json::<$ty>())
            }
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn trawl_init(ptr: i32, len: i32) -> i64 {
                let cfg = unsafe { guest::take(ptr as usize as *mut u8, len as usize) };
                guest::pack(guest::init::<$ty>(&cfg))
            }
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn trawl_map_batch(ptr: i32, len: i32) -> i64 {
                let input = unsafe { guest::take(ptr as usize as *mut u8, len as usize) };
                guest::pack(guest::map_batch::<$ty>(input))
            }
        }
    };
}
