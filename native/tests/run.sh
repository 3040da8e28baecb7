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
want="_ZdaPv _ZdaPvRKSt9nothrow_t _ZdaPvSt11align_val_t _ZdaPvSt11align_val_tRKSt9nothrow_t _ZdaPvm _ZdaPvmSt11align_val_t _ZdlPv _ZdlPvRKSt9nothrow_t _ZdlPvSt11align_val_t _ZdlPvSt11align_val_tRKSt9nothrow_t _ZdlPvm _ZdlPvmSt11align_val_t _Znam _ZnamRKSt9nothrow_t _ZnamSt11align_val_t _ZnamSt11align_val_tRKSt9nothrow_t _Znwm _ZnwmRKSt9nothrow_t _ZnwmSt11align_val_t _ZnwmSt11align_val_tRKSt9nothrow_t aligned_alloc calloc fork free malloc malloc_usable_size memalign memoplan_active memoplan_agent_enter memoplan_agent_leave memoplan_attach memoplan_attached memoplan_detach memoplan_events_written memoplan_intern memoplan_iteration_begin memoplan_iteration_end memoplan_plan_counters memoplan_plan_status memoplan_scope_pop memoplan_scope_push posix_memalign pvalloc realloc reallocarray valloc "
check "exports exactly the wrapped functions (operator new/delete included) and the C API" [ "$undef" = "$want" ]
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

# --- signal_test: a handler that allocates, interrupting record() anywhere -----
d=$(tmp)
out=$(MEMOPLAN_TRACE_DIR=$d LD_PRELOAD=$LIB "$B/signal_test" 300000)
rc=$?
pairs=$(echo "$out" | sed -n 's/.*pairs=\([0-9]*\).*/\1/p'); handled=$(echo "$out" | sed -n 's/.*handled=\([0-9]*\).*/\1/p')
f=$(one_trace "$d")
check "signal: ran to the end ($out)" [ $rc -eq 0 -a -n "$pairs" -a -n "$handled" ]
check "signal: trace valid" dump "$d/main.txt" --size 48 "$f"
"$B/trace_dump" --size 6666 "$f" > "$d/handler.txt"
check "signal: every main-thread pair recorded ($(field size_mallocs "$d/main.txt")/$(field size_frees "$d/main.txt") of $pairs)" \
  [ "$(field size_mallocs "$d/main.txt")" = "$pairs" -a "$(field size_frees "$d/main.txt")" = "$pairs" ]
# A handler's pair is recorded whole or not at all, except that a handler interrupting a
# record cannot open a new chunk: its free is not recorded when its malloc took the last slot.
hm=$(field size_mallocs "$d/handler.txt"); hf=$(field size_frees "$d/handler.txt"); chunks=$(field chunks_used "$d/handler.txt")
check "signal: handler pairs whole, or cut at one of the $chunks chunk ends ($hm mallocs, $hf frees, $handled handled)" \
  [ "$hm" -ge "$hf" -a $((hm - hf)) -le "$chunks" -a "$hm" -le "$handled" -a "$hm" -gt $((handled / 2)) ]
check "signal: events_written == committed alloc records" \
  [ "$(field events_written "$d/main.txt")" = "$(field alloc_events "$d/main.txt")" ]
rm -rf "$d"

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

# --- attach mode and an atfork child handler registered before ours ----------
d=$(tmp)
out=$("$B/atfork_test" "$LIB" "$d")
rc=$?
ppid=$(echo "$out" | sed -n 's/.*parent=\([0-9]*\).*/\1/p'); cpid=$(echo "$out" | sed -n 's/.*child=\([0-9]*\).*/\1/p')
pf=$(ls "$d"/trace-"$ppid"-*.mpt 2>/dev/null); cf=$(ls "$d"/trace-"$cpid"-*.mpt 2>/dev/null)
check "atfork: ran ($out)" [ $rc -eq 0 -a -n "$pf" -a -n "$cf" ]
check "atfork: parent trace valid" dump "$d/p.txt" --size 8888 "$pf"
check "atfork: child trace valid" dump "$d/c.txt" --size 2222 "$cf"
check "atfork: the child's handler wrote nothing into the parent's trace" \
  [ "$(field size_mallocs "$d/p.txt")" = 0 -a "$(field events_written "$d/p.txt")" = "$(field alloc_events "$d/p.txt")" ]
