//! The standard Amazon Redshift events mapper: `DescribeEvents` events, as the
//! `redshift_events` source reads them → OCSF 1.1.0.
//!
//! **Records.** An event is the API's `Event` as JSON under its member names:
//! `SourceIdentifier`, `SourceType` (`cluster`, `cluster-parameter-group`,
//! `cluster-security-group`, `cluster-snapshot`, `scheduled-action`), `Message`,
//! `EventCategories` (`configuration`, `management`, `monitoring`, `security`, `pending`),
//! `Severity` (`INFO`, `ERROR`), `Date`, `EventId` (the kind of event, `REDSHIFT-EVENT-2000`).
//!
//! **Classes, and why** (OCSF 1.1.0, `events/findings/*.json`, `events/iam/*.json`):
//!
//! - **A `security` or `monitoring` event, or any `ERROR` → Detection Finding (2004),
//!   Create (1), status New.** These report something observed about a resource that someone
//!   should look at — a security group changed, a node failed and was replaced, a restore
//!   failed — which is what Detection Finding is for; each event is its own finding
//!   (`finding_info.uid` `<EventId>:<SourceType>:<SourceIdentifier>@<Date>`), its `title` the
//!   message, `types` the categories, `analytic` the event kind (`EventId`, type Rule),
//!   `resources` the source.
//! - **Every other event (`management`, `configuration`, `pending`, at `INFO`) → Entity
//!   Management (3004).** These report what happened to a managed resource — a cluster
//!   created, a parameter group updated, a snapshot deleted, maintenance scheduled — the
//!   class's "create, read, update, and delete operation on a managed entity". The activity is
//!   read from the message: `created` → Create (1), `deleted` → Delete (4), any other change →
//!   Update (3), and a `pending` event (announced, not yet made) → Other (99). `entity` is the
//!   source (`uid`/`name` its identifier, `type` its source type).
//!
//! **Severity:** `INFO` → Informational (1), `ERROR` → High (4): Redshift has two levels, and
//! an `ERROR` event is a failure of the resource. **Every class:** `metadata.uid` a digest of
//! the event (the same event read again gets the same id), `metadata.event_code` the
//! `EventId`, `message` the `Message`, the categories and severity text in `unmapped`.

use std::collections::BTreeMap;

use serde::Deserialize;
use trawl_guest_sdk::{
    ClassDecl, Emitter, Manifest, MapError, Mapper, RawRecord,
    ocsf::{self, *},
    position_uid,
    time::parse_rfc3339_ms,
};

/// The mapper. Stateless; config is ignored.
pub struct RedshiftEvents;

#[cfg(feature = "export")]
trawl_guest_sdk::export_mapper!(RedshiftEvents);

impl Mapper for RedshiftEvents {
    fn new(_config: &serde_json::Value) -> Result<Self, MapError> {
        Ok(RedshiftEvents)
    }

    fn manifest() -> Manifest {
        Manifest::new("redshift_events", env!("CARGO_PKG_VERSION"), vec![ClassDecl::of::<DetectionFinding>(), ClassDecl::of::<EntityManagement>()])
            .describe("Amazon Redshift events to OCSF 1.1.0: security, monitoring and ERROR events → Detection Finding, the others → Entity Management")
            .ocsf(ocsf::VERSION)
            .for_sources(&["redshift_events"])
    }

    fn map(&mut self, rec: &RawRecord<'_>, out: &mut Emitter) -> Result<(), MapError> {
        match map_record(rec)? {
            Event::Finding(e) => out.emit(*e),
            Event::Change(e) => out.emit(*e),
        }
        Ok(())
    }
}

/// One event as OCSF.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A security, monitoring or ERROR event.
    Finding(Box<DetectionFinding>),
    /// What happened to a managed resource.
    Change(Box<EntityManagement>),
}

/// `DescribeEvents`' `Event`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RsEvent<'a> {
    source_identifier: Option<&'a str>,
    source_type: Option<&'a str>,
    message: Option<String>,
    #[serde(default)]
    event_categories: Vec<&'a str>,
    severity: Option<&'a str>,
    date: Option<&'a str>,
    event_id: Option<&'a str>,
}

