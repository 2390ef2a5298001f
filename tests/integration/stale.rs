//! The embedded standard mappers (`mappers/dist/*.wasm`) must match their sources.
//!
//! `mappers/build.sh` records a digest of each mapper's sources (its crate, the guest SDK, the
//! lock file) beside the module; a source change without a rebuild fails here. When
//! `TRAWL_FRESH_MAPPERS` names a directory of freshly built modules (tests/run.sh builds them),
//! they must also map the sample data exactly as the embedded ones do.

use std::process::Command;

use trawl::mapper::{BatchMapper, MapperLimits, WasmMapper, BUILTIN_MAPPERS};

use crate::{
    common::{log_files, raw_batch_of, repo, sample_trail},
    golden::load_builtin,
};

#[test]
fn embedded_mappers_are_built_from_the_current_sources() {
    for (name, _) in BUILTIN_MAPPERS {
        let out = Command::new("bash").arg(repo().join("mappers/source-digest.sh")).arg(repo().join("mappers").join(name)).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let now = String::from_utf8(out.stdout).unwrap();
        let recorded = std::fs::read_to_string(repo().join(format!("mappers/dist/{name}.wasm.source-digest"))).unwrap();
        assert_eq!(
            now.trim(),
            recorded.trim(),
            "mappers/dist/{name}.wasm is stale: its sources changed since it was built. Run mappers/build.sh and commit mappers/dist/."
        );
    }
}

#[test]
fn freshly_built_mappers_behave_like_the_embedded_ones() {
    let Some(dir) = std::env::var_os("TRAWL_FRESH_MAPPERS") else {
        eprintln!("TRAWL_FRESH_MAPPERS not set; tests/run.sh sets it after building the mappers from source");
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    for (name, embedded_bytes) in BUILTIN_MAPPERS {
        let fresh_bytes = std::fs::read(dir.join(format!("{name}.wasm"))).unwrap();
        let fresh = WasmMapper::load(&fresh_bytes, name, None, &serde_json::Value::Null, MapperLimits::default()).unwrap();
        let embedded = load_builtin(name);
        assert_eq!(fresh.manifest(), embedded.manifest(), "{name}");
        for f in log_files(&sample_trail()) {
            let batch = raw_batch_of(&f, "dev");
            assert_eq!(fresh.map(&batch).unwrap().to_json(&batch), embedded.map(&batch).unwrap().to_json(&batch), "{name} on {}", f.display());
        }
        if fresh_bytes != *embedded_bytes {
            eprintln!("note: {name}.wasm differs byte-wise from the fresh build (toolchain route differs) but maps identically");
        }
    }
}
