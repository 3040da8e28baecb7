/**
 * The SQLite schema, as an ordered list of migrations. PRAGMA user_version holds the number of
 * migrations applied; a database with a higher number was written by a newer memoplan and is
 * refused rather than guessed at. Never edit a migration that has shipped: append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: recording
  `
  CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    command       TEXT NOT NULL,          -- JSON array of argv
    cwd           TEXT NOT NULL,
    status        TEXT NOT NULL,          -- recording | complete | killed | failed
    exit_code     INTEGER,                -- the target's exit code (128+signal when killed)
    signal        TEXT,
    started_at    TEXT NOT NULL,          -- ISO 8601, wall clock
    ended_at      TEXT,
    python        TEXT,                   -- interpreter used, when the target is Python
    torch_version TEXT,
    host          TEXT,                   -- JSON: cpu model, cores, memory, kernel
    events        INTEGER NOT NULL DEFAULT 0,   -- allocation-family events stored
    markers       INTEGER NOT NULL DEFAULT 0,
    events_claimed INTEGER,               -- what the interposers said they wrote (clean exits only)
    allocations   INTEGER NOT NULL DEFAULT 0,
    live_at_exit  INTEGER NOT NULL DEFAULT 0,
    iterations    INTEGER NOT NULL DEFAULT 0,
    ops           INTEGER NOT NULL DEFAULT 0,
    first_event   INTEGER,                -- events.id range of this session
    last_event    INTEGER,
    clock_base_ns INTEGER,                -- CLOCK_MONOTONIC instant that event times count from
    t_begin       INTEGER,                -- first event, ns since clock_base_ns
    t_end         INTEGER,
    peak_live_bytes INTEGER
  );

  CREATE TABLE processes (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    pid         INTEGER NOT NULL,
    ppid        INTEGER NOT NULL,
    is_fork_child INTEGER NOT NULL,
    start_ns    INTEGER NOT NULL,
    clean_exit  INTEGER NOT NULL DEFAULT 0,
    events_claimed INTEGER,
    trace_file  TEXT NOT NULL
  );
  CREATE INDEX processes_session ON processes(session_id);

  CREATE TABLE threads (
    id           INTEGER PRIMARY KEY,
    session_id   INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    process_id   INTEGER NOT NULL REFERENCES processes(id) ON DELETE CASCADE,
    tid          INTEGER NOT NULL,
    thread_index INTEGER NOT NULL
  );
  CREATE INDEX threads_session ON threads(session_id);

  -- A scope interned by the agent: the nn.Module path and the aten op active on the thread.
  CREATE TABLE ops (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    process_id  INTEGER NOT NULL REFERENCES processes(id) ON DELETE CASCADE,
    name_id     INTEGER NOT NULL,       -- the id the interposer handed out
    module      TEXT NOT NULL,          -- '' when outside any module
    op          TEXT NOT NULL           -- '' for module-level (no op) scopes
  );
  CREATE UNIQUE INDEX ops_name ON ops(process_id, name_id);
  CREATE INDEX ops_session ON ops(session_id);

  -- Raw events, one row each, in the order they were read (per thread, in program order).
  -- Kept lean for ingest speed (each bound value costs ~70 ns): no session column and no index
  -- but the rowid. A session's events are those of its threads; they lie in
  -- sessions.first_event..last_event.
  CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    thread_id  INTEGER NOT NULL,        -- threads.id
    ts         INTEGER NOT NULL,        -- ns since sessions.clock_base_ns
    kind       INTEGER NOT NULL,        -- shared/trace-kinds.ts
    addr       INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    align      INTEGER NOT NULL,        -- bytes, 0 = default
    scope      INTEGER,                 -- ops.id, NULL = none
    flags      INTEGER NOT NULL
  );

  -- An allocation matched with its free: a lifetime. Size, alignment, scope, thread and time
  -- are those of its alloc event (join events). free_event is NULL when live at exit.
  -- seq and free_seq are positions in the session's event order (logical time).
  CREATE TABLE allocations (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    iteration_id INTEGER,               -- iterations.id running on the allocating thread, if any
    seq         INTEGER NOT NULL,
    free_seq    INTEGER,
    alloc_event INTEGER NOT NULL,       -- events.id
    free_event  INTEGER
  );
  CREATE INDEX allocations_iteration ON allocations(iteration_id) WHERE iteration_id IS NOT NULL;

  -- Allocations with the fields of their events, for queries.
  CREATE VIEW lifetimes AS
    SELECT a.id, a.session_id, a.iteration_id, a.seq, a.free_seq, a.alloc_event, a.free_event,
           e.thread_id, e.kind, e.addr, e.size, e.align, e.scope, e.ts AS t_alloc, f.ts AS t_free, f.thread_id AS free_thread_id
    FROM allocations a JOIN events e ON e.id = a.alloc_event LEFT JOIN events f ON f.id = a.free_event;

  CREATE TABLE iterations (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    process_id  INTEGER NOT NULL,
    thread_id   INTEGER NOT NULL,
    number      INTEGER NOT NULL,       -- as numbered by the agent, per process
    t_begin     INTEGER NOT NULL,
    t_end       INTEGER,
    latency_ns  INTEGER,
    begin_seq   INTEGER NOT NULL,
    end_seq     INTEGER,
    allocs      INTEGER NOT NULL DEFAULT 0,
    alloc_bytes INTEGER NOT NULL DEFAULT 0,
    signature   TEXT                    -- hash of the (size, align) sequence of its allocations
  );
  CREATE INDEX iterations_session ON iterations(session_id, number);

  -- Time-bucketed overview built at ingest, so no chart ever scans raw events.
  CREATE TABLE timeline (
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    bucket      INTEGER NOT NULL,
    t0          INTEGER NOT NULL,
    t1          INTEGER NOT NULL,
    allocs      INTEGER NOT NULL,
    frees       INTEGER NOT NULL,
    bytes_allocated INTEGER NOT NULL,
    live_bytes_end  INTEGER NOT NULL,
    live_bytes_max  INTEGER NOT NULL,
    PRIMARY KEY (session_id, bucket)
  ) WITHOUT ROWID;

  CREATE TABLE op_stats (
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    op_id       INTEGER NOT NULL,       -- ops.id; 0 = no scope
    allocs      INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    max_size    INTEGER NOT NULL,
    PRIMARY KEY (session_id, op_id)
  ) WITHOUT ROWID;
  `,
  // 2: plans
  `
  -- 1 when the agent attributed aten ops (TorchDispatchMode), 0 with --no-ops. Ops mode adds
  -- allocations of its own, so a plan only replays under the mode it was recorded with.
  ALTER TABLE sessions ADD COLUMN agent_ops INTEGER NOT NULL DEFAULT 1;

  CREATE TABLE plans (
    id            INTEGER PRIMARY KEY,
    session_id    INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    iteration_id  INTEGER NOT NULL REFERENCES iterations(id) ON DELETE CASCADE,
    algorithm     TEXT NOT NULL,
    arena_bytes   INTEGER NOT NULL,
    lower_bound_bytes INTEGER NOT NULL,
    baseline_span_bytes INTEGER,          -- address span the system allocator used for the same buffers
    seconds       REAL NOT NULL,
    optimal       INTEGER NOT NULL,
    is_best       INTEGER NOT NULL,       -- the plan \`all\` kept (or the only one run)
    buffers       INTEGER NOT NULL,       -- allocations placed in the arena
    unplannable_allocs INTEGER NOT NULL,  -- allocations of the iteration that outlive it
    unplannable_bytes  INTEGER NOT NULL,
    signature     TEXT NOT NULL,          -- the iteration signature the plan was made for
    created_at    TEXT NOT NULL
  );
  CREATE INDEX plans_session ON plans(session_id);

  -- One planned buffer: the ordinal-th allocation of the iteration gets arena + offset
  -- (ordinals count every allocation of the iteration, planned or not).
  CREATE TABLE plan_buffers (
    plan_id       INTEGER NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
    ordinal       INTEGER NOT NULL,
    allocation_id INTEGER NOT NULL,
    offset        INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    align         INTEGER NOT NULL,
    start         INTEGER NOT NULL,       -- logical time within the iteration, inclusive
    end           INTEGER NOT NULL,       -- exclusive
    PRIMARY KEY (plan_id, ordinal)
  ) WITHOUT ROWID;

  -- A session recorded in plan mode (memoplan replay): the plan it ran and what the
  -- interposer counted. status: 0 no plan, 1 observing, 2 serving, 3 refused.
  CREATE TABLE replays (
    session_id    INTEGER PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    plan_id       INTEGER,
    plan_file     TEXT NOT NULL,
    threads       INTEGER NOT NULL,
    status        INTEGER,
    refusal       TEXT,
    hits          INTEGER,
    misses        INTEGER,
    hit_bytes     INTEGER,
    miss_bytes    INTEGER,
    arena_bytes   INTEGER,
    iterations_served INTEGER,
    retirements   INTEGER
  );
  `,
  // 3: allocator A/B runs (main/ab)
  `
  -- One memoplan ab invocation: its configuration and the machine it ran on.
  CREATE TABLE ab_runs (
    id            INTEGER PRIMARY KEY,
    command       TEXT NOT NULL,          -- JSON array: the argv after --, as resolved
    cwd           TEXT NOT NULL,
    config        TEXT NOT NULL,          -- JSON: allocators, threads, runs, warmup, iterations, baseline, plan
    host          TEXT,                   -- JSON: cpu model, cores, memory, kernel
    python        TEXT,
    torch_version TEXT,
    seed          INTEGER NOT NULL,       -- of the bootstrap PRNG
    resamples     INTEGER NOT NULL,
    status        TEXT NOT NULL,          -- running | complete | interrupted
    started_at    TEXT NOT NULL,
    ended_at      TEXT
  );

  -- One arm: an allocator at a number of serving threads.
  CREATE TABLE ab_arms (
    id            INTEGER PRIMARY KEY,
    ab_run_id     INTEGER NOT NULL REFERENCES ab_runs(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,       -- order within the invocation
    allocator     TEXT NOT NULL,
    library       TEXT,                   -- preloaded file; NULL for glibc
    threads       INTEGER NOT NULL,
    status        TEXT NOT NULL,          -- ok | failed
    reason        TEXT,
    UNIQUE (ab_run_id, allocator, threads)
  );

  -- One process: an arm's r-th run, with what the kernel counted for it alone (wait4 rusage).
  CREATE TABLE ab_processes (
    id            INTEGER PRIMARY KEY,
    ab_run_id     INTEGER NOT NULL REFERENCES ab_runs(id) ON DELETE CASCADE,
    arm_id        INTEGER NOT NULL REFERENCES ab_arms(id) ON DELETE CASCADE,
    run_index     INTEGER NOT NULL,       -- 1..runs
    seq           INTEGER NOT NULL,       -- launch order within the invocation (interleaving)
    pid           INTEGER,
    status        TEXT NOT NULL,          -- ok | failed
    reason        TEXT,
    exit_code     INTEGER,
    signal        INTEGER,
    wall_ns       INTEGER,
    utime_us      INTEGER,
    stime_us      INTEGER,
    peak_rss_bytes INTEGER,
    minor_faults  INTEGER,
    major_faults  INTEGER,
    voluntary_cs  INTEGER,
    involuntary_cs INTEGER,
    threads_seen  INTEGER,                -- distinct serving threads in the latency file
    latencies_seen INTEGER,               -- lines in the latency file
    plan_status   TEXT,                   -- plan arm: fields of the interposer's MEMOPLAN_PLAN_STATS line
    plan_hits     INTEGER,
    plan_misses   INTEGER,
    plan_hit_bytes INTEGER,
    plan_miss_bytes INTEGER,
    plan_arena_bytes INTEGER,
    plan_iterations_served INTEGER,
    plan_retirements INTEGER,
    plan_refusal  TEXT,
    stderr_tail   TEXT,                   -- last lines of the target's stderr (failed runs)
    UNIQUE (arm_id, run_index)
  );
  CREATE INDEX ab_processes_run ON ab_processes(ab_run_id);

  -- One kept latency sample (after the warm-up of its serving thread).
  CREATE TABLE ab_samples (
    process_id    INTEGER NOT NULL REFERENCES ab_processes(id) ON DELETE CASCADE,
    thread_index  INTEGER NOT NULL,       -- serving thread, numbered in order of its first sample
    iteration     INTEGER NOT NULL,       -- index among the thread's kept samples, 0-based
    latency_ns    INTEGER NOT NULL,
    PRIMARY KEY (process_id, thread_index, iteration)
  ) WITHOUT ROWID;
  `,
  // 4: sessions recorded by attaching to a running process (memoplan attach PID)
  `
  -- NULL for launched runs. An attached session covers the process only from attached_at on:
  -- blocks allocated before it and freed while attached are counted as unmatched frees.
  ALTER TABLE sessions ADD COLUMN attached_pid INTEGER;
  ALTER TABLE sessions ADD COLUMN attached_at TEXT;     -- ISO 8601: recording began (injection done)
  ALTER TABLE sessions ADD COLUMN detached_at TEXT;     -- ISO 8601: hooks removed (or the target exited)
  `,
  // 5: where each timeline bucket's rows lie, so a zoomed-in range is summed from exactly those
  // rows (main/store/timeline-detail.ts). NULL where the bucket has none, and in sessions
  // recorded before this version (they zoom at bucket resolution only).
  `
  -- JSON [[first,last],...]: sorted, disjoint events.id ranges that hold the allocations counted
  -- in the bucket (main/store/id-ranges.ts). A thread's rows are stored in its program order,
  -- so it adds one range per bucket; other threads' rows may lie inside a range.
  ALTER TABLE timeline ADD COLUMN event_ranges TEXT;
  ALTER TABLE timeline ADD COLUMN free_first INTEGER;   -- allocations.id range of the rows whose free is counted in it
  ALTER TABLE timeline ADD COLUMN free_last INTEGER;
  `,
  // 6: Python stacks. The agent (resources/agent/memoplan_agent/stacks.py) interns each distinct
  // stack once per process as a name of its own, "@stack<TAB>" + frames, and a scope's name gains
  // a third field, the stack's name id: "module<TAB>op<TAB>id". The ingesters store the first in
  // stacks and point ops.stack_id at it.
  `
  CREATE TABLE stacks (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    process_id  INTEGER NOT NULL REFERENCES processes(id) ON DELETE CASCADE,
    name_id     INTEGER NOT NULL,       -- the id the interposer handed out
    frames      TEXT NOT NULL           -- one "file:line function" per line, outermost first
  );
  CREATE UNIQUE INDEX stacks_name ON stacks(process_id, name_id);
  CREATE INDEX stacks_session ON stacks(session_id);
  -- The Python stack of the scope (stacks.id); NULL outside Python or for names without one.
  ALTER TABLE ops ADD COLUMN stack_id INTEGER;
  `,
  // 7: plan sets (memoplan plan --signatures all, docs/PLAN_FORMAT.md "Plan sets"): one plan per
  // iteration signature of a session, grouped. A set's plans are its members in plans.id order
  // (the order of the set file's directory).
  `
  CREATE TABLE plan_sets (
    id            INTEGER PRIMARY KEY,
    session_id    INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    algorithm     TEXT NOT NULL,          -- the --algorithm asked for
    created_at    TEXT NOT NULL
  );
  CREATE INDEX plan_sets_session ON plan_sets(session_id);
  ALTER TABLE plans ADD COLUMN set_id INTEGER REFERENCES plan_sets(id) ON DELETE SET NULL;
  -- Iterations of the recording with the plan's signature (after the size floor): the set
  -- file's directory field seen. NULL for plans outside a set.
  ALTER TABLE plans ADD COLUMN set_seen INTEGER;
  CREATE INDEX plans_set ON plans(set_id) WHERE set_id IS NOT NULL;
  -- A replay of a plan set: plans of the set that served an iteration (all threads), and
  -- iterations in which no plan of the set was left (trace header offsets 160 and 168).
  ALTER TABLE replays ADD COLUMN signatures_served INTEGER;
  ALTER TABLE replays ADD COLUMN iterations_unplanned INTEGER;
  ALTER TABLE replays ADD COLUMN set_id INTEGER;
  `,
  // 8: growing plan sets and A/B runs of sets
  `
  -- The size floor the plan was made with (docs/PLAN_FORMAT.md). NULL: the one its session's
  -- recording mode gives (plans made before sets). A set grown from a replay session keeps the
  -- set's floor for the plans it adds, whatever that session's mode.
  ALTER TABLE plans ADD COLUMN size_floor INTEGER;
  -- An A/B run of a plan set: what MEMOPLAN_PLAN_STATS said (signatures: JSON array, one
  -- object per plan of the set: signature, iterations_served, hits, misses).
  ALTER TABLE ab_processes ADD COLUMN plan_signatures_served INTEGER;
  ALTER TABLE ab_processes ADD COLUMN plan_iterations_unplanned INTEGER;
  ALTER TABLE ab_processes ADD COLUMN plan_signatures TEXT;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
