//! Helpers for a mapper's unit tests, run natively with `cargo test`.

use crate::{Emitter, MapError, Mapper, OcsfEvent, RawRecord};

/// A record with fixed provenance (`connector` "test", account 123456789012, us-east-1).
pub fn record(bytes: &[u8]) -> RawRecord<'_> {
    RawRecord {
        bytes,
        connector: "test",
        source_kind: "test",
        aws_account_id: Some("123456789012"),
        region: Some("us-east-1"),
        object: "test",
        record_index: 0,
        byte_offset: 0,
        ingest_time_ms: 1_700_000_000_000,
        context: None,
        enrichment: None,
    }
}

/// Builds mapper `M` with `config`, maps one record and returns the events of type `T` it
/// emitted: empty when it skipped the record, `Err` when it rejected it.
pub fn map_one<M: Mapper, T: OcsfEvent>(config: &serde_json::Value, bytes: &[u8]) -> Result<Vec<T>, MapError> {
    map_record::<M, T>(config, &record(bytes))
}

/// Like [`map_one`] with a record of your own (to test provenance handling).
pub fn map_record<M: Mapper, T: OcsfEvent>(config: &serde_json::Value, rec: &RawRecord<'_>) -> Result<Vec<T>, MapError> {
    let mut m = M::new(config)?;
    let mut out = Emitter::default();
    m.map(rec, &mut out)?;
    Ok(out.take::<T>())
}
