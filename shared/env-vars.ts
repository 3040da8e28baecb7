/**
 * Every MEMOPLAN_* environment variable, the one home of their names (docs/ARCHITECTURE.md,
 * "Environment variables"): what each means and who reads it. The TypeScript sets and reads
 * them through ENV (`process.env[ENV.PLAN]`); the interposer, the ingester and the agent read
 * the same names, and test/structure/env-vars.test.ts checks that every name they, the
 * scripts and the docs use is defined here and every name here is used.
 */
export const ENV_VARS = {
  // memoplan itself (main/)
  MEMOPLAN_DB: 'database file of the CLI verbs and the app (default memoplan.db; the app: its userData folder)',
  MEMOPLAN_PYTHON: 'Python interpreter of a Python target when --python is not given (record, ab, replay)',
  MEMOPLAN_PYTHON_PROBE_SECONDS: 'how long the probe of a Python interpreter may take to import torch (default 180)',
  MEMOPLAN_TRACE_ROOT: 'where trace folders are made, instead of /dev/shm or next to the database',
  MEMOPLAN_INTERPOSER: 'path of libmemoplan.so, instead of the built or packaged one',
  MEMOPLAN_INGESTER: 'path of memoplan-ingest, instead of the built or packaged one',
  MEMOPLAN_LAUNCHER: 'path of memoplan-rusage (the A/B launcher), instead of the built or packaged one',
  MEMOPLAN_GDB: 'gdb executable of attach and detach (default gdb on PATH)',
  MEMOPLAN_GDB_PARAMS: 'set for gdb by attach: the JSON parameters of the gdb batch step (main/session/gdb.ts)',
  MEMOPLAN_ATTACH_DIR: 'folder of the per-pid attach registry (default $TMPDIR/memoplan-attach-UID)',
  MEMOPLAN_QUICK_CHECK_MAX_BYTES: 'largest database file checked with quick_check when opened for reading',
  MEMOPLAN_DEBUG: 'any value: errors are printed with their stack on stderr (CLI, API)',
  MEMOPLAN_EXACT_DEBUG: '"1": the exact planner prints its progress on stderr',
  MEMOPLAN_EXACT_NOCACHE: '"1": the exact planner runs without its failure cache (to check it changes no answer)',
  // set for the traced or planned target, read by the interposer and the agent
  MEMOPLAN_TRACE_DIR: 'the trace folder of a recording: the interposer records into it when set',
  MEMOPLAN_AGENT: '"1": sitecustomize.py loads the Python agent',
  MEMOPLAN_AGENT_OPS: '"0": the minimal agent (module paths and iterations, no aten-op attribution); default 1',
  MEMOPLAN_PLAN: 'a plan file: the interposer serves the planned allocations from its arena (plan mode)',
  MEMOPLAN_PLAN_STATS: 'a file the interposer writes its plan-mode counters to at exit, one JSON line',
  MEMOPLAN_PLAN_NO_RELEASE: 'any value: plan mode does not ask the allocator beneath to give its free memory back when a thread starts serving',
  MEMOPLAN_NO_TSC: 'any value: the interposer stamps with clock_gettime instead of the TSC',
  MEMOPLAN_LATENCY_FILE: 'a file the agent writes per-iteration latencies to (A/B runs)',
  MEMOPLAN_SERVING_THREADS: 'serving threads the workload runs (replay, A/B arms; read by resources/workloads)',
  // read by memoplan-ingest (native/ingest/session.cpp, pace.cpp)
  MEMOPLAN_INGEST_PROFILE: 'any value: memoplan-ingest prints seconds per phase and its pacing decisions on stderr at exit (record and attach pass its stderr through)',
  MEMOPLAN_INGEST_PUNCH: '"0": memoplan-ingest keeps every chunk of the trace files (no hole punching)',
  MEMOPLAN_INGEST_SPILL: '"0": memoplan-ingest copies no full chunk out for a writer it lags behind (docs/TRACE_FORMAT.md "Copies")',
  MEMOPLAN_INGEST_POLL_RECORDS: 'records memoplan-ingest reads per poll at most (default 250,000; tests)',
  MEMOPLAN_INGEST_PACE: '"0": memoplan-ingest polls at full speed while the target runs instead of yielding the CPU to it (native/ingest/pace.h)',
  // tests, benches and setup
  MEMOPLAN_CHROMIUM: 'Chromium of the UI and report tests and the UI bench (default /usr/bin/chromium)',
  MEMOPLAN_TORCH2_VENV: '"1"/"0": scripts/setup.sh makes (or skips) .venv-torch2 for the torch 2.x tests',
  MEMOPLAN_TORCH2_PYTHON: 'interpreter of the torch 2.x tests, instead of .venv-torch2',
  MEMOPLAN_TEST_ARTIFACTS: 'a folder the report test keeps its report and screenshot in',
} as const;

export type EnvVarName = keyof typeof ENV_VARS;

type ShortName<N extends string> = N extends `MEMOPLAN_${infer S}` ? S : never;

/** The names by their part after MEMOPLAN_: ENV.PLAN === 'MEMOPLAN_PLAN'. */
export const ENV = Object.freeze(
  Object.fromEntries(Object.keys(ENV_VARS).map((n) => [n.slice('MEMOPLAN_'.length), n])),
) as { readonly [N in EnvVarName as ShortName<N>]: N };
