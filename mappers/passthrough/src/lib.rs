//! The standard passthrough mapper: every raw record unchanged, with its provenance, for
//! users who want raw JSON in their lake rather than OCSF.
//!
//! The only thing it reads is the event's own time (for the `eventDay` partition): the first
//! top-level key among `eventTime`, `time`, `timestamp`, `createdAt`, `updatedAt` that holds an
//! RFC 3339 string or epoch milliseconds. Records without one are placed by their ingest time.
//! Records that are not valid UTF-8 are dead-lettered.

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use trawl_guest_sdk::{ClassDecl, Emitter, Manifest, MapError, Mapper, RawRecord, ocsf::RawEvent, time::parse_rfc3339_ms};

/// The mapper. Stateless; config is ignored.
pub struct Passthrough;

trawl_guest_sdk::export_mapper!(Passthrough);

const TIME_KEYS: &[&str] = &["eventTime", "time", "timestamp", "createdAt", "updatedAt"];

/// The event time of a JSON record, when it has one of [`TIME_KEYS`].
pub fn event_time(bytes: &[u8]) -> Option<i64> {
    let fields: BTreeMap<&str, &RawValue> = serde_json::from_slice(bytes).ok()?;
    TIME_KEYS.iter().find_map(|k| {
        let v = fields.get(k)?.get();
        match serde_json::from_str::<&str>(v) {
            Ok(s) => parse_rfc3339_ms(s),
            Err(_) => v.parse::<i64>().ok(),
        }
    })
}

impl Mapper for Passthrough {
    fn new(_config: &serde_json::Value) -> Result<Self, MapError> {
        Ok(Passthrough)
    }

    fn manifest() -> Manifest {
        Manifest::new("passthrough", env!("CARGO_PKG_VERSION"), vec![ClassDecl::of::<RawEvent>()]).describe("raw records with their provenance, unnormalized")
    }

    fn map(&mut self, rec: &RawRecord<'_>, out: &mut Emitter) -> Result<(), MapError> {
        let time = event_time(rec.bytes).unwrap_or(rec.ingest_time_ms);
        out.emit(RawEvent::from_record(rec, time)?);
        Ok(())
    }
}
