#!/usr/bin/env bash
# Every test: host unit tests, then the guest suites on Debian 6.1, Debian 6.12
# and 6.12 with the proposed hook. Ends with "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node_modules/.bin/bun test/run.ts "$@"
