#!/usr/bin/env bash
# Prints the digest of everything a standard mapper's wasm is built from: its crate, the guest
# SDK, the exact versions of the crates it depends on (from the lock file, via cargo tree), the
# wasm profile and the code-generation flags `trawl mapper build` passes. A test compares it
# with mappers/dist/<name>.wasm.source-digest, so an embedded module that is stale relative to
# its sources fails the test suite.
set -euo pipefail
dir=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$dir/Cargo.toml" | head -1)
{ find "${dir#$root/}" guest-sdk -type f \( -name '*.rs' -o -name Cargo.toml \) -not -path '*/target/*' | LC_ALL=C sort \
    | while read -r f; do printf '%s\n' "$f"; sha256sum < "$f"; done
  # Local crates print their absolute path; drop it so the digest does not depend on the checkout.
  cargo tree --offline --locked -q -p "$name" -e normal,build --prefix none | sed -E "s# \(/[^)]*\)\$##" | LC_ALL=C sort -u
  grep -A8 '^\[profile.wasm\]' Cargo.toml
  grep 'const WASM_CODEGEN_FLAGS' engine/src/mapper/toolchain.rs; } | sha256sum | cut -d' ' -f1