check "atfork: the child's own 10 allocations in its trace" [ "$(field size_mallocs "$d/c.txt")" = 10 ]

# --- attach mode: dlopen'ed late, GOT slots patched (-fno-plt: GLOB_DAT), 20 rounds ---
d=$(tmp)
"$B/attach_test" "$LIB" "$d" > "$d/out.txt"
check "attach: 20 in-process attach/detach rounds" [ $? -eq 0 ]
grep FAIL "$d/out.txt" | sed 's/^/    /'
check "attach: one trace file pair per attach" [ "$(ls "$d"/*.mpt | wc -l)/$(ls "$d"/*.names | wc -l)" = "20/20" ]
okfiles=0; for f in "$d"/*.mpt; do
  "$B/trace_dump" --size 2222 "$f" > "$d/s.txt" 2>/dev/null || continue
  "$B/trace_dump" --size 3333 "$f" > "$d/n.txt" 2>/dev/null || continue
  [ "$(field size_mallocs "$d/s.txt")/$(field size_mallocs "$d/n.txt")/$(field kind_posix_memalign "$d/s.txt")" = "100/0/1" ] || continue
  [ "$(( $(field flags "$d/s.txt") & 9 ))" = 9 ] || continue
  [ "$(field events_written "$d/s.txt")" = "$(field alloc_events "$d/s.txt")" ] || continue
  okfiles=$((okfiles + 1))
done
check "attach: every trace valid, 100 mallocs while attached, none after detach, flags attached+clean, counters final" [ $okfiles = 20 ]

# --- plan mode ----------------------------------------------------------------
PT=$B/plan_test
d=$(tmp)
"$PT" mkplan "$d/w.plan" > /dev/null
"$PT" mkplan "$d/w4.plan" 4 > /dev/null
prun() {  # prun NAME [env...] -- [plan_test run args...]: stdout NAME.out, stderr NAME.err
  local name=$1; shift
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done; shift
  env "${envs[@]}" LD_PRELOAD="$LIB" "$PT" run "$@" > "$d/$name.out" 2> "$d/$name.err"
}
tot() { sed -n "s/^total.* $2 \([0-9]*\).*/\1/p" "$d/$1.err"; }  # tot NAME FIELD
iter() { sed -n "s/^iter $2 hits \([0-9]*\) misses \([0-9]*\).*/\1 \2/p" "$d/$1.err"; }  # "hits misses"
N=$(sed -n 's/^workload allocations=\([0-9]*\).*/\1/p' <("$PT" run iters=0 2>&1))
"$PT" run > "$d/plain.out" 2>/dev/null

prun exact MEMOPLAN_PLAN="$d/w.plan" -- iters=6
check "plan exact: runs, data intact, aligned, calloc zeroed, nothing outside iterations in the arena" [ $? -eq 0 ]
check "plan exact: status 2, 100% hits from the 2nd iteration ($((5 * N)))" \
  [ "$(tot exact status)/$(tot exact hits)/$(tot exact misses)/$(tot exact served)" = "2/$((5 * N))/0/5" ]
check "plan exact: every planned block at arena + offset, one base" \
  [ "$(grep -c "arena_ptrs $((N - 2)) base 0x" "$d/exact.err")/$(sed -n 's/^bases //p' "$d/exact.err")" = "5/1" ]
check "plan exact: output identical to the unplanned run" diff "$d/plain.out" "$d/exact.out"

prun extra MEMOPLAN_PLAN="$d/w.plan" -- extra=3
check "plan extra allocation: one miss, the rest hits" [ "$(iter extra 3)" = "$N 1" -a "$(iter extra 4)" = "$N 0" ]
prun missing MEMOPLAN_PLAN="$d/w.plan" -- missing=3
# a small entry is jumped over at once (no miss); a large one costs the miss that confirms the jump
check "plan missing allocation: resynchronised ($((N - 1)) hits, or 1 miss and $((N - 2)) hits)" \
  [ \( "$(iter missing 3)" = "$((N - 1)) 0" -o "$(iter missing 3)" = "$((N - 2)) 1" \) -a "$(iter missing 4)" = "$N 0" ]
