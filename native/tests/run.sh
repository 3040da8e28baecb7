#!/bin/bash
# Native tests of libmemoplan.so. Builds, runs every test program under
# LD_PRELOAD with MEMOPLAN_TRACE_DIR=$(mktemp -d), validates the traces with
# trace_dump, and exits non-zero if anything failed.
#   native/tests/run.sh            (CHURN_THREADS=8 CHURN_PAIRS=1000000)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=$ROOT/build/native
LIB=$B/libmemoplan.so
make -s -C "$ROOT/native" || { echo "FAIL build"; exit 1; }

FAILS=0
TMPS=()
cleanup() { rm -rf "${TMPS[@]}"; }
trap cleanup EXIT
tmp() { local d; d=$(mktemp -d); TMPS+=("$d"); echo "$d"; }
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; FAILS=$((FAILS + 1)); }
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }
field() { sed -n "s/^$1=//p" "$2" | head -1; }  # field NAME DUMPFILE
dump() {  # dump OUT.txt [trace_dump args...] -> validates, keeps output
  local out=$1; shift
  "$B/trace_dump" "$@" > "$out" 2> "$out.err"
  local rc=$?
  [ $rc -eq 0 ] || { sed 's/^/    /' "$out.err" | head -5; }
  return $rc
}
one_trace() { ls "$1"/trace-*.mpt 2>/dev/null | head -1; }

# --- library hygiene ----------------------------------------------------------
undef=$(nm -D --defined-only "$LIB" | awk '{print $3}' | sort | tr '\n' ' ')
want="aligned_alloc calloc fork free malloc malloc_usable_size memalign memoplan_active memoplan_events_written memoplan_intern memoplan_iteration_begin memoplan_iteration_end memoplan_scope_pop memoplan_scope_push posix_memalign pvalloc realloc reallocarray valloc "
check "exports exactly the wrapped functions and the C API" [ "$undef" = "$want" ]
check "no libstdc++/libgcc_s at run time" bash -c "! readelf -d '$LIB' | grep -Eq 'libstdc|libgcc_s'"

# --- edge: identical behaviour with and without the library -----------------
d=$(tmp)
"$B/edge" > "$d/plain.txt"; rc_plain=$?
LD_PRELOAD=$LIB "$B/edge" > "$d/fwd.txt"; rc_fwd=$?
MEMOPLAN_TRACE_DIR=$d LD_PRELOAD=$LIB "$B/edge" > "$d/rec.txt"; rc_rec=$?
check "edge passes without the library" [ $rc_plain -eq 0 ]
check "edge output identical when forwarding" diff "$d/plain.txt" "$d/fwd.txt"
check "edge output identical when recording" diff "$d/plain.txt" "$d/rec.txt"
check "edge exit status identical" [ $rc_plain -eq $rc_fwd -a $rc_plain -eq $rc_rec ]
check "edge trace valid" dump "$d/dump.txt" "$(one_trace "$d")"
check "edge trace has realloc_failed records" [ "$(field kind_realloc_failed "$d/dump.txt")" -ge 2 ]
grep FAIL "$d/rec.txt" | sed 's/^/    /'

# --- not recording without MEMOPLAN_TRACE_DIR / with a bad one ---------------
d=$(tmp)
(cd "$d" && LD_PRELOAD=$LIB "$B/mt_churn" 2 1000 >/dev/null)
MEMOPLAN_TRACE_DIR=$d/does-not-exist LD_PRELOAD=$LIB "$B/mt_churn" 2 1000 >/dev/null
check "no trace without MEMOPLAN_TRACE_DIR or with a missing dir" [ -z "$(ls -A "$d")" ]

# --- mt_churn: exact event accounting under threads --------------------------
T=${CHURN_THREADS:-8}; P=${CHURN_PAIRS:-1000000}
d=$(tmp)
start=$(date +%s.%N)
MEMOPLAN_TRACE_DIR=$d LD_PRELOAD=$LIB "$B/mt_churn" "$T" "$P" > /dev/null
rc=$?
secs=$(echo "$(date +%s.%N) - $start" | bc)
f=$(one_trace "$d")
check "mt_churn $T x $P ran (${secs}s)" [ $rc -eq 0 ]
check "mt_churn trace valid" dump "$d/dump.txt" --size 4097 "$f"
check "mt_churn mallocs of 4097 == $((T * P))" [ "$(field size_mallocs "$d/dump.txt")" = $((T * P)) ]
check "mt_churn frees of those blocks == $((T * P))" [ "$(field size_frees "$d/dump.txt")" = $((T * P)) ]
check "mt_churn clean exit flag, counters final" [ $(( $(field flags "$d/dump.txt") & 1 )) -eq 1 ]
check "mt_churn events_written == committed alloc records" \
  [ "$(field events_written "$d/dump.txt")" = "$(field alloc_events "$d/dump.txt")" ]
check "mt_churn one thread_exit marker per thread" [ "$(field kind_thread_exit "$d/dump.txt")" = "$T" ]
rm -rf "$d"

# --- api_test: names, scopes, markers ----------------------------------------
d=$(tmp)
MEMOPLAN_TRACE_DIR=$d LD_PRELOAD=$LIB "$B/api_test" > "$d/out.txt"
check "api_test" [ $? -eq 0 ]
grep FAIL "$d/out.txt" | sed 's/^/    /'
f=$(one_trace "$d")
check "api trace valid" dump "$d/dump.txt" --size 5555 "$f"
check "api: 3 names, 3 iter_begin, 3 iter_end, 1 thread_exit" \
  [ "$(field names_records "$d/dump.txt")/$(field kind_iter_begin "$d/dump.txt")/$(field kind_iter_end "$d/dump.txt")/$(field kind_thread_exit "$d/dump.txt")" = "3/3/3/1" ]
