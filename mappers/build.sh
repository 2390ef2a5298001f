#!/usr/bin/env bash
# Builds trawl mapper crates to wasm32-wasip1 modules.
#
#   mappers/build.sh [--out DIR] [CRATE_DIR ...]
#
# With no crate dirs it builds the standard mappers (mappers/*/) into mappers/dist/ — the
# modules the trawl binary embeds — and records each one's source digest beside it.
#
# The toolchain route is chosen here, in this order:
#   1. rustup's wasm32-wasip1 target, when installed (a normal developer machine);
#   2. Debian's rustc-web + rust-web-src + wasi-libc with -Zbuild-std (installed with apt-get
#      when missing and we are root, unless TRAWL_NO_APT=1);
#   3. otherwise stop and say: rustup target add wasm32-wasip1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out="$here/dist"
crates=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) crates+=("$(cd "$1" && pwd)"); shift ;;
  esac
done
standard=0
if [ ${#crates[@]} -eq 0 ]; then
  standard=1
  for d in "$here"/*/; do [ -f "$d/Cargo.toml" ] && crates+=("${d%/}"); done
fi
mkdir -p "$out"

route=""
if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
  route=rustup
else
  have_debian() { [ -x /usr/bin/rustc ] && [ -d /usr/lib/wasm32-wasi ] && ls /usr/lib/rustlib/src/rust/library >/dev/null 2>&1; }
  if ! have_debian && [ "${TRAWL_NO_APT:-0}" != 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "mappers/build.sh: no wasm32-wasip1 target in rustup; installing Debian's wasm toolchain (rustc-web, rust-web-src, wasi-libc)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rustc-web cargo-web rust-web-src wasi-libc) >&2
  fi
  if have_debian; then route=debian; fi
fi
if [ -z "$route" ]; then
  echo "error: no toolchain can build wasm32-wasip1 mappers. Run: rustup target add wasm32-wasip1" >&2
  exit 2
fi

build_one() {
  local dir=$1 name
  name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$dir/Cargo.toml" | head -1)
  local lib=${name//-/_}
  if [ $route = rustup ]; then
    (cd "$dir" && cargo build --quiet --profile wasm --target wasm32-wasip1 --target-dir "$root/target/wasm-rustup" -p "$name")
    cp "$root/target/wasm-rustup/wasm32-wasip1/wasm/$lib.wasm" "$out/$2.wasm"
  else
    # Debian's toolchain, kept out of the host target dir (never mix toolchains in one dir).
    # rustup ships rust-lld beside its rustc; Debian's rustc-web has /usr/bin/rust-lld.
    local lld=/usr/bin/rust-lld
    if command -v rustc >/dev/null && [ -x "$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld" ]; then
      lld=$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld
    fi
    (cd "$dir" && PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
      RUSTFLAGS="-C linker=$lld -C link-self-contained=no -L native=/usr/lib/wasm32-wasi --remap-path-prefix=$root=. --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=~/.cargo" \
      /usr/bin/cargo build --quiet --profile wasm --target wasm32-wasip1 --target-dir "$root/target/wasm-debian" \
        -Zbuild-std=std,panic_abort -p "$name")
    cp "$root/target/wasm-debian/wasm32-wasip1/wasm/$lib.wasm" "$out/$2.wasm"
  fi
  echo "built $out/$2.wasm ($(wc -c <"$out/$2.wasm") bytes, route: $route)" >&2
}

for dir in "${crates[@]}"; do
  mapper=$(basename "$dir")
  build_one "$dir" "$mapper"
  if [ $standard = 1 ] && [ "$out" = "$here/dist" ]; then
    "$here/source-digest.sh" "$dir" > "$out/$mapper.wasm.source-digest"
  fi
done
