#!/usr/bin/env bash
# memoplan's setup, run first by `npm start` and `npm test`. Idempotent: each step checks
# before it acts. System packages are installed with apt when running as root; otherwise the
# exact command is printed and the run stops.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(g++ make python3-torch python3-torchvision libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0 gdb heaptrack chromium)

if command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    if [ "$(id -u)" = 0 ]; then
      echo "memoplan setup: installing ${missing[*]}" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -q "${missing[@]}" >&2 || { apt-get update -q >&2 && apt-get install -y -q "${missing[@]}" >&2; }
    else
      echo "memoplan setup: these system packages are missing: ${missing[*]}" >&2
      echo "  run:  sudo apt-get install -y ${missing[*]}" >&2
      echo "  then run this command again." >&2
      exit 1
    fi
  fi
else
  echo "memoplan setup: not a Debian/Ubuntu system; install torch, g++ and make yourself (skipping system packages)" >&2
fi

# npm dependencies. The Electron binary cannot always be downloaded (offline build machines):
# skip it; `npm start` then serves the UI on 127.0.0.1 instead.
stamp=node_modules/.memoplan-setup-stamp
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "memoplan setup: installing npm dependencies" >&2
  export ELECTRON_SKIP_BINARY_DOWNLOAD=1
  # Short fetch timeouts with retries: a stalled registry connection otherwise hangs for many minutes.
  npm ci --no-audit --no-fund --fetch-timeout=60000 --fetch-retries=5 --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=20000 >&2
  touch "$stamp"
fi

bash scripts/build.sh
