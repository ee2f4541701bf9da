#!/usr/bin/env bash
# The main job: set up, build, and show cgwarden enforcing inside a guest kernel.
#   bash scripts/demo.sh                      # Debian's 6.12 kernel (mainline mechanism)
#   bash scripts/demo.sh --kernel hook-6.12   # 6.12 with the proposed hook (native; first run builds it, ~15 min)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node_modules/.bin/bun scripts/build.ts
exec node_modules/.bin/bun scripts/demo.ts "$@"
