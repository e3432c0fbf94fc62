import cron from 'node-cron';
import type { Logger } from 'pino';
import { changeRef } from '../domain/change.ts';
import { decodeNullable, decodeText } from '../domain/text.ts';
import type { SurfaceRef } from '../platforms/effects.ts';
import { DuplicateRequest, type Kernel, type Unit } from '../services/kernel.ts';
import type { EffectSpec } from '../store/outbox.ts';
import { cabDigestMessage, type DigestItem } from '../../blocks/changeReports.ts';

/** What the digest gives the cron scheduler: the organisation's time zone and a task name. */
export interface CronOptions {
  timezone: string;
  name: string;
}

/** A scheduled task, as the digest needs it. */
export interface CronTask {
  stop(): void | Promise<void>;
  /** When it fires next (undefined where the scheduler cannot tell). */
  nextRun?(): Date | null;
}

/**
 * Schedules `run` on a cron expression; `run` gets the occurrence (the minute the expression
 * matched, the same on every replica). node-cron by default; tests pass their own.
 */
export type CronScheduler = (expression: string, run: (occurrence: Date) => Promise<void>, options: CronOptions) => CronTask;

/** node-cron: its task context's `date` is the matched slot, not the moment the callback ran. */
export const nodeCronScheduler: CronScheduler = (expression, run, options) => {
  const task = cron.schedule(expression, (ctx) => run(ctx.date), options);
  return { stop: () => task.destroy(), nextRun: () => task.getNextRun() };
};

/** The cards posted after the header at most: a CAB meeting reads a screenful, the header lists the rest. */
export const DIGEST_MAX_CARDS = 25;

/** How one workspace's digest went. */
export interface DigestRun {
  workspaceId: string;
  /** Posted by this runner; 'duplicate': another replica has this occurrence; 'failed': logged. */
  outcome: 'posted' | 'duplicate' | 'failed';
  /** The changes listed (CHG-n), oldest first. */
  changes: string[];
}

export interface CabDigestDeps {
  kernel: Kernel;
  log: Logger;
  scheduler?: CronScheduler;
}

/**
 * The CAB digest: on `changes.cab.digest` (cron) in `organization.timeZone`, posts the pending normal
 * changes with their risk to the CAB channel (`changes.cab.channel`, else `changes.channel`): a header
 * listing them oldest first, then each one's card with its buttons. The cards are change cards like
 * any other (change_cards, place 'digest'), so every later vote redraws them.
 *
 * Every replica's cron fires; one posts. Each workspace's occurrence is claimed by its key
 * (`cab-digest:<workspace>:<ISO minute>`) in processed_requests, in the transaction that writes the
 * digest's effects, its card rows and its audit entries: a replica that finds the key taken writes nothing.
 */
export class CabDigest {
  private task: CronTask | undefined;
  /** What `start` gave the scheduler, if it scheduled. */
  scheduled: { expression: string; options: CronOptions } | undefined;

  constructor(private readonly deps: CabDigestDeps) {}

  private get policy() {
    return this.deps.kernel.policy;
  }

  /** Where the digest goes: changes.cab.channel, else changes.channel; undefined when neither is set. */
  get channel(): string | undefined {
    return this.policy.changes.cab.channel ?? this.policy.changes.channel;
  }

  /** Schedules the digest; without a channel, warns and schedules nothing (returns false). */
  start(): boolean {
    if (this.task) return true;
    if (!this.channel) {
      this.deps.log.warn('the CAB digest is off: neither changes.cab.channel nor changes.channel is set in the policy');
      return false;
    }
    const expression = this.policy.changes.cab.digest;
    const options: CronOptions = { timezone: this.policy.organization.timeZone, name: 'muster-cab-digest' };
    this.task = (this.deps.scheduler ?? nodeCronScheduler)(
      expression,
      async (occurrence) => {
        try {
          await this.runDigest(occurrence);
        } catch (e) {
          this.deps.log.error({ err: e }, 'CAB digest failed');
        }
      },
      options,
    );
    this.scheduled = { expression, options };
    this.deps.log.info({ cron: expression, timeZone: options.timezone, channel: this.channel }, 'CAB digest scheduled');
    return true;
  }

