#!/usr/bin/env bash
# Builds the native interposer and test programs (make: incremental) and the TypeScript (tsc).
set -euo pipefail
cd "$(dirname "$0")/.."
make -s -C native >&2
npx tsc -p tsconfig.json
