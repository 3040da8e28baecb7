/**
 * An error caused by the user's input or environment (a missing file, a bad flag, a database
 * from a newer memoplan). The CLI prints its message on one line and exits non-zero, with no
 * stack trace; anything else escaping is a bug and is reported as such.
 */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'UserError';
  }
}
