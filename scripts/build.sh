#!/usr/bin/env bash
# Builds the native interposer and test programs (make: incremental) and the TypeScript (tsc):
# tsconfig.json compiles everything to dist/; renderer/tsconfig.json then type-checks the
# renderer alone, without Node's types (no output), so a renderer file that uses Node fails here.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s -C native >&2
npx tsc -p tsconfig.json
npx tsc -p renderer/tsconfig.json
