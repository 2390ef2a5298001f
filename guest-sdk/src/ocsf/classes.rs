use serde::{Deserialize, Serialize};

use super::*;
use crate::{MapError, OcsfEvent, RawRecord};

/// Declares an OCSF event class: the base-event attributes every class shares (written once,
/// here), then the class's own, then `unmapped`. It also generates the class constants, the
/// caption of each `activity_id`, and [`new`](ApiActivity::new), which fills the
/// classification attributes (`class_*`, `category_*`, `activity_*`, `type_*`, severity) so a
/// mapper cannot get their captions or `type_uid` wrong. A class whose type has attributes
/// of further profiles lists them (`profiles: ["security_control"]`). Adding a class is one invocation;
/// `tests/integration/ocsf.rs` checks every generated type against the official schema
/// (attribute names, types, required attributes, enum captions), so none can drift from it.
macro_rules! ocsf_class {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            uid: $uid:literal, name: $snake:literal, caption: $caption:literal,
            category: ($cat_uid:literal, $cat_name:literal),
            activities: { $($act_id:literal => $act_name:literal),* $(,)? },
            $(profiles: [$($profile:literal),* $(,)?],)?
        }
        { $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
        pub struct $name {
            /// Event time (`timestamp_t`: ms since the epoch).
            pub time: i64,
            /// The same instant as a TIMESTAMP (ms, UTC) column: the `datetime` profile's
            /// `time_dt`, which Security Lake queries filter on.
            pub time_dt: Option<i64>,
            /// The class uid.
            pub class_uid: i32,
            /// The class caption.
            pub class_name: String,
            /// The category uid.
            pub category_uid: i32,
            /// The category caption.
            pub category_name: String,
            /// The activity (see `activity_name`).
            pub activity_id: i32,
            /// Caption of the activity.
            pub activity_name: String,
            /// class_uid × 100 + activity_id.
            pub type_uid: i64,
            /// `<class caption>: <activity caption>`.
            pub type_name: String,
            /// Severity id ([`severity`]).
            pub severity_id: i32,
            /// Severity caption.
            pub severity: String,
            /// Status id (the class's enum: [`status`] for most, finding states for findings).
            pub status_id: Option<i32>,
            /// Status caption.
            pub status: Option<String>,
            /// The source's status or error code.
            pub status_code: Option<String>,
            /// The source's status or error text.
            pub status_detail: Option<String>,
            /// A short description of the event.
            pub message: Option<String>,
            /// Start of the time the event covers.
            pub start_time: Option<i64>,
            /// End of the time the event covers.
            pub end_time: Option<i64>,
            $( $(#[$fmeta])* pub $field: $ty, )*
            /// Cloud, region and account (the `cloud` profile; trawl's events all have it).
            pub cloud: Cloud,
            /// Event metadata.
            pub metadata: Metadata,
            /// Source fields with no OCSF home, each value as text (a string as itself,
            /// anything else as its JSON). An Arrow map, so Parquet holds MAP<string,string>
            /// and NDJSON an object, as Amazon Security Lake stores `unmapped`.
            pub unmapped: Option<std::collections::BTreeMap<String, String>>,
        }

        impl OcsfEvent for $name {
            const CLASS_UID: i32 = $uid;
            const CLASS_NAME: &'static str = $snake;
        }

        impl $name {
            /// The class caption.
            pub const CAPTION: &'static str = $caption;
            /// The category uid.
            pub const CATEGORY_UID: i32 = $cat_uid;
            /// The category caption.
            pub const CATEGORY_NAME: &'static str = $cat_name;
            /// The `activity_id` values OCSF defines for the class (besides 0 and 99).
            pub const ACTIVITIES: &'static [i32] = &[$($act_id),*];
            /// The profiles whose attributes the type has: `cloud` and `datetime` for every
            /// class, and the class's own (`security_control` for Network Activity). Events
            /// list them in `metadata.profiles`.
            pub const PROFILES: &'static [&'static str] = &["cloud", "datetime" $($(, $profile)*)?];

            /// Caption of an `activity_id`.
            pub fn activity_name(id: i32) -> &'static str {
                match id {
                    $($act_id => $act_name,)*
                    99 => "Other",
                    _ => "Unknown",
                }
            }

            /// An event of the class with its classification filled in and everything else
            /// empty: `time` (and `time_dt`), the activity, the severity.
            pub fn new(time: i64, activity_id: i32, severity_id: i32) -> Self {
                let activity = Self::activity_name(activity_id);
                Self {
                    time,
                    time_dt: Some(time),
                    class_uid: $uid,
                    class_name: $caption.into(),
                    category_uid: $cat_uid,
                    category_name: $cat_name.into(),
                    activity_id,
                    activity_name: activity.into(),
                    type_uid: $uid as i64 * 100 + activity_id as i64,
                    type_name: format!("{}: {activity}", $caption),
                    severity_id,
                    severity: severity::name(severity_id).into(),
                    ..Default::default()
                }
            }

            /// Sets `status_id` and its caption from the base event's [`status`] enum.
            pub fn set_status(&mut self, id: i32) {
                self.status_id = Some(id);
                self.status = Some(status::name(id).into());
            }
        }
    };
}

