//! The mapper host: loads mapper modules, runs them on raw batches in a sandbox, and checks
//! what they return.
//!
//! [`BatchMapper`] is the narrow interface the pipeline sees. [`WasmMapper`] is the real one
//! (wasmtime, ABI v1 of [`trawl_guest_sdk::abi`]); [`NativeMapper`] runs the same guest code
//! compiled into the host, for tests and benchmarks.

mod builtin;
mod engine_config;
mod isolate;
mod native;
mod output;
pub mod toolchain;
mod wasm;

use std::path::PathBuf;

pub use builtin::{BUILTIN_MAPPERS, builtin_wasm};
pub use isolate::{DEADLINE_HITS_PER_BATCH, DEADLINE_HITS_PER_RUN, DeadlineBudget, IsolatedOutput, map_isolating};
pub use native::NativeMapper;
pub use output::{ClassEvents, MappedBatch, RowStatus};
pub use trawl_guest_sdk::Manifest;
pub use wasm::{MapperLimits, WasmMapper};

use crate::batch::RawBatch;

/// Maps raw batches to normalized events.
///
/// Contract: `map` is called from several worker threads at once; each call is independent
/// (no state carries over between batches). `Ok` means every input row has a status and every
/// event belongs to an input row with status OK. `Err` means the whole batch failed; the
/// caller may retry parts of it ([`map_isolating`]).
pub trait BatchMapper: Send + Sync {
    /// What the mapper declared about itself.
    fn manifest(&self) -> &Manifest;
    /// Maps one batch.
    fn map(&self, batch: &RawBatch) -> Result<MappedBatch, MapperError>;
    /// Warnings and errors the mapper logged so far (records it mapped but found odd).
    fn warnings(&self) -> u64 {
        0
    }
}

/// Why a mapper could not be loaded or a batch could not be mapped.
#[derive(Debug, thiserror::Error)]
pub enum MapperError {
    /// The module cannot be used at all (not wasm, wrong ABI, missing exports, forbidden
    /// imports, bad manifest, config rejected).
    #[error("mapper {path}: {reason}")]
    Load {
        /// The module file, or `builtin:<name>`.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The module trapped (panic, out of memory, …) on this batch.
    #[error("mapper {mapper} trapped: {message}")]
    Trap {
        /// Mapper name.
        mapper: String,
        /// The trap, with the guest's panic message when it sent one.
        message: String,
    },
    /// The batch ran past the deadline.
    #[error("mapper {mapper} exceeded its deadline of {deadline_ms} ms on a batch")]
    Deadline {
        /// Mapper name.
        mapper: String,
        /// The configured deadline.
        deadline_ms: u64,
    },
    /// The module returned something that breaks the ABI.
    #[error("mapper {mapper} returned invalid output: {reason}")]
    BadOutput {
        /// Mapper name.
        mapper: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl MapperError {
    /// Errors that will not go away on a smaller batch.
    pub fn is_fatal(&self) -> bool {
        matches!(self, MapperError::Load { .. })
    }
}

/// Where a source's mapper comes from: `builtin:<name>` or a path to a `.wasm` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapperRef {
    /// One of the mappers embedded in the binary.
    Builtin(String),
    /// A module file.
    File(PathBuf),
}

impl MapperRef {
    /// Parses a config value.
    pub fn parse(s: &str) -> Self {
        match s.strip_prefix("builtin:") {
            Some(name) => MapperRef::Builtin(name.to_string()),
            None => MapperRef::File(PathBuf::from(s)),
        }
    }

    /// The module bytes and a display name for messages.
    pub fn load_bytes(&self) -> Result<(std::borrow::Cow<'static, [u8]>, String), MapperError> {
        match self {
            MapperRef::Builtin(name) => {
                let bytes = builtin_wasm(name).ok_or_else(|| MapperError::Load {
                    path: format!("builtin:{name}"),
                    reason: format!(
                        "no such builtin mapper (builtins: {})",
                        BUILTIN_MAPPERS.iter().map(|(n, _)| format!("builtin:{n}")).collect::<Vec<_>>().join(", ")
                    ),
                })?;
                Ok((std::borrow::Cow::Borrowed(bytes), format!("builtin:{name}")))
            }
            MapperRef::File(p) => {
                let bytes = std::fs::read(p).map_err(|e| MapperError::Load { path: p.display().to_string(), reason: format!("cannot read: {e}") })?;
                Ok((std::borrow::Cow::Owned(bytes), p.display().to_string()))
            }
        }
    }
}