/// Maps one record.
pub fn map_record(rec: &RawRecord<'_>) -> Result<Event, MapError> {
    let ev: RsEvent<'_> = rec.json()?;
    let date = ev.date.ok_or_else(|| MapError::new("Date: missing"))?;
    let time = parse_rfc3339_ms(date).ok_or_else(|| MapError::new(format!("Date: {date:?} is not a time")))?;
    let source = ev.source_identifier.ok_or_else(|| MapError::new("SourceIdentifier: missing"))?;
    let source_type = ev.source_type.unwrap_or("");
    let event_id = ev.event_id.unwrap_or("");
    let severity_id = match ev.severity {
        Some("ERROR") => severity::HIGH,
        Some("INFO") => severity::INFORMATIONAL,
        Some(_) => severity::OTHER,
        None => severity::UNKNOWN,
    };
    let has = |c: &str| ev.event_categories.iter().any(|x| x.eq_ignore_ascii_case(c));
    let cloud = Cloud {
        provider: "AWS".into(),
        region: rec.region.map(str::to_string),
        account: Some(Account { uid: rec.aws_account_id.map(str::to_string), name: Some(rec.connector.to_string()), type_: Some("AWS Account".into()), type_id: Some(10) }),
        zone: None,
    };
    let metadata = Metadata {
        version: ocsf::VERSION.into(),
        product: Product { name: Some("Amazon Redshift".into()), vendor_name: "AWS".into(), feature: Some(Feature { name: Some("Events".into()) }), ..Default::default() },
        uid: Some(position_uid(std::str::from_utf8(rec.bytes).unwrap_or(""), 0, 0)),
        event_code: ev.event_id.map(str::to_string),
        log_provider: Some("Amazon Redshift events".into()),
        original_time: Some(date.to_string()),
        profiles: Some(vec!["cloud".into(), "datetime".into()]),
        ..Default::default()
    };
    let mut unmapped = BTreeMap::from([("EventCategories".to_string(), ev.event_categories.join(",")), ("SourceType".to_string(), source_type.to_string())]);
    if let Some(s) = ev.severity {
        unmapped.insert("Severity".into(), s.into());
    }
    if has("security") || has("monitoring") || ev.severity == Some("ERROR") {
        let mut e = DetectionFinding::new(time, 1, severity_id);
        e.status_id = Some(finding_status::NEW);
        e.status = Some(finding_status::name(finding_status::NEW).into());
        e.finding_info = FindingInfo {
            uid: format!("{event_id}:{source_type}:{source}@{date}"),
            title: ev.message.clone().unwrap_or_else(|| format!("{event_id} on {source_type} {source}")),
            types: Some(ev.event_categories.iter().map(|c| c.to_string()).collect()),
            created_time: Some(time),
            first_seen_time: Some(time),
            analytic: Some(Analytic { type_id: 1, type_: Some("Rule".into()), name: ev.event_id.map(str::to_string), uid: ev.event_id.map(str::to_string) }),
            ..Default::default()
        };
        e.resources = Some(vec![ResourceDetails { uid: Some(source.into()), name: Some(source.into()), type_: Some(source_type.into()), owner: None, data: None }]);
        (e.message, e.cloud, e.metadata, e.unmapped) = (ev.message, cloud, metadata, Some(unmapped));
        return Ok(Event::Finding(Box::new(e)));
    }
    let text = ev.message.as_deref().unwrap_or("").to_ascii_lowercase();
    let activity = if has("pending") {
        99
    } else if text.contains("created") {
        1
    } else if text.contains("deleted") {
        4
    } else {
        3
    };
    let mut e = EntityManagement::new(time, activity, severity_id);
    e.entity = ManagedEntity { uid: Some(source.into()), name: Some(source.into()), type_: Some(source_type.into()), version: None, data: None };
    // A pending event announces a change not made yet: no outcome.
    if activity != 99 {
        e.set_status(status::SUCCESS);
    }
    (e.message, e.cloud, e.metadata, e.unmapped) = (ev.message, cloud, metadata, Some(unmapped));
    Ok(Event::Change(Box::new(e)))
}