ocsf_class! {
    /// API Activity (6003), category Application Activity (6). OCSF 1.1.0.
    pub struct ApiActivity {
        uid: 6003, name: "api_activity", caption: "API Activity",
        category: (6, "Application Activity"),
        activities: { 1 => "Create", 2 => "Read", 3 => "Update", 4 => "Delete" },
    }
    {
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
    }
}

ocsf_class! {
    /// Authentication (3002), category Identity & Access Management (3). OCSF 1.1.0.
    pub struct Authentication {
        uid: 3002, name: "authentication", caption: "Authentication",
        category: (3, "Identity & Access Management"),
        activities: {
            1 => "Logon", 2 => "Logoff", 3 => "Authentication Ticket", 4 => "Service Ticket Request",
            5 => "Service Ticket Renew",
        },
    }
    {
        /// The user who logged on, or whose credentials were issued (required).
        pub user: User,
        /// Who acted, when not the user.
        pub actor: Option<Actor>,
        /// The API call that authenticated (the `cloud` profile's `api`).
        pub api: Option<Api>,
        /// Whether MFA was used.
        pub is_mfa: Option<bool>,
        /// The session the logon created.
        pub session: Option<Session>,
        /// Where the logon came from.
        pub src_endpoint: Option<NetworkEndpoint>,
        /// Where the user signed in to (OCSF requires this or `service`).
        pub dst_endpoint: Option<NetworkEndpoint>,
        /// The service authenticated with.
        pub service: Option<Service>,
        /// HTTP details.
        pub http_request: Option<HttpRequest>,
        /// [`auth_protocol`] id.
        pub auth_protocol_id: Option<i32>,
        /// Caption of `auth_protocol_id`, or the source's own name when it is Other (99).
        pub auth_protocol: Option<String>,
        /// Whether the logon came from another host.
        pub is_remote: Option<bool>,
        /// How long the session or the event lasted, in milliseconds.
        pub duration: Option<i32>,
    }
}

ocsf_class! {
    /// Account Change (3001), category Identity & Access Management (3): a user, role or its
    /// policies, credentials or MFA changed. OCSF 1.1.0.
    pub struct AccountChange {
        uid: 3001, name: "account_change", caption: "Account Change",
        category: (3, "Identity & Access Management"),
        activities: {
            1 => "Create", 2 => "Enable", 3 => "Password Change", 4 => "Password Reset", 5 => "Disable",
            6 => "Delete", 7 => "Attach Policy", 8 => "Detach Policy", 9 => "Lock", 10 => "MFA Factor Enable",
            11 => "MFA Factor Disable",
        },
    }
    {
        /// The user or role changed (required).
        pub user: User,
        /// Who changed it.
        pub actor: Option<Actor>,
        /// The API call that changed it (the `cloud` profile's `api`).
        pub api: Option<Api>,
        /// The policy attached, detached or written.
        pub policy: Option<Policy>,
        /// The user as the change left it (a renamed user's new name).
        pub user_result: Option<User>,
        /// Where the call came from.
        pub src_endpoint: Option<NetworkEndpoint>,
        /// HTTP details.
        pub http_request: Option<HttpRequest>,
    }
}

ocsf_class! {
    /// Detection Finding (2004), category Findings (2): a detection or an anomaly, such as a
    /// CloudTrail Insights event. Its `status_id` is the finding's state ([`finding_status`]).
    /// OCSF 1.1.0.
    pub struct DetectionFinding {
        uid: 2004, name: "detection_finding", caption: "Detection Finding",
        category: (2, "Findings"),
        activities: { 1 => "Create", 2 => "Update", 3 => "Close" },
    }
    {
        /// What was found (required).
        pub finding_info: FindingInfo,
        /// The API the finding is about (the `cloud` profile's `api`).
        pub api: Option<Api>,
        /// Resources the finding is about.
        pub resources: Option<Vec<ResourceDetails>>,
        /// What the detector saw: the API call, connection or DNS query behind the finding.
        pub evidences: Option<Vec<Evidence>>,
        /// How many times the activity was seen (GuardDuty's `service.count`).
        pub count: Option<i32>,
    }
}

