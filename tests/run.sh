#!/usr/bin/env bash
# The test command (README, .ci/run): builds the standard mappers from source with whatever
# wasm toolchain this machine has (mappers/build.sh picks the route and installs Debian's when
# needed), then runs every test of the workspace against them.
#
#   tests/run.sh            # everything
#   tests/run.sh golden     # extra arguments go to `cargo test` (a name filter, --nocapture …)
set -euo pipefail
cd "$(dirname "$0")/.."

# The AWS tests run against moto_server from a venv in .venv (created and filled when missing).
moto_pin="moto[server]==5.2.5"
if ! .venv/bin/python -c 'import importlib.metadata as m, sys; sys.exit(m.version("moto") != "5.2.5")' 2>/dev/null || [ ! -x .venv/bin/moto_server ]; then
  echo "==> installing $moto_pin into .venv"
  if ! python3 -m venv .venv 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get install -y -q python3-venv >/dev/null && python3 -m venv .venv
    else
      echo "python3 -m venv failed: install python3-venv (Debian/Ubuntu) and run again" >&2
      exit 1
    fi
  fi
  .venv/bin/pip install -q "$moto_pin"
fi

fresh=target/mappers-fresh
echo "==> building the standard mappers from source into $fresh"
mappers/build.sh --out "$fresh"
mappers/build.sh --out "$fresh" examples/custom-mapper

echo "==> cargo test"
TRAWL_FRESH_MAPPERS="$PWD/$fresh" cargo test --workspace --locked "$@"

if [ $# -eq 0 ]; then
  # The benchmark's small mode, so it cannot rot; its figures are not checked here.
  echo "==> benchmark smoke test (bench/run.py --small)"
  python3 bench/run.py --small --no-10x > /dev/null
fi
