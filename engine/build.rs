//! Precompiles the standard mappers (`mappers/dist/*.wasm`, which the binary embeds) to
//! machine code for the build host, so a first run on a fresh state dir starts mapping at
//! once instead of compiling ~4 MB of wasm per mapper (seconds each). The code is embedded
//! zstd-compressed, keyed by the module's sha256; at run time `Module::deserialize` checks it
//! against the running engine (wasmtime version, settings, the CPU's features) and trawl
//! compiles the module as before when it does not fit.
//!
//! Skipped (an empty table) when cross-compiling, or with `TRAWL_PRECOMPILE=0`.

use std::{fmt::Write as _, path::Path};

use sha2::{Digest, Sha256};

include!("src/mapper/engine_config.rs");

fn main() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mappers/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    println!("cargo:rerun-if-changed=src/mapper/engine_config.rs");
    println!("cargo:rerun-if-env-changed=TRAWL_PRECOMPILE");
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let cross = std::env::var("TARGET").ok() != std::env::var("HOST").ok();
    let off = std::env::var("TRAWL_PRECOMPILE").is_ok_and(|v| v == "0");
    let mut table = String::from("&[\n");
    if !cross && !off {
        let engine = wasmtime::Engine::new(&mapper_compile_config(false, false)).expect("wasmtime engine config is valid");
        let mut modules: Vec<_> = std::fs::read_dir(&dist)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "wasm")).collect())
            .unwrap_or_default();
        modules.sort();
        for path in modules {
            let wasm = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let code = match engine.precompile_module(&wasm) {
                Ok(c) => c,
                Err(e) => {
                    // Not fatal: the module is then compiled when a run first loads it.
                    println!("cargo:warning=cannot precompile {}: {e:#}", path.display());
                    continue;
                }
            };
            let packed = zstd::bulk::compress(&code, 3).expect("zstd compresses");
            let name = path.file_stem().expect("a file name").to_string_lossy().into_owned();
            let file = out_dir.join(format!("{name}.cwasm.zst"));
            std::fs::write(&file, packed).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let digest = hex::encode(Sha256::digest(&wasm));
            writeln!(table, "    ({digest:?}, {}, include_bytes!({:?})),", code.len(), file.display()).expect("write to a String");
        }
    }
    table.push(']');
    std::fs::write(out_dir.join("precompiled.rs"), table).expect("write precompiled.rs");
}
