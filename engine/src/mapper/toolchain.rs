//! Building mapper crates to `wasm32-wasip1` modules, choosing the toolchain by itself:
//!
//! 1. rustup's `wasm32-wasip1` target, when installed (a normal developer machine);
//! 2. Debian's `rustc-web` + `rust-web-src` + `wasi-libc` with `-Zbuild-std` (installed with
//!    apt-get when missing, if we are root and `TRAWL_NO_APT` is not set);
//! 3. otherwise an error that says `rustup target add wasm32-wasip1`.
//!
//! Each route builds in its own target directory: the two toolchains never share one.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The toolchain a build uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// rustup's cargo with the installed wasm32-wasip1 target.
    Rustup,
    /// Debian's rustc-web with build-std, linked by `lld`.
    Debian {
        /// The rust-lld to link with.
        lld: PathBuf,
    },
}

impl Route {
    /// Short name for messages and target directories.
    pub fn name(&self) -> &'static str {
        match self {
            Route::Rustup => "rustup",
            Route::Debian { .. } => "debian",
        }
    }
}

/// Code-generation flags for every mapper build, whatever the route.
///
/// LLVM's default inline threshold leaves many small functions as calls. That is cheap
/// natively, but in wasmtime every call pays a stack-limit and an epoch check, and wasmtime
/// does not inline by default (its inliner needs GiBs to compile a mapper). Inlining more in
/// LLVM made the cloudtrail mapper ~7% faster for ~40% more code (`bench mapper`).
///
/// A 16 MiB initial memory holds a whole batch's heap (5–10 MiB for the standard mappers),
/// which wasi-libc's malloc takes from the initial memory first. Every batch has a fresh
/// instance, and each `memory.grow` beyond the initial size is an `mprotect` of its pages,
/// undone when the slot is reused: ~5 % of a VPC Flow run, gone when the heap never grows.
pub const WASM_CODEGEN_FLAGS: &str = "-C llvm-args=-inline-threshold=1000 -C link-arg=--initial-memory=16777216";

const DEBIAN_PACKAGES: &[&str] = &["rustc-web", "cargo-web", "rust-web-src", "wasi-libc"];

fn debian_ready() -> bool {
    Path::new("/usr/bin/rustc").exists() && Path::new("/usr/lib/wasm32-wasi").is_dir() && Path::new("/usr/lib/rustlib/src/rust/library").is_dir()
}

fn rustup_has_target() -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == "wasm32-wasip1"))
}

/// Picks the route, installing Debian's packages when that is the only way and allowed.
pub fn find_route() -> Result<Route, String> {
    if rustup_has_target() {
        return Ok(Route::Rustup);
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !debian_ready() && root && std::env::var_os("TRAWL_NO_APT").is_none() && Path::new("/usr/bin/apt-get").exists() {
        eprintln!("no wasm32-wasip1 target in rustup; installing Debian's wasm toolchain ({})", DEBIAN_PACKAGES.join(", "));
        let ok = Command::new("apt-get").args(["update", "-qq"]).status().is_ok_and(|s| s.success())
            && Command::new("apt-get")
                .args(["install", "-y", "-qq"])
                .args(DEBIAN_PACKAGES)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("apt-get could not install {}", DEBIAN_PACKAGES.join(" "));
        }
    }
    if debian_ready() {
        // rustup ships rust-lld beside its rustc; Debian's rustc-web has /usr/bin/rust-lld.
        let rustup_lld = Command::new("rustc")
            .args(["--print", "sysroot"])
            .output()
            .ok()
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld"))
            .filter(|p| p.exists());
        let lld = rustup_lld.unwrap_or_else(|| PathBuf::from("/usr/bin/rust-lld"));
        if lld.exists() {
            return Ok(Route::Debian { lld });
        }
    }
    Err("no toolchain can build wasm32-wasip1 mappers here. Run: rustup target add wasm32-wasip1".into())
}

/// The `[package] name` of a crate.
pub fn crate_name(dir: &Path) -> Result<String, String> {
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let v: toml::Table = toml::from_str(&text).map_err(|e| format!("{}: {e}", manifest.display()))?;
    v.get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_string)
        .ok_or_else(|| format!("{} has no [package] name", manifest.display()))
}

/// Builds the crate in `dir` with cargo profile `profile`; returns the module's path (in the
/// target directory `<target_root>/wasm-<route>`).
pub fn build(dir: &Path, profile: &str, target_root: &Path, route: &Route) -> Result<PathBuf, String> {
    let name = crate_name(dir)?;
    // Cargo runs in the crate dir, so a relative target dir would be resolved there, while
    // the module is looked for relative to this process's dir: make it absolute first.
    let target_root = std::env::current_dir().map(|cwd| cwd.join(target_root)).unwrap_or_else(|_| target_root.to_path_buf());
    let target_dir = target_root.join(format!("wasm-{}", route.name()));
    let mut cmd = match route {
        Route::Rustup => Command::new("cargo"),
        Route::Debian { lld } => {
            let mut c = Command::new("/usr/bin/cargo");
            let home = std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").unwrap_or_default()));
            // Remap the workspace root, not the crate dir: the flags then match for every crate
            // of a workspace, so they share build artifacts (std included).
            let repo = Command::new("/usr/bin/cargo")
                .args(["locate-project", "--workspace", "--message-format", "plain"])
                .current_dir(dir)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).parent().map(Path::to_path_buf))
                .unwrap_or_else(|| dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()));
            c.env("PATH", format!("/usr/bin:{}", std::env::var("PATH").unwrap_or_default()))
                .env("RUSTC", "/usr/bin/rustc")
                .env("RUSTC_BOOTSTRAP", "1")
                .env(
                    "RUSTFLAGS",
                    format!(
                        "-C linker={} -C link-self-contained=no -L native=/usr/lib/wasm32-wasi --remap-path-prefix={}=. --remap-path-prefix={home}=~/.cargo {WASM_CODEGEN_FLAGS}",
                        lld.display(),
                        repo.display()
                    ),
                )
                .arg("-Zbuild-std=std,panic_abort");
            c
        }
    };
    // Variables cargo sets for a parent build would leak into this one.
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str() {
            if k.starts_with("CARGO_") && k != "CARGO_HOME" && k != "CARGO_NET_OFFLINE" || k == "RUSTC_WRAPPER" || k == "CARGO" {
                cmd.env_remove(k);
            }
        }
    }
    if *route == Route::Rustup {
        // Through the target's variable, so host build scripts keep their flags; a value the
        // user set wins.
        let flags = std::env::var("CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS").unwrap_or_else(|_| WASM_CODEGEN_FLAGS.to_string());
        cmd.env("CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS", flags);
    }
    cmd.current_dir(dir)
        .args(["build", "--quiet", "--profile", profile, "--target", "wasm32-wasip1", "--target-dir"])
        .arg(&target_dir)
        .args(["-p", &name]);
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build of {} failed ({status}) using the {} toolchain", dir.display(), route.name()));
    }
    let profile_dir = match profile {
        "dev" | "test" => "debug",
        "release" | "bench" => "release",
        p => p,
    };
    let wasm = target_dir.join("wasm32-wasip1").join(profile_dir).join(format!("{}.wasm", name.replace('-', "_")));
    if !wasm.exists() {
        return Err(format!("cargo built {name} but {} is missing: is the crate a cdylib?", wasm.display()));
    }
    Ok(wasm)
}
