//! A mapper compiled into the host: the same guest code, no sandbox. For tests and for the
//! benchmark that measures what the sandbox costs.


use trawl_guest_sdk::{Manifest, Mapper, runtime};

use super::{BatchMapper, MappedBatch, MapperError, output};
use crate::batch::RawBatch;

/// Runs mapper type `M` natively through the same IPC path as the wasm host.
pub struct NativeMapper<M> {
    manifest: Manifest,
    config: serde_json::Value,
    _m: std::marker::PhantomData<fn() -> M>,
}

impl<M: Mapper> NativeMapper<M> {
    /// A native mapper with its config table.
    pub fn new(config: serde_json::Value) -> Self {
        Self { manifest: runtime::manifest::<M>(), config, _m: std::marker::PhantomData }
    }
}

impl<M: Mapper> BatchMapper for NativeMapper<M> {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn map(&self, batch: &RawBatch) -> Result<MappedBatch, MapperError> {
        let name = &self.manifest.name;
        let mut m = M::new(&self.config).map_err(|e| MapperError::Load { path: format!("native:{name}"), reason: e.to_string() })?;
        let input = runtime::ipc_encode(&batch.batch.schema(), std::slice::from_ref(&batch.batch))
            .map_err(|reason| MapperError::BadOutput { mapper: name.clone(), reason })?;
        // A panic is this path's trap: catch it so it is isolated like one.
        let mut payload = Vec::new();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime::map_ipc(&mut m, input, &mut payload)))
            .map_err(|p| {
                let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
                MapperError::Trap { mapper: name.clone(), message: format!("panicked: {msg}") }
            })?
            .map_err(|message| MapperError::Trap { mapper: name.clone(), message })?;
        output::decode(&self.manifest, batch.len(), &payload).map_err(|reason| MapperError::BadOutput { mapper: name.clone(), reason })
    }
}

