import { AB_ALLOCATORS, API_METHODS, LIMITS, UI_PLANNERS, type ApiMethod, type ApiRequest } from '../../shared/api';

/**
 * Input validation for every method of shared/api.ts. Each request is checked field by field
 * against a small schema (types, ranges, lengths, no unknown keys) and rebuilt from the checked
 * values only, so a handler never sees anything the schema did not name. A refusal is an
 * ApiInputError with a message that names the field.
 */

export class ApiInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiInputError';
  }
}

type Field =
  | { t: 'id' } // a positive safe integer (database ids)
  | { t: 'int'; min: number; max: number }
  | { t: 'num'; min: number; max: number } // finite number
  | { t: 'str'; max: number; min?: number }
  | { t: 'enum'; values: readonly string[] }
  | { t: 'bool' }
  | { t: 'strs'; maxItems: number; maxLength: number }
  | { t: 'ints'; min: number; max: number; minItems: number; maxItems: number } // distinct integers
  | { t: 'enums'; values: readonly string[]; minItems: number }; // distinct values

type Schema = Record<string, Field & { optional?: boolean }>;

const id: Field = { t: 'id' };
const NS_MAX = Number.MAX_SAFE_INTEGER;

/** The workload fields of a launch form (replay live, A/B); record.start has its own copy with name/ops. */
const workload: Schema = {
  interpreter: { t: 'str', max: LIMITS.argLength },
  script: { t: 'str', min: 1, max: LIMITS.argLength },
  args: { t: 'strs', maxItems: LIMITS.launchArgs, maxLength: LIMITS.argLength },
  cwd: { t: 'str', min: 1, max: LIMITS.argLength },
};

const SCHEMAS: { [M in ApiMethod]: Schema } = {
  'sessions.list': {},
  'sessions.rename': { id, name: { t: 'str', min: 1, max: LIMITS.nameLength } },
  'sessions.delete': { id },
  'db.open': {},
  'record.defaults': {},
  'record.start': {
    interpreter: { t: 'str', max: LIMITS.argLength },
    script: { t: 'str', min: 1, max: LIMITS.argLength },
    args: { t: 'strs', maxItems: LIMITS.launchArgs, maxLength: LIMITS.argLength },
    cwd: { t: 'str', min: 1, max: LIMITS.argLength },
    name: { t: 'str', max: LIMITS.nameLength, optional: true },
    ops: { t: 'bool', optional: true },
  },
  'record.stop': { runId: id, signal: { t: 'enum', values: ['SIGINT', 'SIGTERM'] } },
  'overview.timeline': {
    session: id,
    t0: { t: 'num', min: -NS_MAX, max: NS_MAX, optional: true },
    t1: { t: 'num', min: -NS_MAX, max: NS_MAX, optional: true },
    points: { t: 'int', min: 2, max: 100_000, optional: true },
  },
  'overview.top': {
    session: id,
    by: { t: 'enum', values: ['op', 'module'] },
    limit: { t: 'int', min: 1, max: LIMITS.topRows, optional: true },
    t0: { t: 'num', min: -NS_MAX, max: NS_MAX, optional: true },
    t1: { t: 'num', min: -NS_MAX, max: NS_MAX, optional: true },
  },
  'overview.live': {
    session: id,
    t: { t: 'int', min: -NS_MAX, max: NS_MAX, optional: true },
    iteration: { t: 'int', min: 0, max: NS_MAX, optional: true },
    limit: { t: 'int', min: 1, max: LIMITS.liveRows, optional: true },
  },
  'plan.iterations': { session: id },
  'plan.list': { session: id },
  'plan.run': {
    session: id,
    iteration: { t: 'int', min: 0, max: NS_MAX, optional: true },
    algorithm: { t: 'enum', values: UI_PLANNERS },
    timeLimit: { t: 'num', min: 0.1, max: LIMITS.planTimeLimitSeconds, optional: true },
    signatures: { t: 'enum', values: ['all'], optional: true },
  },
  'plan.sets': { session: id },
  'plan.map': { plan: id, maxRects: { t: 'int', min: 1, max: 1_000_000, optional: true } },
  'replay.info': { plan: id },
  'replay.at': { plan: id, k: { t: 'int', min: 0, max: NS_MAX } },
  'replay.live.defaults': { plan: id },
  'replay.live.start': { ...workload, plan: { ...id, optional: true }, set: { ...id, optional: true }, threads: { t: 'int', min: 1, max: LIMITS.abMaxThreads, optional: true } },
  'replay.live.stop': { jobId: id, signal: { t: 'enum', values: ['SIGINT', 'SIGTERM'] } },
  'ab.allocators': {},
  'ab.start': {
    ...workload,
    allocators: { t: 'enums', values: AB_ALLOCATORS, minItems: 1 },
    plan: { ...id, optional: true },
    threads: { t: 'ints', min: 1, max: LIMITS.abMaxThreads, minItems: 1, maxItems: LIMITS.abThreadCounts },
    runs: { t: 'int', min: 1, max: LIMITS.abMaxRuns },
    warmup: { t: 'int', min: 0, max: 100_000 },
    iterations: { t: 'int', min: 1, max: 10_000_000, optional: true },
    baseline: { t: 'enum', values: AB_ALLOCATORS },
    runTimeout: { t: 'int', min: 0, max: 7 * 24 * 3600, optional: true },
  },
  'ab.stop': { jobId: id },
  'ab.list': {},
  'ab.get': { id },
  'ab.sweep': { id },
  'export.run': { session: id, report: { t: 'bool' }, plan: { ...id, optional: true }, ab: { ...id, optional: true }, database: { t: 'bool' } },
  'processes.list': {},
  'attach.start': { pid: { t: 'int', min: 1, max: 2 ** 31 - 1 }, duration: { t: 'num', min: 0.5, max: 3600, optional: true } },
  'attach.stop': { runId: id },
  'jobs.list': {},
};

