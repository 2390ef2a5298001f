//! The standard passthrough mapper: every raw record unchanged, with its provenance, for
//! users who want raw JSON in their lake rather than OCSF.
//!
//! The only thing it reads is the event's own time (for the `eventDay` partition): the first
//! top-level key among `eventTime`, `time`, `timestamp`, `createdAt`, `updatedAt` that holds an
//! RFC 3339 string or epoch milliseconds. Records without one are placed by their ingest time.
//! Records that are not valid UTF-8 are dead-lettered.
//!
//! A record of the `cloudwatch_logs` source (a CloudWatch Logs event; its page is the object
//! the source read) is told by its enrichment: it is placed by the event's `timestamp`, and its
//! `object` names the event, `cloudwatch-logs://<account>/<region>/<group>:<stream>#<event id>`.

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

/// A CloudWatch Logs event, as a `cloudwatch_logs` record's enrichment gives it.
#[derive(serde::Deserialize)]
struct CloudWatchEvent {
    log_group: String,
    log_stream: String,
    event_id: String,
    timestamp: i64,
}

/// The event a `cloudwatch_logs` record is the message of.
fn cloudwatch_event(rec: &RawRecord<'_>) -> Option<CloudWatchEvent> {
    if rec.source_kind != "cloudwatch_logs" {
        return None;
    }
    serde_json::from_slice(rec.enrichment?).ok()
}

impl Passthrough {
    /// The row of a record: see the crate docs.
    fn row(&self, rec: &RawRecord<'_>) -> Result<RawEvent, MapError> {
        let Some(ev) = cloudwatch_event(rec) else {
            return RawEvent::from_record(rec, event_time(rec.bytes).unwrap_or(rec.ingest_time_ms));
        };
        let mut row = RawEvent::from_record(rec, ev.timestamp)?;
        row.object = format!("cloudwatch-logs://{}/{}/{}:{}#{}", rec.aws_account_id.unwrap_or(""), rec.region.unwrap_or(""), ev.log_group, ev.log_stream, ev.event_id);
        Ok(row)
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
        out.emit(self.row(rec)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cloudwatch_logs_event_is_placed_by_its_timestamp_and_named_by_its_id() {
        let mut rec = trawl_guest_sdk::testing::record(br#"{"time":"2024-01-15T10:00:00Z"}"#);
        rec.ingest_time_ms = 5;
        rec.object = "page";
        let row = Passthrough.row(&rec).unwrap();
        assert_eq!((row.time, row.object.as_str()), (1_705_312_800_000, "page"), "the record's own time");
        rec.enrichment = Some(br#"{"log_group":"/g","log_stream":"s","event_id":"42","timestamp":1700000000123,"ingestion_time":1700000000200}"#);
        assert_eq!(Passthrough.row(&rec).unwrap().time, 1_705_312_800_000, "other sources' enrichment is not read");
        rec.source_kind = "cloudwatch_logs";
        (rec.aws_account_id, rec.region) = (Some("111122223333"), Some("us-east-1"));
        let row = Passthrough.row(&rec).unwrap();
        assert_eq!((row.time, row.object.as_str()), (1_700_000_000_123, "cloudwatch-logs://111122223333/us-east-1//g:s#42"));
        rec.bytes = b"plain text";
        rec.enrichment = None;
        assert_eq!(Passthrough.row(&rec).unwrap().time, 5, "nothing else: the ingest time");
    }
}
