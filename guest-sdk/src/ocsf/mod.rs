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

/// OCSF `severity_id` values.
pub mod severity {
    /// Unknown.
    pub const UNKNOWN: i32 = 0;
    /// Informational.
    pub const INFORMATIONAL: i32 = 1;
    /// Low.
    pub const LOW: i32 = 2;
    /// Medium.
    pub const MEDIUM: i32 = 3;
    /// High.
    pub const HIGH: i32 = 4;
    /// Critical.
    pub const CRITICAL: i32 = 5;

    /// The caption OCSF gives a severity id.
    pub fn name(id: i32) -> &'static str {
        match id {
            1 => "Informational",
            2 => "Low",
            3 => "Medium",
            4 => "High",
            5 => "Critical",
            6 => "Fatal",
            99 => "Other",
            _ => "Unknown",
        }
    }
}

/// OCSF `status_id` values (base event).
pub mod status {
    /// Unknown.
    pub const UNKNOWN: i32 = 0;
    /// Success.
    pub const SUCCESS: i32 = 1;
    /// Failure.
    pub const FAILURE: i32 = 2;

    /// The caption OCSF gives a status id.
    pub fn name(id: i32) -> &'static str {
        match id {
            1 => "Success",
            2 => "Failure",
            99 => "Other",
            _ => "Unknown",
        }
    }
}

/// OCSF finding `status_id` values (Detection Finding, Vulnerability Finding, …): the state
/// of the finding's review, not the success of an operation.
pub mod finding_status {
    /// New: not yet reviewed.
    pub const NEW: i32 = 1;
    /// In Progress.
    pub const IN_PROGRESS: i32 = 2;
    /// Suppressed.
    pub const SUPPRESSED: i32 = 3;
    /// Resolved.
    pub const RESOLVED: i32 = 4;

    /// The caption OCSF gives a finding status id.
    pub fn name(id: i32) -> &'static str {
        match id {
            1 => "New",
            2 => "In Progress",
            3 => "Suppressed",
            4 => "Resolved",
            99 => "Other",
            _ => "Unknown",
        }
    }
}