export function isApiMethod(m: unknown): m is ApiMethod {
  return typeof m === 'string' && (API_METHODS as readonly string[]).includes(m);
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

function hasNul(s: string): boolean {
  return s.includes('\0');
}

function check(name: string, f: Field, v: unknown): unknown {
  switch (f.t) {
    case 'id':
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new ApiInputError(`${name} must be a positive integer id, got ${describe(v)}`);
      return v;
    case 'int':
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < f.min || v > f.max) {
        throw new ApiInputError(`${name} must be an integer in ${f.min}..${f.max}, got ${describe(v)}`);
      }
      return v;
    case 'num':
      if (typeof v !== 'number' || !Number.isFinite(v) || v < f.min || v > f.max) throw new ApiInputError(`${name} must be a number in ${f.min}..${f.max}, got ${describe(v)}`);
      return v;
    case 'str':
      if (typeof v !== 'string') throw new ApiInputError(`${name} must be a string, got ${describe(v)}`);
      if (v.length < (f.min ?? 0)) throw new ApiInputError(`${name} must not be empty`);
      if (v.length > f.max) throw new ApiInputError(`${name} is longer than ${f.max} characters`);
      if (hasNul(v)) throw new ApiInputError(`${name} contains a NUL character`);
      return v;
    case 'enum':
      if (typeof v !== 'string' || !f.values.includes(v)) throw new ApiInputError(`${name} must be one of ${f.values.join(', ')}, got ${describe(v)}`);
      return v;
    case 'bool':
      if (typeof v !== 'boolean') throw new ApiInputError(`${name} must be true or false, got ${describe(v)}`);
      return v;
    case 'strs':
      if (!Array.isArray(v)) throw new ApiInputError(`${name} must be an array of strings, got ${describe(v)}`);
      if (v.length > f.maxItems) throw new ApiInputError(`${name} has more than ${f.maxItems} items`);
      return v.map((x, i) => check(`${name}[${i}]`, { t: 'str', max: f.maxLength }, x));
    case 'ints': {
      if (!Array.isArray(v)) throw new ApiInputError(`${name} must be an array of integers, got ${describe(v)}`);
      if (v.length < f.minItems) throw new ApiInputError(`${name} needs at least ${f.minItems} item${f.minItems === 1 ? '' : 's'}`);
      if (v.length > f.maxItems) throw new ApiInputError(`${name} has more than ${f.maxItems} items`);
      const out = v.map((x, i) => check(`${name}[${i}]`, { t: 'int', min: f.min, max: f.max }, x) as number);
      if (new Set(out).size !== out.length) throw new ApiInputError(`${name} lists a value twice`);
      return out;
    }
    case 'enums': {
      if (!Array.isArray(v)) throw new ApiInputError(`${name} must be an array, got ${describe(v)}`);
      if (v.length < f.minItems) throw new ApiInputError(`${name} needs at least ${f.minItems} item${f.minItems === 1 ? '' : 's'}`);
      if (v.length > f.values.length) throw new ApiInputError(`${name} has more than ${f.values.length} items`);
      const out = v.map((x, i) => check(`${name}[${i}]`, { t: 'enum', values: f.values }, x) as string);
      if (new Set(out).size !== out.length) throw new ApiInputError(`${name} lists a value twice`);
      return out;
    }
  }
}

/** Checks `params` against the schema of `method`; returns a clean copy or throws ApiInputError. */
export function validateRequest<M extends ApiMethod>(method: M, params: unknown): ApiRequest<M> {
  const schema = SCHEMAS[method];
  const p = params === undefined || params === null ? {} : params;
  if (typeof p !== 'object' || Array.isArray(p)) throw new ApiInputError(`${method}: the request must be a JSON object, got ${describe(p)}`);
  const given = p as Record<string, unknown>;
  for (const k of Object.keys(given)) {
    if (!Object.prototype.hasOwnProperty.call(schema, k)) throw new ApiInputError(`${method}: unknown field '${k.slice(0, 40)}'`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(schema)) {
    const v = given[k];
    if (v === undefined) {
      if (f.optional) continue;
      throw new ApiInputError(`${method}: ${k} is required`);
    }
    out[k] = check(`${method}: ${k}`, f, v);
  }
  return out as ApiRequest<M>;
}
