// The wasmtime settings that decide the machine code of a mapper module. Shared, by
// `include!`, between the engine (`wasm.rs`) and the build script that precompiles the
// standard mappers (`engine/build.rs`), so the two cannot drift: a module precompiled with
// other settings would be refused by `Module::deserialize` and compiled again at run time.

/// The compile settings of mapper modules: epoch interruption always (the deadline), fuel
/// metering when `fuel`, Cranelift's inliner when `inline`, optimized for speed.
pub fn mapper_compile_config(fuel: bool, inline: bool) -> wasmtime::Config {
    let mut cfg = wasmtime::Config::new();
    cfg.consume_fuel(fuel);
    cfg.epoch_interruption(true);
    cfg.compiler_inlining(if inline { wasmtime::Inlining::Yes } else { wasmtime::Inlining::No });
    cfg.cranelift_opt_level(wasmtime::OptLevel::Speed);
    cfg
}
