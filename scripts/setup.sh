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

# The tests' torch 2.x: a virtual environment (git-ignored) with a CPU build of torch 2.13 and
# transformers, beside Debian's torch 1.13 under /usr/bin/python3. Only for the tests and
# benches (`npm test`, `npm run bench:*`, or MEMOPLAN_TORCH2_VENV=1); memoplan itself profiles
# whatever interpreter runs the target. Made again only when missing or stale (stamp file).
# pip uses the machine's configured local indexes and wheels directly when there are some
# (no retries against an index that cannot be reached). MEMOPLAN_TORCH2_VENV=0 skips it.
TORCH2_VENV=.venv-torch2
TORCH2_SPEC="torch==2.13.0 numpy transformers"
want_venv=${MEMOPLAN_TORCH2_VENV:-}
if [ -z "$want_venv" ]; then
  case "${npm_lifecycle_event:-}" in test | bench:*) want_venv=1 ;; *) want_venv=0 ;; esac
fi
if [ "$want_venv" = 1 ]; then
  vstamp=$TORCH2_VENV/.memoplan-stamp
  if [ ! -x "$TORCH2_VENV/bin/python" ] || [ ! -f "$vstamp" ] || [ "$(cat "$vstamp")" != "$TORCH2_SPEC" ]; then
    echo "memoplan setup: creating $TORCH2_VENV ($TORCH2_SPEC) for the torch 2.x tests" >&2
    base=$(command -v python3 || echo /usr/bin/python3)
    rm -rf "$TORCH2_VENV"
    "$base" -m venv "$TORCH2_VENV" >&2 || /usr/bin/python3 -m venv "$TORCH2_VENV" >&2
    pip_args=(install -q --disable-pip-version-check --timeout 30 --retries 2)
    # Local indexes configured for pip (file:// URLs): use them as the index itself.
    indexes=$("$TORCH2_VENV/bin/pip" config get global.extra-index-url 2>/dev/null || true)
    local_idx=()
    for u in $indexes; do
      case "$u" in file://*) [ -d "${u#file://}" ] && local_idx+=("$u") ;; esac
    done
    if ((${#local_idx[@]})); then
      pip_args+=(--index-url "${local_idx[0]}")
      for u in "${local_idx[@]:1}"; do pip_args+=(--extra-index-url "$u"); done
    fi
    # shellcheck disable=SC2086
    if ! "$TORCH2_VENV/bin/pip" "${pip_args[@]}" $TORCH2_SPEC >&2; then
      echo "memoplan setup: could not install $TORCH2_SPEC into $TORCH2_VENV (see above);" >&2
      echo "  the torch 2.x tests need it. MEMOPLAN_TORCH2_VENV=0 skips this step (those tests are then skipped)." >&2
      rm -rf "$TORCH2_VENV"
      exit 1
    fi
    echo "$TORCH2_SPEC" >"$vstamp"
  fi
fi

bash scripts/build.sh
