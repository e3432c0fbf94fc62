import { open } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Database } from '../store/db.ts';
import { isUniqueViolation } from '../store/db.ts';
import type { Clock } from '../domain/clock.ts';
import { ChatError } from '../platforms/port.ts';
import type { AuditLog } from '../store/audit.ts';
import { AUDIT_PLATFORM, CHECKPOINT_OP, parseCheckpoints } from '../store/auditCheckpoints.ts';
import { scheduleTimer } from '../store/timers.ts';
import type { EffectRunner, OutboxDispatcher } from './outboxDispatcher.ts';
import type { TimerScheduler } from './timerScheduler.ts';

/**
 * Writes checkpoints to the log and to MUSTER_AUDIT_CHECKPOINT_FILE, as the outbox runner of
 * an internal platform. A port rather than an effect hook: a hook runs inside the
 * database transaction that marks a chat effect done, after a chat call, and a file write
 * does not belong in a transaction that may still roll back. As an effect of its own, the
 * record is written only for committed checkpoints, by one replica (the effect's lease),
 * retried if the file cannot be written, and independent of the chat post, so a chat platform's
 * outage neither delays nor repeats it.
 */
export class CheckpointRecorder implements EffectRunner {
  readonly platform = AUDIT_PLATFORM;

  constructor(
    private readonly log: Logger,
    private readonly file?: string,
  ) {}

  async perform(op: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (op !== CHECKPOINT_OP) throw new ChatError(`unknown effect "${op}"`, 'permanent', 'unknown_op');
    const line = typeof args.line === 'string' ? args.line : '';
    const [checkpoint] = parseCheckpoints(line, 'effect').found;
    if (!checkpoint) throw new ChatError('effect argument "line" is not a checkpoint', 'permanent', 'bad_effect');
    // The file first: if it fails, the effect is retried and the log line is not repeated.
    if (this.file) await appendOnce(this.file, line);
    const { seq, hash, keyId, at } = checkpoint;
    this.log.info({ checkpoint: { seq, hash, keyId, at } }, line);
    return { seq: checkpoint.seq };
  }
}

/** Appends the line unless it already ends the file: a retry after a lost lease does not write it twice. */
async function appendOnce(file: string, line: string): Promise<void> {
  const fh = await open(file, 'a+', 0o640);
  try {
    const { size } = await fh.stat();
    const tailLength = Math.min(size, line.length + 4096);
    const tail = Buffer.alloc(tailLength);
    if (tailLength > 0) await fh.read(tail, 0, tailLength, size - tailLength);
    const text = tail.toString('utf8');
    if (text.split('\n').includes(line)) return;
    await fh.appendFile(`${size > 0 && !text.endsWith('\n') ? '\n' : ''}${line}\n`);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/** At start-up: a checkpoint file that cannot be written would only show up later, as dead letters. */
export async function checkpointFileProblem(file: string): Promise<string | undefined> {
  try {
    await (await open(file, 'a', 0o640)).close();
    return undefined;
  } catch (e) {
    return `MUSTER_AUDIT_CHECKPOINT_FILE ${file} cannot be appended to: ${(e as Error).message}`;
  }
}

export const CHECKPOINT_TIMER = { key: 'audit:checkpoint', kind: 'audit.checkpoint', subjectType: 'audit', subjectId: 'chain' } as const;

export interface CheckpointWiring {
  db: Database;
  clock: Clock;
  log: Logger;
  audit: AuditLog;
  dispatcher: OutboxDispatcher;
  timers: TimerScheduler;
  /** policy audit.checkpointInterval */
  intervalMs: number;
  /** MUSTER_AUDIT_CHECKPOINT_FILE */
  file?: string;
}

/**
 * The hourly checkpoint: one timer row for all replicas (the timer lease makes exactly one
 * of them fire it), which re-arms itself each time it fires.
 */
export async function wireAuditCheckpoints(w: CheckpointWiring): Promise<void> {
  w.dispatcher.addRunner(new CheckpointRecorder(w.log, w.file));
  w.timers.on(CHECKPOINT_TIMER.kind, async (tx) => {
    const r = await w.audit.checkpointIfMoved(tx, 'interval');
    if (r.lastPublished !== undefined && (r.head ?? 0) < r.lastPublished) {
      w.log.error({ head: r.head ?? 0, lastPublished: r.lastPublished }, 'the audit chain is shorter than its last published checkpoint: entries were removed; run `muster audit verify`');
    }
    await scheduleTimer(tx, w.clock, { ...CHECKPOINT_TIMER, dueAt: new Date(w.clock.now().getTime() + w.intervalMs) });
  });
  await armCheckpointTimer(w.db, w.clock, w.intervalMs);
}

/**
 * Arms the timer unless it is armed already: a replica that restarts more often than the
 * interval must not push the next checkpoint back each time. A shorter interval in the
 * policy pulls it in.
 */
export async function armCheckpointTimer(db: Database, clock: Clock, intervalMs: number): Promise<void> {
  const dueAt = new Date(clock.now().getTime() + intervalMs);
  try {
    await db.tx(async (tx) => {
      const t = await tx.timer.findUnique({ where: { key: CHECKPOINT_TIMER.key }, select: { status: true, dueAt: true } });
      if (t?.status === 'claimed' || (t?.status === 'pending' && t.dueAt <= dueAt)) return;
      await scheduleTimer(tx, clock, { ...CHECKPOINT_TIMER, dueAt });
    });
  } catch (e) {
    // Another replica armed it at the same moment.
    if (!isUniqueViolation(e)) throw e;
  }
}