check "api: the 20 events inside the scope carry it" [ "$(field scoped_records "$d/dump.txt")" = 20 ]
check "api: memoplan_active is 0 without recording" bash -c "LD_PRELOAD='$LIB' '$B/api_test' | grep -q 'FAIL active'"

# --- fork_test ---------------------------------------------------------------
d=$(tmp)
out=$(MEMOPLAN_TRACE_DIR=$d LD_PRELOAD=$LIB "$B/fork_test")
ppid=$(echo "$out" | sed -n 's/.*parent=\([0-9]*\).*/\1/p')
cpid=$(echo "$out" | sed -n 's/.*child=\([0-9]*\).*/\1/p')
pf=$(ls "$d"/trace-"$ppid"-*.mpt 2>/dev/null); cf=$(ls "$d"/trace-"$cpid"-*.mpt 2>/dev/null)
check "fork: two trace files (parent $ppid, child $cpid)" [ -n "$pf" -a -n "$cf" -a "$(ls "$d"/*.mpt | wc -l)" = 2 ]
check "fork: parent trace valid" dump "$d/p2222.txt" --size 2222 "$pf"
check "fork: child trace valid" dump "$d/c2222.txt" --size 2222 "$cf"
"$B/trace_dump" --size 1111 "$pf" > "$d/p1111.txt"; "$B/trace_dump" --size 1111 "$cf" > "$d/c1111.txt"
check "fork: child ppid == parent pid" [ "$(field ppid "$d/c2222.txt")" = "$ppid" ]
check "fork: child flags bit1 (and clean exit)" [ "$(field flags "$d/c2222.txt")" = 3 ]
check "fork: parent flags has no bit1" [ $(( $(field flags "$d/p2222.txt") & 2 )) -eq 0 ]
check "fork: parent has the fork marker with the child pid" [ "$(field fork_child "$d/p2222.txt")" = "$cpid" ]
check "fork: child file has the child's 100 allocations" [ "$(field size_mallocs "$d/c2222.txt")" = 100 ]
check "fork: parent file has none of them" [ "$(field size_mallocs "$d/p2222.txt")" = 0 ]
check "fork: parent's pre-fork allocations only in the parent" \
  [ "$(field size_mallocs "$d/p1111.txt")/$(field size_mallocs "$d/c1111.txt")" = "100/0" ]
check "fork: child has the parent's names" [ "$(field names_records "$d/c2222.txt")" = 1 ]
check "fork: child events carry the inherited scope" [ "$(field scoped_records "$d/c2222.txt")" -ge 200 ]

# --- kill_test: SIGKILL keeps every committed record --------------------------
d=$(tmp)
MEMOPLAN_TRACE_DIR=$d LD_PRELOAD=$LIB "$B/kill_test" > "$d/out.txt" &
kpid=$!
for i in $(seq 100); do grep -q ready "$d/out.txt" 2>/dev/null && break; sleep 0.05; done
sleep 0.2
kill -9 $kpid; wait $kpid 2>/dev/null
last=$(grep -E '^[0-9]+$' "$d/out.txt" | tail -1)
f=$(one_trace "$d")
check "kill: trace valid after SIGKILL (committed prefixes)" dump "$d/dump.txt" --size 7777 "$f"
got=$(field size_mallocs "$d/dump.txt")
check "kill: trace holds >= last reported count ($got >= ${last:-none})" [ -n "$last" ] && [ "${got:-0}" -ge "$last" ]
check "kill: no clean-exit flag" [ $(( $(field flags "$d/dump.txt") & 1 )) -eq 0 ]
rm -rf "$d"

# --- exec: a new image gets a new file pair with the same pid -----------------
d=$(tmp)
MEMOPLAN_TRACE_DIR=$d LD_PRELOAD=$LIB sh -c 'exec "$0" 1 10' "$B/mt_churn" > /dev/null
pids=$(ls "$d"/*.mpt | sed 's/.*trace-\([0-9]*\)-.*/\1/' | sort -u | wc -l)
check "exec: two file pairs, one pid" [ "$(ls "$d"/*.mpt | wc -l)" = 2 -a "$pids" = 1 -a "$(ls "$d"/*.names | wc -l)" = 2 ]

# --- file size limit: recording stops quietly, the program carries on ---------
d=$(tmp)
( ulimit -f 4096; MEMOPLAN_TRACE_DIR=$d LD_PRELOAD=$LIB "$B/mt_churn" 2 200000 > "$d/out.txt" )
check "fsize limit: program unaffected" grep -q 'mt_churn threads=2' "$d/out.txt"
f=$(one_trace "$d")
check "fsize limit: trace valid" dump "$d/dump.txt" "$f"
check "fsize limit: flags bit2 (stopped) and bit0" [ "$(( $(field flags "$d/dump.txt") & 5 ))" = 5 ]

# --- stacking on another preloaded allocator ---------------------------------
JE=$(ls /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 2>/dev/null)
if [ -n "$JE" ]; then
  d=$(tmp)
  MEMOPLAN_TRACE_DIR=$d LD_PRELOAD=$LIB:$JE "$B/mt_churn" 2 100000 > /dev/null
  check "jemalloc stacked (memoplan first): ran" [ $? -eq 0 ]
  check "jemalloc stacked: trace valid, exact count" dump "$d/dump.txt" --size 4097 "$(one_trace "$d")"
  check "jemalloc stacked: 200000 mallocs of 4097" [ "$(field size_mallocs "$d/dump.txt")" = 200000 ]
else
  echo "SKIP jemalloc not installed"
fi

echo
if [ $FAILS -eq 0 ]; then echo "ALL NATIVE TESTS PASSED"; else echo "$FAILS NATIVE TEST(S) FAILED"; fi
[ $FAILS -eq 0 ]