prun outlive MEMOPLAN_PLAN="$d/w.plan" -- outlive=2
check "plan outliving block: no corruption, realloc keeps its data" [ $? -eq 0 ]
check "plan outliving block: arena retired once, a fresh one next" \
  [ "$(tot outlive retired)/$(sed -n 's/^bases //p' "$d/outlive.err")" = "1/2" ]
check "plan outliving block: blocks over its bytes were misses, next iteration 100%" \
  [ "$(iter outlive 2 | cut -d' ' -f2)" -ge 1 -a "$(iter outlive 3)" = "$N 0" ]
prun foreign MEMOPLAN_PLAN="$d/w.plan" -- foreign=1
check "plan free from another thread: 100% hits, no retirement" \
  [ $? -eq 0 -a "$(tot foreign hits)/$(tot foreign misses)/$(tot foreign retired)" = "$((5 * N))/0/0" ]
prun threads MEMOPLAN_PLAN="$d/w.plan" -- threads=3
check "plan 3 threads: own arenas (distinct bases), 100% hits" \
  [ $? -eq 0 -a "$(sed -n 's/^threads_distinct_bases //p' "$d/threads.err")" = 1 -a \
    "$(tot threads hits)/$(tot threads misses)" = "$((15 * N))/0" ]

"$PT" run scale=4 iters=22 > "$d/plain4.out" 2>/dev/null
prun mismatch MEMOPLAN_PLAN="$d/w.plan" MEMOPLAN_PLAN_STATS="$d/mm.json" -- scale=4 iters=22
check "plan for another workload: refused with both signatures, 0 hits" \
  [ "$(grep -c 'refused: signature mismatch.*made for .*-.* observed is .*-' "$d/mismatch.err")/$(tot mismatch status)/$(tot mismatch hits)" = "1/3/0" ]
check "plan for another workload: output unchanged" diff "$d/plain4.out" "$d/mismatch.out"
check "plan stats file: one JSON line with status 3 and the refusal" \
  grep -q '^{"status":3,"hits":0,.*"refusal":"signature mismatch' "$d/mm.json"

# --- plan sets (format version 3): one plan per workload scale, cycled; scale 5 has no plan ---
"$PT" mkset "$d/set.plan" 1,2,3 > /dev/null
"$PT" run cycle=1,2,3,5 iters=16 > "$d/plaincyc.out" 2>/dev/null
prun set MEMOPLAN_PLAN="$d/set.plan" MEMOPLAN_PLAN_STATS="$d/set.json" -- cycle=1,2,3,5 iters=16 extrafirst=8
check "plan set: runs, data intact, output identical to the unplanned run" [ $? -eq 0 ] && diff "$d/plaincyc.out" "$d/set.out"
# iterations 0-2 observed (one per plan), every 4th (scale 5) unplanned, the rest served after a
# selection made on their first allocation (plans differ there: nothing lost)
check "plan set: each scale served with its plan from its first allocation, scale 5 unplanned" \
  [ "$(iter set 4)/$(iter set 5)/$(iter set 6)/$(iter set 7)/$(tot set served)" = "$N 0/$N 0/$N 0/0 0/8" ]
check "plan set: an extra allocation before any plan matched: that iteration unplanned, the next served" \
  [ "$(iter set 8)/$(iter set 9)" = "0 0/$N 0" ]
check "plan set: stats count 3 signatures served and 5 unplanned iterations" \
  grep -q '"signatures_served":3,"iterations_unplanned":5,"signatures":\[{"signature":"[0-9a-f]*-[0-9a-f]*","iterations_served":2,' "$d/set.json"
d4=$(tmp)
prun setrec MEMOPLAN_PLAN="$d/set.plan" MEMOPLAN_TRACE_DIR="$d4" -- cycle=1,2,3,5 iters=16
check "plan set + recording: header counts signatures served and unplanned iterations" \
  dump "$d4/dump.txt" "$(one_trace "$d4")"
