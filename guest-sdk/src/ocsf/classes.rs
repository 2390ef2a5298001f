use serde::{Deserialize, Serialize};

use super::*;
use crate::{MapError, OcsfEvent, RawRecord};

/// API Activity (6003), category Application Activity (6). OCSF 1.1.0.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ApiActivity {
    /// Event time.
    pub time: i64,
    /// 6003.
    pub class_uid: i32,
    /// `API Activity`.
    pub class_name: String,
    /// 6.
    pub category_uid: i32,
    /// `Application Activity`.
    pub category_name: String,
    /// 1 Create, 2 Read, 3 Update, 4 Delete, 0 Unknown, 99 Other.
    pub activity_id: i32,
    /// Caption of the activity.
    pub activity_name: String,
    /// class_uid × 100 + activity_id.
    pub type_uid: i64,
    /// `API Activity: <activity>`.
    pub type_name: String,
    /// Severity id.
    pub severity_id: i32,
    /// Severity caption.
    pub severity: String,
    /// Status id.
    pub status_id: Option<i32>,
    /// Status caption.
    pub status: Option<String>,
    /// Source status code (CloudTrail `errorCode`).
    pub status_code: Option<String>,
    /// Source status detail (CloudTrail `errorMessage`).
    pub status_detail: Option<String>,
    /// Who did it.
    pub actor: Actor,
    /// What was called.
    pub api: Api,
    /// Where the call came from.
    pub src_endpoint: NetworkEndpoint,
    /// HTTP details.
    pub http_request: Option<HttpRequest>,
    /// Resources the call touched.
    pub resources: Option<Vec<ResourceDetails>>,
    /// Cloud, region and account.
    pub cloud: Cloud,
    /// Event metadata.
    pub metadata: Metadata,
    /// Source fields with no OCSF home: each top-level field's value as text (a string as
    /// itself, anything else as its JSON). An Arrow map, so Parquet holds MAP<string,string>
    /// and NDJSON an object, as Amazon Security Lake stores `unmapped`.
    pub unmapped: Option<std::collections::BTreeMap<String, String>>,
}

impl OcsfEvent for ApiActivity {
    const CLASS_UID: i32 = 6003;
    const CLASS_NAME: &'static str = "api_activity";
}

impl ApiActivity {
    /// Caption of an API Activity `activity_id`.
    pub fn activity_name(id: i32) -> &'static str {
        match id {
            1 => "Create",
            2 => "Read",
            3 => "Update",
            4 => "Delete",
            99 => "Other",
            _ => "Unknown",
        }
    }
}

/// Authentication (3002), category Identity & Access Management (3). OCSF 1.1.0.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Authentication {
    /// Event time.
    pub time: i64,
    /// 3002.
    pub class_uid: i32,
    /// `Authentication`.
    pub class_name: String,
    /// 3.
    pub category_uid: i32,
    /// `Identity & Access Management`.
    pub category_name: String,
    /// 1 Logon, 2 Logoff, 0 Unknown, 99 Other.
    pub activity_id: i32,
    /// Caption of the activity.
    pub activity_name: String,
    /// class_uid × 100 + activity_id.
    pub type_uid: i64,
    /// `Authentication: <activity>`.
    pub type_name: String,
    /// Severity id.
    pub severity_id: i32,
    /// Severity caption.
    pub severity: String,
    /// Status id.
    pub status_id: Option<i32>,
    /// Status caption.
    pub status: Option<String>,
    /// Source status code.
    pub status_code: Option<String>,
    /// Source status detail.
    pub status_detail: Option<String>,
    /// The user who logged on (required).
    pub user: User,
    /// Who acted, when not the user.
    pub actor: Option<Actor>,
    /// Whether MFA was used.
    pub is_mfa: Option<bool>,
    /// Where the logon came from.
    pub src_endpoint: Option<NetworkEndpoint>,
    /// Where the user signed in to (OCSF requires this or `service`).
    pub dst_endpoint: Option<NetworkEndpoint>,
    /// The service authenticated with.
    pub service: Option<Service>,
    /// HTTP details.
    pub http_request: Option<HttpRequest>,
    /// Cloud, region and account.
    pub cloud: Cloud,
    /// Event metadata.
    pub metadata: Metadata,
    /// Source fields with no OCSF home: each top-level field's value as text (a string as
    /// itself, anything else as its JSON). An Arrow map, so Parquet holds MAP<string,string>
    /// and NDJSON an object, as Amazon Security Lake stores `unmapped`.
    pub unmapped: Option<std::collections::BTreeMap<String, String>>,
}

impl OcsfEvent for Authentication {
    const CLASS_UID: i32 = 3002;
    const CLASS_NAME: &'static str = "authentication";
}

impl Authentication {
    /// Caption of an Authentication `activity_id`.
    pub fn activity_name(id: i32) -> &'static str {
        match id {
            1 => "Logon",
            2 => "Logoff",
            3 => "Authentication Ticket",
            99 => "Other",
            _ => "Unknown",
        }
    }
}

/// A raw record with its provenance, unnormalized (not an OCSF class: `class_uid` 0).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RawEvent {
    /// The event's own time when the mapper could find one, else the ingest time.
    pub time: i64,
    /// The record as text, exactly as read.
    pub raw: String,
    /// Connector account name.
    pub connector: String,
    /// Source kind.
    pub source_kind: String,
    /// AWS account id, when known.
    pub aws_account_id: Option<String>,
    /// Region, when known.
    pub region: Option<String>,
    /// Object the record came from.
    pub object: String,
    /// Index in the object.
    pub record_index: u64,
    /// Byte offset in the decompressed object.
    pub byte_offset: u64,
    /// When trawl read it.
    pub ingest_time: i64,
}

impl OcsfEvent for RawEvent {
    const CLASS_UID: i32 = 0;
    const CLASS_NAME: &'static str = "raw";
}

impl RawEvent {
    /// The record and its provenance; fails if the record is not UTF-8.
    pub fn from_record(rec: &RawRecord<'_>, time: i64) -> Result<Self, MapError> {
        Ok(Self {
            time,
            raw: rec.text()?.to_string(),
            connector: rec.connector.to_string(),
            source_kind: rec.source_kind.to_string(),
            aws_account_id: rec.aws_account_id.map(str::to_string),
            region: rec.region.map(str::to_string),
            object: rec.object.to_string(),
            record_index: rec.record_index,
            byte_offset: rec.byte_offset,
            ingest_time: rec.ingest_time_ms,
        })
    }
}
