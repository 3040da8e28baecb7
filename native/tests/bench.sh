#!/bin/bash
# Interleaved malloc/free churn benchmark: plain, libmemoplan preloaded but not
# recording (forward), the hot path alone (hotpath: libmemoplan_nofile.so,
# records into a reused anonymous buffer, no page-cache cost), libmemoplan
# recording to a tmpdir (memoplan; and to /dev/shm: memoplan-shm), heaptrack.
# REPS repetitions (default 5) of each arm at 1 and 2 threads, interleaved;
# prints the median ns/event per arm: wall (CLOCK_MONOTONIC) and the thread's
# CPU time (CLOCK_THREAD_CPUTIME_ID, robust to other load on the machine).
# Also prints the kernel cost of filling fresh file-backed MAP_SHARED pages
# (bench_pagecost), which bounds what any recorder of this format can reach.
#   REPS=5 PAIRS=2000000 native/tests/bench.sh
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=$ROOT/build/native
make -s -C "$ROOT/native" >/dev/null || exit 1
REPS=${REPS:-5}
PAIRS=${PAIRS:-2000000}
ARMS=${ARMS:-"plain forward hotpath memoplan memoplan-shm heaptrack"}
RES=$(mktemp)
trap 'rm -f "$RES"' EXIT

run_arm() {  # arm threads -> prints "wall cpu" ns/event, or nothing
  local arm=$1 t=$2 d out
  case $arm in
    plain) out=$("$B/bench_churn" "$t" "$PAIRS") ;;
    forward) out=$(LD_PRELOAD=$B/libmemoplan.so "$B/bench_churn" "$t" "$PAIRS") ;;
    hotpath)
      d=$(mktemp -d)
      out=$(MEMOPLAN_TRACE_DIR=$d LD_PRELOAD=$B/libmemoplan_nofile.so "$B/bench_churn" "$t" "$PAIRS")
      rm -rf "$d" ;;
    memoplan|memoplan-shm)
      if [ "$arm" = memoplan-shm ]; then
        [ -d /dev/shm ] || return
        d=$(mktemp -d -p /dev/shm)
      else
        d=$(mktemp -d)
      fi
      out=$(MEMOPLAN_TRACE_DIR=$d LD_PRELOAD=$B/libmemoplan.so "$B/bench_churn" "$t" "$PAIRS")
      rm -rf "$d" ;;
    heaptrack)
      command -v heaptrack >/dev/null || return
      d=$(mktemp -d)
      # the heaptrack launcher: LD_PRELOAD=libheaptrack_preload.so +
      # DUMP_HEAPTRACK_OUTPUT=<fifo>, interpreter + compressor reading the fifo
      out=$(heaptrack -o "$d/ht" "$B/bench_churn" "$t" "$PAIRS" 2>/dev/null)
      rm -rf "$d" ;;
  esac
  echo "$out" | sed -n 's/.* ns_per_event=\([0-9.]*\) cpu_ns_per_event=\([0-9.]*\).*/\1 \2/p'
}

for rep in $(seq "$REPS"); do
  for t in 1 2; do
    for arm in $ARMS; do
      v=$(run_arm "$arm" "$t")
      [ -n "$v" ] && echo "$arm $t $v" >> "$RES"
    done
  done
done

median() { awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2}'; }
printf '%-13s %7s %10s %10s   %s\n' arm threads wall_ns cpu_ns "(wall runs)"
for arm in $ARMS; do
  for t in 1 2; do
    walls=$(awk -v a="$arm" -v t="$t" '$1==a && $2==t {print $3}' "$RES" | sort -n)
    [ -z "$walls" ] && continue
    cpus=$(awk -v a="$arm" -v t="$t" '$1==a && $2==t {print $4}' "$RES" | sort -n)
    printf '%-13s %7s %10s %10s   (%s)\n' "$arm" "$t" "$(echo "$walls" | median)" \
      "$(echo "$cpus" | median)" "$(echo $walls)"
  done
done
echo "(one event = one malloc or one free call; heaptrack's cpu_ns excludes its interpreter process)"
echo
echo "kernel cost of fresh MAP_SHARED file pages, per 32-byte record (no allocator, no clock):"
for dir in "${TMPDIR:-/tmp}" /dev/shm; do
  [ -d "$dir" ] && for t in 1 2; do "$B/bench_pagecost" "$dir" 64 $t; done
done