  /** When the digest is posted next (null when not scheduled). */
  nextRun(): Date | null {
    return this.task?.nextRun?.() ?? null;
  }

  async stop(): Promise<void> {
    const task = this.task;
    this.task = undefined;
    this.scheduled = undefined;
    await task?.stop();
  }

  /**
   * Posts the digest of the occurrence at `occurrence` (its minute is the claim) in every workspace with
   * pending normal changes. Another replica's claim of the same occurrence is not an error: it posted.
   */
  async runDigest(occurrence: Date): Promise<DigestRun[]> {
    const channel = this.channel;
    if (!channel) return [];
    const k = this.deps.kernel;
    const minute = new Date(Math.floor(occurrence.getTime() / 60_000) * 60_000).toISOString().replace(/:00\.000Z$/, 'Z');
    const workspaces = await k.db.read((tx) =>
      tx.changeRequest.findMany({ where: { type: 'normal', status: 'pending' }, select: { workspaceId: true }, distinct: ['workspaceId'], orderBy: { workspaceId: 'asc' } }),
    );
    const runs: DigestRun[] = [];
    for (const { workspaceId } of workspaces) {
      const key = `cab-digest:${workspaceId}:${minute}`;
      try {
        const changes = await k.run(k.systemActor(workspaceId), { requestId: key, requestKey: key }, (u) => this.post(u, workspaceId, channel, minute));
        runs.push({ workspaceId, outcome: 'posted', changes });
        if (changes.length) this.deps.log.info({ workspaceId, channel, changes: changes.length, occurrence: minute }, 'CAB digest posted');
      } catch (e) {
        if (e instanceof DuplicateRequest) {
          runs.push({ workspaceId, outcome: 'duplicate', changes: [] });
          this.deps.log.debug({ workspaceId, occurrence: minute }, 'CAB digest already posted by another replica');
        } else {
          runs.push({ workspaceId, outcome: 'failed', changes: [] });
          this.deps.log.error({ err: e, workspaceId, occurrence: minute }, 'CAB digest failed');
        }
      }
    }
    return runs;
  }

  /** The digest of one workspace, in the claiming transaction: header, cards in order, card rows, audit. */
  private async post(u: Unit, workspaceId: string, channel: string, occurrence: string): Promise<string[]> {
    const rows = await u.tx.changeRequest.findMany({ where: { workspaceId, type: 'normal', status: 'pending' }, orderBy: [{ createdAt: 'asc' }, { number: 'asc' }] });
    if (!rows.length) return [];
    const items: DigestItem[] = rows.map((r) => ({
      ref: changeRef(r.number),
      title: decodeText(r.title),
      riskLevel: r.riskLevel,
      riskScore: r.riskScore,
      environment: r.environment,
      windowStart: r.windowStart,
      createdAt: r.createdAt,
      deferredAt: r.deferredAt,
      deferReason: decodeNullable(r.deferReason),
      waitingForWindow: r.windowProblem !== null,
    }));
    const carded = rows.slice(0, DIGEST_MAX_CARDS);
    // Each card after the one before it (for order only: a card that cannot be posted holds none back).
    const effects: EffectSpec[] = [
      { op: 'postMessage', ref: 'header', args: { channel, message: cabDigestMessage(items, carded.length) } },
      ...carded.map((r, i): EffectSpec => {
        const surface: SurfaceRef = { kind: 'change.card', changeId: r.id };
        return { op: 'postMessage', ref: `card-${i}`, afterAll: [i === 0 ? 'header' : `card-${i - 1}`], args: { channel, surface } };
      }),
    ];
    const ids = await u.enqueue(...effects);
    for (const [i, r] of carded.entries()) await u.tx.changeCard.create({ data: { changeId: r.id, effectId: ids[i + 1]!, place: 'digest' } });
    for (const [i, r] of rows.entries()) {
      u.audit({
        action: 'change.cab.digest',
        subjectType: 'change',
        subjectId: changeRef(r.number),
        after: { channel, occurrence, position: i + 1, of: rows.length, card: i < carded.length, deferred: r.deferredAt !== null },
      });
    }
    return items.map((i) => i.ref);
  }
}
