#!/usr/bin/env bash
# Prints the digest of everything a standard mapper's wasm is built from: its crate, the guest
# SDK and the lock file. A test compares it with mappers/dist/<name>.wasm.source-digest, so an
# embedded module that is stale relative to its sources fails the test suite.
set -euo pipefail
dir=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
{ find "${dir#$root/}" guest-sdk -type f \( -name '*.rs' -o -name Cargo.toml \) -not -path '*/target/*' | LC_ALL=C sort
  echo Cargo.lock; } | while read -r f; do printf '%s\n' "$f"; sha256sum < "$f"; done | sha256sum | cut -d' ' -f1
