#!/usr/bin/env bash
# The test command (README, .ci/run): builds the standard mappers from source with whatever
# wasm toolchain this machine has (mappers/build.sh picks the route and installs Debian's when
# needed), then runs every test of the workspace against them.
#
#   tests/run.sh            # everything
#   tests/run.sh golden     # extra arguments go to `cargo test` (a name filter, --nocapture …)
set -euo pipefail
cd "$(dirname "$0")/.."

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
