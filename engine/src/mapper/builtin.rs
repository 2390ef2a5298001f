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

/// `(sha256 of the module, size of the code, zstd-compressed code)` of each standard mapper,
/// precompiled for the build host by `engine/build.rs`. Empty when cross-compiled.
const PRECOMPILED: &[(&str, usize, &[u8])] = include!(concat!(env!("OUT_DIR"), "/precompiled.rs"));

/// The machine code precompiled at build time for the module with this sha256 (hex), if any:
/// input for `Module::deserialize`, which checks that it fits the running engine.
pub(crate) fn precompiled(sha256_hex: &str) -> Option<Vec<u8>> {
    let (_, size, packed) = PRECOMPILED.iter().find(|(digest, _, _)| *digest == sha256_hex)?;
    match zstd::bulk::decompress(packed, *size) {
        Ok(code) => Some(code),
        Err(e) => {
            tracing::warn!("the precompiled code of a standard mapper does not decompress ({e}); compiling it instead");
            None
        }
    }
}
