#!/usr/bin/env bash
# Builds mapper crates to wasm32-wasip1 modules with `trawl mapper build`, which picks the
# toolchain by itself (rustup's wasm32-wasip1 target; else Debian's rustc-web + build-std,
# installed with apt-get when root; else it says: rustup target add wasm32-wasip1).
#
#   mappers/build.sh [--out DIR] [CRATE_DIR ...]
#
# With no crate dirs it builds the standard mappers (mappers/*/) into mappers/dist/ — the
# modules the trawl binary embeds — and records each one's source digest beside it; named
# standard mappers (mappers/build.sh mappers/guardduty) are rebuilt into dist/ the same way.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out="$here/dist"
crates=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$(mkdir -p "$2" && cd "$2" && pwd); shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) crates+=("$(cd "$1" && pwd)"); shift ;;
  esac
done
if [ ${#crates[@]} -eq 0 ]; then
  for d in "$here"/*/; do [ -f "$d/Cargo.toml" ] && crates+=("${d%/}"); done
fi
mkdir -p "$out"
cd "$root"
cargo build -q -p trawl
for dir in "${crates[@]}"; do
  name=$(basename "$dir")
  target/debug/trawl mapper build "$dir" --profile wasm --target-dir "$root/target" --out "$out/$name.wasm"
  # A standard mapper built into dist/ (all of them, or the ones named) gets its digest.
  if [ "$out" = "$here/dist" ] && [ "$(dirname "$dir")" = "$here" ]; then
    "$here/source-digest.sh" "$dir" > "$out/$name.wasm.source-digest"
  fi
done
