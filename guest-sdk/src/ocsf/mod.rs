//! OCSF 1.1.0 types: the objects and the event classes trawl's standard mappers emit.
//!
//! Field names and nesting follow the OCSF 1.1.0 schema (`objects/*.json`,
//! `events/**.json`); only attributes the standard mappers fill are present. `i64` `*_time`
//! fields are milliseconds since the epoch (OCSF `timestamp_t`). Required attributes of each
//! class are non-`Option` fields, so an event without them cannot be built.

mod classes;
mod objects;

pub use classes::*;
pub use objects::*;

/// The OCSF version these types follow.
pub const VERSION: &str = "1.1.0";

/// Declares an OCSF enum as a module: a constant per id and `name`, the caption OCSF gives
/// each (ids it does not list are `Unknown`). `tests/integration/ocsf.rs` checks every
/// caption against the schema.
macro_rules! ocsf_enum {
    ($(#[$meta:meta])* $name:ident { $($c:ident = $id:literal => $caption:literal),* $(,)? }) => {
        $(#[$meta])*
        pub mod $name {
            $( #[doc = $caption] pub const $c: i32 = $id; )*
            /// Every id with its caption, in order.
            pub const ALL: &[(i32, &str)] = &[$(($id, $caption)),*];

            /// The caption OCSF gives an id.
            pub fn name(id: i32) -> &'static str {
                match id {
                    $($id => $caption,)*
                    _ => "Unknown",
                }
            }
        }
    };
}

ocsf_enum! {
    /// `action_id` (the `security_control` profile): what a control did.
    action {
        UNKNOWN = 0 => "Unknown",
        ALLOWED = 1 => "Allowed",
        DENIED = 2 => "Denied",
    }
}

ocsf_enum! {
    /// `disposition_id` (the `security_control` profile): the outcome.
    disposition {
        UNKNOWN = 0 => "Unknown", ALLOWED = 1 => "Allowed", BLOCKED = 2 => "Blocked", QUARANTINED = 3 => "Quarantined",
        ISOLATED = 4 => "Isolated", DELETED = 5 => "Deleted", DROPPED = 6 => "Dropped", CUSTOM_ACTION = 7 => "Custom Action",
        APPROVED = 8 => "Approved", RESTORED = 9 => "Restored", EXONERATED = 10 => "Exonerated", CORRECTED = 11 => "Corrected",
        PARTIALLY_CORRECTED = 12 => "Partially Corrected", UNCORRECTED = 13 => "Uncorrected", DELAYED = 14 => "Delayed",
        DETECTED = 15 => "Detected", NO_ACTION = 16 => "No Action", LOGGED = 17 => "Logged", TAGGED = 18 => "Tagged",
        ALERT = 19 => "Alert", COUNT = 20 => "Count", RESET = 21 => "Reset", CAPTCHA = 22 => "Captcha",
        CHALLENGE = 23 => "Challenge", ACCESS_REVOKED = 24 => "Access Revoked", REJECTED = 25 => "Rejected",
        UNAUTHORIZED = 26 => "Unauthorized", ERROR = 27 => "Error", OTHER = 99 => "Other",
    }
}

ocsf_enum! {
    /// `network_connection_info.direction_id`.
    direction {
        UNKNOWN = 0 => "Unknown",
        INBOUND = 1 => "Inbound",
        OUTBOUND = 2 => "Outbound",
        LATERAL = 3 => "Lateral",
        OTHER = 99 => "Other",
    }
}

ocsf_enum! {
    /// `network_connection_info.boundary_id`: the boundary a connection crossed (VPC Flow Logs'
    /// `traffic-path` 1–8 are 4–11).
    boundary {
        UNKNOWN = 0 => "Unknown", LOCALHOST = 1 => "Localhost", INTERNAL = 2 => "Internal", EXTERNAL = 3 => "External",
        SAME_VPC = 4 => "Same VPC", INTERNET_VPC_GATEWAY = 5 => "Internet/VPC Gateway", VIRTUAL_PRIVATE_GATEWAY = 6 => "Virtual Private Gateway",
        INTRA_REGION_VPC = 7 => "Intra-region VPC", INTER_REGION_VPC = 8 => "Inter-region VPC", LOCAL_GATEWAY = 9 => "Local Gateway",
        GATEWAY_VPC = 10 => "Gateway VPC", INTERNET_GATEWAY = 11 => "Internet Gateway", OTHER = 99 => "Other",
    }
}

ocsf_enum! {
    /// `network_connection_info.protocol_ver_id`: the IP version.
    protocol_ver {
        UNKNOWN = 0 => "Unknown",
        IPV4 = 4 => "Internet Protocol version 4 (IPv4)",
        IPV6 = 6 => "Internet Protocol version 6 (IPv6)",
        OTHER = 99 => "Other",
    }
}

ocsf_enum! {
    /// `auth_protocol_id` (Authentication).
    auth_protocol {
        UNKNOWN = 0 => "Unknown", NTLM = 1 => "NTLM", KERBEROS = 2 => "Kerberos", DIGEST = 3 => "Digest", OPENID = 4 => "OpenID",
        SAML = 5 => "SAML", OAUTH2 = 6 => "OAUTH 2.0", PAP = 7 => "PAP", CHAP = 8 => "CHAP", EAP = 9 => "EAP",
        RADIUS = 10 => "RADIUS", OTHER = 99 => "Other",
    }
}

ocsf_enum! {
    /// `user.type_id`.
    user_type {
        UNKNOWN = 0 => "Unknown",
        USER = 1 => "User",
        ADMIN = 2 => "Admin",
        SYSTEM = 3 => "System",
        OTHER = 99 => "Other",
    }
}

ocsf_enum! {
    /// `database.type_id`.
    database_type {
        UNKNOWN = 0 => "Unknown", RELATIONAL = 1 => "Relational", NETWORK = 2 => "Network", CLOUD = 3 => "Cloud",
        CENTRALIZED = 4 => "Centralized", OPERATIONAL = 5 => "Operational", NOSQL = 6 => "NoSQL", OTHER = 99 => "Other",
    }
}

ocsf_enum! {
    /// `databucket.type_id`.
    databucket_type {
        UNKNOWN = 0 => "Unknown", S3 = 1 => "S3", AZURE_BLOB = 2 => "Azure Blob", GCP_BUCKET = 3 => "GCP Bucket", OTHER = 99 => "Other",
    }
}

ocsf_enum! {
    /// Datastore Activity's `type_id`: the kind of datastore resource.
    datastore_type {
        UNKNOWN = 0 => "Unknown",
        DATABASE = 1 => "Database",
        DATABUCKET = 2 => "Databucket",
        TABLE = 3 => "Table",
        OTHER = 99 => "Other",
    }
}

ocsf_enum! {
    /// `severity_id` (base event).
    severity {
        UNKNOWN = 0 => "Unknown", INFORMATIONAL = 1 => "Informational", LOW = 2 => "Low", MEDIUM = 3 => "Medium",
        HIGH = 4 => "High", CRITICAL = 5 => "Critical", FATAL = 6 => "Fatal", OTHER = 99 => "Other",
    }
}

ocsf_enum! {
    /// `status_id` (base event): whether the activity succeeded.
    status {
        UNKNOWN = 0 => "Unknown", SUCCESS = 1 => "Success", FAILURE = 2 => "Failure", OTHER = 99 => "Other",
    }
}

ocsf_enum! {
    /// Findings' `status_id` (Detection Finding, Vulnerability Finding, …): the state of the
    /// finding's review, not the success of an operation.
    finding_status {
        UNKNOWN = 0 => "Unknown", NEW = 1 => "New", IN_PROGRESS = 2 => "In Progress", SUPPRESSED = 3 => "Suppressed",
        RESOLVED = 4 => "Resolved", OTHER = 99 => "Other",
    }
}
