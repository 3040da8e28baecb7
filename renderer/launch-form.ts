import type { WorkloadForm } from '../shared/api';
import { api } from './client';
import { h, joinArgs, splitArgs } from './ui';

/**
 * The workload part of a launch form (interpreter, script, arguments, working directory), shared
 * by the live replay and the A/B view. What the user types goes to main as is; main checks it
 * (main/api/launch-check.ts) exactly as it checks the Record view's form.
 */
export interface LaunchForm {
  el: HTMLElement;
  /** The form's values; throws on an unclosed quote in the arguments. */
  read(): WorkloadForm;
  fill(f: Partial<WorkloadForm>): void;
  /** Fills the bundled example workload with these arguments (default: its own). */
  example(args?: string[]): Promise<void>;
}

let defaults: Promise<{ exampleScript: string; exampleArgs: string[]; cwd: string; interpreter: string }> | null = null;

export function recordDefaults(): Promise<{ exampleScript: string; exampleArgs: string[]; cwd: string; interpreter: string }> {
  defaults ??= api('record.defaults', {}).catch((err) => {
    defaults = null;
    throw err;
  });
  return defaults;
}

export function launchForm(prefix: string, extra: HTMLElement[] = []): LaunchForm {
  const field = (id: string, placeholder = '') => h('input', { type: 'text', id: `${prefix}-${id}`, placeholder, spellcheck: false, autocomplete: 'off' });
  const interpreter = field('interpreter', 'auto: a python3 that imports torch');
  const script = field('script', 'path/to/script.py');
  const args = field('args', '--flag value …');
  const cwd = field('cwd');
  const el = h(
    'div',
    { class: 'form' },
    h('label', { for: `${prefix}-interpreter`, text: 'Interpreter' }), interpreter,
    h('label', { for: `${prefix}-script`, text: 'Script' }), script,
    h('label', { for: `${prefix}-args`, text: 'Arguments' }), args,
    h('label', { for: `${prefix}-cwd`, text: 'Working directory' }), cwd,
    ...extra,
  );
  const fill = (f: Partial<WorkloadForm>) => {
    if (f.interpreter !== undefined) interpreter.value = f.interpreter;
    if (f.script !== undefined) script.value = f.script;
    if (f.args !== undefined) args.value = joinArgs(f.args);
    if (f.cwd !== undefined) cwd.value = f.cwd;
  };
  return {
    el,
    read: () => ({ interpreter: interpreter.value, script: script.value, args: splitArgs(args.value), cwd: cwd.value }),
    fill,
    async example(a?: string[]) {
      const d = await recordDefaults();
      fill({ interpreter: d.interpreter, script: d.exampleScript, args: a ?? d.exampleArgs, cwd: d.cwd });
    },
  };
}
