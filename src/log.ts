import pino, { type Logger } from 'pino';

/** JSON logs on stdout (pino); one child per request carries its requestId. */
export function createLogger(level: string, name = 'muster'): Logger {
  return pino({ name, level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
