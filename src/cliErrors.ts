/** Bad usage of the `muster` command: printed with its message, exit code 2. */
export class UsageError extends Error {}
