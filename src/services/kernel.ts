import type { Logger } from 'pino';
import type { Database, Tx } from '../store/db.ts';
import { isUniqueViolation } from '../store/db.ts';
import type { Clock } from '../domain/clock.ts';
import type { Policy } from '../config/policy.ts';
import { AuditLog, type AuditInput } from '../store/audit.ts';
import { enqueueEffects, type EffectSpec } from '../store/outbox.ts';
import { scheduleTimer, cancelTimers, type TimerSpec } from '../store/timers.ts';
import { ensureUser, ensureWorkspace, grantedRoles, userIdOf, workspaceIdOf } from '../store/identity.ts';
import { hasPermission, isRole, type Permission, type Role } from '../domain/rbac.ts';
import { Refusal } from './errors.ts';
import type { Actor, Directory, RequestMeta } from './types.ts';

/** What a service writes besides its own state, collected and stored in the same transaction. */
export interface Unit {
  readonly tx: Tx;
  readonly now: Date;
  audit(entry: Omit<AuditInput, 'actorId' | 'actorName' | 'platform' | 'workspaceId' | 'requestId'> & Partial<AuditInput>): void;
  effects(...effects: EffectSpec[]): void;
  /** Writes effects at once and returns their ids (to update those messages later). */
  enqueue(...effects: EffectSpec[]): Promise<number[]>;
  schedule(timer: TimerSpec): Promise<void>;
  cancel(by: Parameters<typeof cancelTimers>[2]): Promise<number>;
}

export class DuplicateRequest extends Error {
  constructor() {
    super('this request was already handled');
  }
}

export interface KernelDeps {
  db: Database;
  clock: Clock;
  policy: Policy;
  log: Logger;
  admins: readonly string[];
  directory?: Directory;
  /** Called after a commit that wrote effects: the dispatcher runs them at once. */
  onEffects?: () => void;
}

/**
 * The one way services write: load, decide, then state + audit + outbox + timers in ONE
 * transaction. A retried request (same key) finds its key taken and changes nothing.
 */
export class Kernel {
  readonly audit: AuditLog;
  private readonly knownUsers = new Set<string>();

  constructor(readonly deps: KernelDeps) {
    this.audit = new AuditLog(deps.db.provider, deps.clock);
  }

  get db() {
    return this.deps.db;
  }
  get clock() {
    return this.deps.clock;
  }
  get policy() {
    return this.deps.policy;
  }

  /** Maps a platform user to a Muster actor with their roles (grants plus MUSTER_ADMINS). */
  async actor(platform: string, workspaceExternalId: string, userExternalId: string, name?: string): Promise<Actor> {
    const workspaceId = workspaceIdOf(platform, workspaceExternalId);
    const userId = userIdOf(workspaceId, userExternalId);
    const now = this.clock.now();
    const granted = await this.db.tx(async (tx) => {
      if (!this.knownUsers.has(userId)) {
        await ensureWorkspace(tx, platform, workspaceExternalId, now);
        await ensureUser(tx, workspaceId, userExternalId, now, name);
      }
      return grantedRoles(tx, userId);
    });
    this.knownUsers.add(userId);
    const envRoles = new Set<Role>(this.deps.admins.includes(userExternalId) ? ['admin'] : []);
    const roles = new Set<Role>([...granted.filter(isRole), ...envRoles]);
    return { workspaceId, userId, externalId: userExternalId, name, platform, roles, envRoles };
  }

  /**
   * Runs a service body in one transaction. The body returns its reply; audit entries,
   * effects and timers it asked for are written before commit. A `Refusal` thrown here
   * rolls everything back; the caller records it (see commands/dispatch.ts).
   */
  async run<T>(actor: Actor, meta: RequestMeta, body: (unit: Unit) => Promise<T>): Promise<T> {
    let wroteEffects = false;
    const result = await this.db.tx(async (tx) => {
      if (meta.requestKey) await this.claimKey(tx, meta.requestKey, this.clock.now());
      const r = await this.inTx(tx, actor, meta, body);
      wroteEffects = r.wroteEffects;
      return r.value;
    });
    if (wroteEffects) this.deps.onEffects?.();
    return result;
  }