ocsf_class! {
    /// Network Activity (4001), category Network Activity (4): connections and traffic, such as
    /// a VPC flow log record. Has the `security_control` profile's `action` and `disposition`.
    /// OCSF 1.1.0.
    pub struct NetworkActivity {
        uid: 4001, name: "network_activity", caption: "Network Activity",
        category: (4, "Network Activity"),
        activities: { 1 => "Open", 2 => "Close", 3 => "Reset", 4 => "Fail", 5 => "Refuse", 6 => "Traffic" },
        profiles: ["security_control"],
    }
    {
        /// The same instant as `start_time`, as a TIMESTAMP column (`datetime` profile).
        pub start_time_dt: Option<i64>,
        /// The same instant as `end_time`, as a TIMESTAMP column (`datetime` profile).
        pub end_time_dt: Option<i64>,
        /// The initiator of the connection (required).
        pub src_endpoint: NetworkEndpoint,
        /// The responder (required).
        pub dst_endpoint: NetworkEndpoint,
        /// Protocol, direction, boundary, TCP flags.
        pub connection_info: Option<NetworkConnectionInfo>,
        /// Bytes and packets.
        pub traffic: Option<NetworkTraffic>,
        /// [`action`] id: what the control did (required by `security_control`).
        pub action_id: i32,
        /// Caption of `action_id`.
        pub action: Option<String>,
        /// [`disposition`] id: the outcome.
        pub disposition_id: Option<i32>,
        /// Caption of `disposition_id`.
        pub disposition: Option<String>,
        /// Data from other sources about the event's attributes (e.g. the EC2 instance behind
        /// an address).
        pub enrichments: Option<Vec<Enrichment>>,
    }
}

ocsf_class! {
    /// Datastore Activity (6005), category Application Activity (6): reads, writes and queries
    /// of a database or bucket, such as a Redshift query. OCSF 1.1.0.
    pub struct DatastoreActivity {
        uid: 6005, name: "datastore_activity", caption: "Datastore Activity",
        category: (6, "Application Activity"),
        activities: { 1 => "Read", 2 => "Update", 3 => "Connect", 4 => "Query", 5 => "Write", 6 => "Create", 7 => "Delete" },
    }
    {
        /// Who did it (required).
        pub actor: Actor,
        /// Where it came from (required).
        pub src_endpoint: NetworkEndpoint,
        /// The endpoint hosting the datastore.
        pub dst_endpoint: Option<NetworkEndpoint>,
        /// The database (OCSF needs one of `database`, `databucket`, `table`).
        pub database: Option<Database>,
        /// The bucket.
        pub databucket: Option<Databucket>,
        /// The table.
        pub table: Option<Table>,
        /// The query, e.g. the SQL text.
        pub query_info: Option<QueryInfo>,
        /// [`datastore_type`] id: what kind of resource.
        pub type_id: Option<i32>,
        /// Caption of `type_id`.
        #[serde(rename = "type")]
        pub type_: Option<String>,
        /// The API call (the `cloud` profile's `api`).
        pub api: Option<Api>,
        /// HTTP details.
        pub http_request: Option<HttpRequest>,
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

ocsf_class! {
    /// Vulnerability Finding (2002), category Findings (2): weaknesses found in a resource, such
    /// as an Amazon Inspector finding. Its `status_id` is the finding's state
    /// ([`finding_status`]). OCSF 1.1.0 gives it one affected `resource`. OCSF 1.1.0.
    pub struct VulnerabilityFinding {
        uid: 2002, name: "vulnerability_finding", caption: "Vulnerability Finding",
        category: (2, "Findings"),
        activities: { 1 => "Create", 2 => "Update", 3 => "Close" },
    }
    {
        /// What was found (required).
        pub finding_info: FindingInfo,
        /// The vulnerabilities (required).
        pub vulnerabilities: Vec<Vulnerability>,
        /// The affected resource.
        pub resource: Option<ResourceDetails>,
    }
}

ocsf_class! {
    /// Entity Management (3004), category Identity & Access Management (3): a managed entity
    /// (a policy, a configuration such as a CloudWatch alarm's) created, read, updated or
    /// deleted. OCSF 1.1.0.
    pub struct EntityManagement {
        uid: 3004, name: "entity_management", caption: "Entity Management",
        category: (3, "Identity & Access Management"),
        activities: { 1 => "Create", 2 => "Read", 3 => "Update", 4 => "Delete" },
    }
    {
        /// The entity acted on, as it was before (required).
        pub entity: ManagedEntity,
        /// The entity as it is after the change.
        pub entity_result: Option<ManagedEntity>,
        /// Why it was changed, as its author said.
        pub comment: Option<String>,
    }
}

ocsf_class! {
    /// User Inventory Info (5003), category Discovery (5): a user or other security principal
    /// as an inventory found it, such as an IAM user or role from an account's authorization
    /// details. OCSF 1.1.0.
    pub struct UserInventoryInfo {
        uid: 5003, name: "user_inventory", caption: "User Inventory Info",
        category: (5, "Discovery"),
        activities: { 1 => "Log", 2 => "Collect" },
    }
    {
        /// The principal found (required).
        pub user: InventoryUser,
        /// What collected it.
        pub actor: Option<Actor>,
    }
}
