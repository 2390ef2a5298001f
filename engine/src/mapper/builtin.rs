//! The standard mappers, embedded so `trawl` runs with no wasm toolchain. Built from
//! `mappers/<name>/` by `mappers/build.sh`; a test fails when these are stale.

/// `(name, module bytes)` of every embedded mapper.
pub const BUILTIN_MAPPERS: &[(&str, &[u8])] = &[
    ("cloudtrail", include_bytes!("../../../mappers/dist/cloudtrail.wasm")),
    ("guardduty", include_bytes!("../../../mappers/dist/guardduty.wasm")),
    ("shield", include_bytes!("../../../mappers/dist/shield.wasm")),
    ("passthrough", include_bytes!("../../../mappers/dist/passthrough.wasm")),
    ("redshift", include_bytes!("../../../mappers/dist/redshift.wasm")),
    ("iam", include_bytes!("../../../mappers/dist/iam.wasm")),
    ("vpc_flow", include_bytes!("../../../mappers/dist/vpc_flow.wasm")),
    ("cloudwatch_alarms", include_bytes!("../../../mappers/dist/cloudwatch_alarms.wasm")),
    ("redshift_events", include_bytes!("../../../mappers/dist/redshift_events.wasm")),
    ("inspector", include_bytes!("../../../mappers/dist/inspector.wasm")),
    ("macie", include_bytes!("../../../mappers/dist/macie.wasm")),
];

/// The module bytes of builtin mapper `name`.
pub fn builtin_wasm(name: &str) -> Option<&'static [u8]> {
    BUILTIN_MAPPERS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}