  /**
   * The same unit of work inside a transaction someone else owns (a timer firing, an
   * effect hook): audit entries, effects and timers are written before it returns.
   */
  async inTx<T>(tx: Tx, actor: Actor, meta: RequestMeta, body: (unit: Unit) => Promise<T>): Promise<{ value: T; wroteEffects: boolean }> {
    const now = this.clock.now();
    const audits: AuditInput[] = [];
    const effects: EffectSpec[] = [];
    let enqueued = false;
    const unit: Unit = {
      tx,
      now,
      audit: (e) =>
        audits.push({
          workspaceId: actor.workspaceId,
          actorId: actor.userId,
          actorName: actor.name ?? null,
          platform: actor.platform,
          requestId: meta.requestId,
          ...e,
        }),
      effects: (...e) => effects.push(...e),
      enqueue: async (...e) => {
        enqueued = true;
        return enqueueEffects(tx, this.clock, { workspaceId: actor.workspaceId, platform: actor.platform, requestId: meta.requestId }, e);
      },
      schedule: (t) => scheduleTimer(tx, this.clock, t),
      cancel: (by) => cancelTimers(tx, this.clock, by),
    };
    const value = await body(unit);
    await this.audit.append(tx, audits);
    if (effects.length) {
      await enqueueEffects(tx, this.clock, { workspaceId: actor.workspaceId, platform: actor.platform, requestId: meta.requestId }, effects);
    }
    return { value, wroteEffects: effects.length > 0 || enqueued };
  }

  /** Refuses (and audits the attempt) unless the actor holds the permission through a role. */
  requirePermission(actor: Actor, permission: Permission, doing: string, audit: { action: string; subjectType?: string; subjectId?: string; reason?: string }): void {
    if (hasPermission(actor.roles, permission, this.policy.permissions)) return;
    throw new Refusal(`You cannot ${doing}: that needs the ${permission} permission (held by ${this.policy.permissions[permission].join(', ')}).`, {
      reason: `missing ${permission}`,
      ...audit,
    });
  }

  /** A person of this workspace (not a bot, not deactivated), looked up on the platform. */
  async requirePerson(actor: Actor, externalId: string, what: string): Promise<string | undefined> {
    const dir = this.deps.directory;
    if (!dir) return undefined;
    const user = await dir.lookupUser(actor.workspaceId.slice(actor.platform.length + 1), externalId);
    if (!user || user.deleted) throw new Refusal(`<@${externalId}> is not a member of this workspace.`);
    if (user.isBot) throw new Refusal(`<@${externalId}> is a bot; ${what} are for people.`);
    return user.name;
  }

  /** Muster itself, acting on a timer or an event nobody typed. */
  systemActor(workspaceId: string): Actor {
    const platform = workspaceId.split(':')[0] ?? 'slack';
    return { workspaceId, userId: 'system', externalId: 'system', name: 'Muster', platform, roles: new Set(), envRoles: new Set() };
  }

  /** Appends a refused attempt to the audit chain (in its own transaction: the request wrote nothing). */
  async recordRefusal(actor: Actor, meta: RequestMeta, r: Refusal): Promise<void> {
    if (!r.audit) return;
    try {
      await this.db.tx(async (tx) => {
        if (meta.requestKey) await this.claimKey(tx, meta.requestKey, this.clock.now());
        await this.audit.append(tx, {
          workspaceId: actor.workspaceId,
          actorId: actor.userId,
          actorName: actor.name ?? null,
          platform: actor.platform,
          requestId: meta.requestId,
          action: r.audit!.action,
          outcome: 'denied',
          subjectType: r.audit!.subjectType ?? null,
          subjectId: r.audit!.subjectId ?? null,
          reason: r.audit!.reason ?? r.message,
        });
      });
    } catch (e) {
      // A retry of an already-refused request: the first refusal is on record.
      if (!(e instanceof DuplicateRequest)) throw e;
    }
  }

  private async claimKey(tx: Tx, key: string, now: Date): Promise<void> {
    const existing = await tx.processedRequest.findUnique({ where: { key }, select: { key: true } });
    if (existing) throw new DuplicateRequest();
    try {
      await tx.processedRequest.create({ data: { key, createdAt: now } });
    } catch (e) {
      if (isUniqueViolation(e)) throw new DuplicateRequest();
      throw e;
    }
  }

  async isProcessed(key: string): Promise<boolean> {
    return (await this.db.read((tx) => tx.processedRequest.findUnique({ where: { key }, select: { key: true } }))) !== null;
  }
}
