#!/bin/bash
# Plan mode vs general-purpose allocators on an inference-like iteration
# (plan_bench.c): glibc, jemalloc, tcmalloc, mimalloc (LD_PRELOAD), memoplan
# preloaded without a plan (forward) and memoplan in plan mode (plan).
# REPS interleaved rounds (default 7); prints the median ns per
# allocation+free of each arm. TOUCH=1: write every page of every block.
#   REPS=7 ITERS=2000 TOUCH=0 native/tests/plan_bench.sh
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=$ROOT/build/native
make -s -C "$ROOT/native" >/dev/null || exit 1
REPS=${REPS:-7}; ITERS=${ITERS:-2000}; TOUCH=${TOUCH:-0}
L=/usr/lib/x86_64-linux-gnu
PLAN=$(mktemp); RES=$(mktemp)
trap 'rm -f "$PLAN" "$RES"' EXIT
"$B/plan_bench" mkplan "$PLAN" || exit 1
declare -A PRE=([glibc]="" [jemalloc]=$L/libjemalloc.so.2 [tcmalloc]=$L/libtcmalloc_minimal.so.4
                [mimalloc]=$L/libmimalloc.so.2 [forward]=$B/libmemoplan.so [plan]=$B/libmemoplan.so)
ARMS=${ARMS:-"glibc jemalloc tcmalloc mimalloc forward plan"}
for r in $(seq "$REPS"); do
  for a in $ARMS; do
    pre=${PRE[$a]}
    [ -n "$pre" ] && [ ! -e "$pre" ] && continue
    if [ "$a" = plan ]; then
      out=$(MEMOPLAN_PLAN=$PLAN LD_PRELOAD=$pre "$B/plan_bench" run "$ITERS" "$TOUCH")
    else
      out=$(LD_PRELOAD=$pre "$B/plan_bench" run "$ITERS" "$TOUCH")
    fi
    echo "$a $(echo "$out" | sed -n 's/^ns_per_alloc=\([0-9.]*\).*/\1/p')" >> "$RES"
    [ "$a" = plan ] && [ "$r" = 1 ] && echo "plan arm: $out"
  done
done
printf '%-10s %10s %10s %10s\n' arm median min max
for a in $ARMS; do
  grep "^$a " "$RES" | awk '{print $2}' | sort -n | awk -v a="$a" '{v[NR]=$1} END {if (NR) printf "%-10s %10.1f %10.1f %10.1f\n", a, (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2), v[1], v[NR]}'
done