check "plan set + recording: 3 signatures, 4 unplanned" \
  [ "$(field plan_signatures_served "$d4/dump.txt")/$(field plan_iterations_unplanned "$d4/dump.txt")" = "3/4" ]
"$PT" mkset "$d/dup.plan" 1,2,1 > /dev/null

bad() {  # bad NAME REASON-REGEX: a damaged plan is refused, the program runs as without it
  prun "$1" MEMOPLAN_PLAN="$d/$1.plan" -- iters=3
  local rc=$?
  check "plan $1: refused ($(grep -o 'refused: [^;]*' "$d/$1.err" | head -1))" \
    [ $rc -eq 0 -a "$(grep -c "memoplan: plan .* refused: $2.*; running unplanned" "$d/$1.err")" = 1 -a "$(tot "$1" status)" = 3 ]
}
head -c $(( $(stat -c %s "$d/w.plan") - 24 )) "$d/w.plan" > "$d/truncated.plan"; bad truncated "truncated or padded"
cp "$d/w.plan" "$d/tampered.plan"; printf '\x99' | dd of="$d/tampered.plan" bs=1 seek=200 conv=notrunc 2>/dev/null
bad tampered "corrupt: checksum"
cp "$d/w.plan" "$d/magic.plan"; printf 'XX' | dd of="$d/magic.plan" bs=1 seek=0 conv=notrunc 2>/dev/null
bad magic "not a memoplan plan file"
cp "$d/w.plan" "$d/version.plan"; printf '\x04' | dd of="$d/version.plan" bs=1 seek=8 conv=notrunc 2>/dev/null
bad version "plan format version 4"
printf 'short' > "$d/short.plan"; bad short "not a memoplan plan file"
bad dup "plan 2 of the set: same signature as an earlier plan"
cp "$d/set.plan" "$d/set0.plan"; printf '\x00' | dd of="$d/set0.plan" bs=1 seek=16 conv=notrunc 2>/dev/null
bad set0 "a plan set of 0 plans"
bad missingfile "cannot open"

d2=$(tmp)
prun record MEMOPLAN_PLAN="$d/w.plan" MEMOPLAN_TRACE_DIR="$d2" -- outlive=2
check "plan + recording: runs" [ $? -eq 0 ]
f=$(one_trace "$d2")
check "plan + recording: trace valid" dump "$d2/dump.txt" "$f"
check "plan + recording: header counters equal the API's" \
  [ "$(field plan_hits "$d2/dump.txt")/$(field plan_misses "$d2/dump.txt")/$(field plan_retirements "$d2/dump.txt")/$(field plan_status "$d2/dump.txt")" = \
    "$(tot record hits)/$(tot record misses)/1/2" ]
check "plan + recording: one plan_iter marker per served iteration, summing to the counters" \
  [ "$(field kind_plan_iter "$d2/dump.txt")/$(field plan_iter_hits "$d2/dump.txt")/$(field plan_iter_misses "$d2/dump.txt")" = \
    "5/$(tot record hits)/$(tot record misses)" ]
check "plan + recording: the served iterations' allocations are all recorded" \
  [ "$(field kind_malloc "$d2/dump.txt")" -ge $((5 * N / 2)) ]

d3=$(tmp)
(cd "$d3" && MEMOPLAN_PLAN="$d/w.plan" LD_PRELOAD=$LIB "$B/fork_test" > /dev/null 2>&1)
check "plan + fork: child and parent run" [ $? -eq 0 ]
prun noplan -- iters=2
check "no MEMOPLAN_PLAN: status 0, nothing served" [ "$(tot noplan status)/$(tot noplan hits)" = "0/0" ]
if command -v valgrind > /dev/null && [ -z "${NO_VALGRIND:-}" ]; then
  MEMOPLAN_PLAN="$d/w.plan" valgrind -q --error-exitcode=9 --soname-synonyms=somalloc=nouserintercepts \
    env LD_PRELOAD="$LIB" "$PT" run iters=3 > /dev/null 2> "$d/vg.err"
  vrc=$?
  check "plan under valgrind memcheck (rc $vrc)" [ $vrc -eq 0 ]
fi

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
