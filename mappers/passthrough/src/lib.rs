//! The standard passthrough mapper: every raw record unchanged, with its provenance, for
//! users who want raw JSON in their lake rather than OCSF.
//!
//! The only thing it reads is the event's own time (for the `eventDay` partition): the first
//! top-level key among `eventTime`, `time`, `timestamp`, `createdAt`, `updatedAt` that holds an
//! RFC 3339 string or epoch milliseconds. A record of the `cloudwatch_logs` source is placed by
//! its event's timestamp (its enrichment's `timestamp`), which every CloudWatch Logs event has.
//! Records without one are placed by their ingest time.
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

/// The CloudWatch Logs timestamp of a `cloudwatch_logs` record (its enrichment's `timestamp`).
fn cloudwatch_timestamp(rec: &RawRecord<'_>) -> Option<i64> {
    if rec.source_kind != "cloudwatch_logs" {
        return None;
    }
    serde_json::from_slice::<serde_json::Value>(rec.enrichment?).ok()?.get("timestamp")?.as_i64()
}

impl Passthrough {
    /// Where a record is placed: see the crate docs.
    fn map_time(&self, rec: &RawRecord<'_>) -> i64 {
        cloudwatch_timestamp(rec).or_else(|| event_time(rec.bytes)).unwrap_or(rec.ingest_time_ms)
    }
}

impl Mapper for Passthrough {
    fn new(_config: &serde_json::Value) -> Result<Self, MapError> {
        Ok(Passthrough)
    }

    fn manifest() -> Manifest {
        Manifest::new("passthrough", env!("CARGO_PKG_VERSION"), vec![ClassDecl::of::<RawEvent>()]).describe("raw records with their provenance, unnormalized")
    }

    fn map(&mut self, rec: &RawRecord<'_>, out: &mut Emitter) -> Result<(), MapError> {
        out.emit(RawEvent::from_record(rec, self.map_time(rec))?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cloudwatch_logs_event_is_placed_by_its_timestamp() {
        let mut rec = trawl_guest_sdk::testing::record(br#"{"time":"2024-01-15T10:00:00Z"}"#);
        rec.ingest_time_ms = 5;
        assert_eq!(Passthrough.map_time(&rec), 1_705_312_800_000, "the record's own time");
        rec.enrichment = Some(br#"{"log_group":"/g","timestamp":1700000000123}"#);
        assert_eq!(Passthrough.map_time(&rec), 1_705_312_800_000, "other sources' enrichment is not read");
        rec.source_kind = "cloudwatch_logs";
        assert_eq!(Passthrough.map_time(&rec), 1_700_000_000_123);
        rec.bytes = b"plain text";
        rec.enrichment = None;
        assert_eq!(Passthrough.map_time(&rec), 5, "nothing else: the ingest time");
    }
}
