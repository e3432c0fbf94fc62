import type { Logger } from 'pino';
import type { Database, Tx } from '../store/db.ts';
import { isUniqueViolation, marks, sqlOf } from '../store/db.ts';
import type { Clock } from '../domain/clock.ts';
import type { Policy } from '../config/policy.ts';
import { AuditLog, type AuditInput } from '../store/audit.ts';
import { enqueueEffects, type EffectSpec } from '../store/outbox.ts';
import type { WrittenLease } from '../scheduler/outboxDispatcher.ts';
import { scheduleTimer, cancelTimers, type TimerSpec } from '../store/timers.ts';
import { ensureUser, ensureWorkspace, grantedRoles, personRoles, userIdOf, workspaceIdOf } from '../store/identity.ts';
import { hasPermission, isRole, type Permission, type Role } from '../domain/rbac.ts';
import { concat, joinText, mention, rt, type Text } from '../domain/text.ts';
import { Refusal } from './errors.ts';
import { NO_CAPABILITIES, type Capabilities } from '../platforms/effects.ts';
import type { Actor, Directory, DirectoryUser, NameMatch, PersonRef, Reply, ReplyHandle, RequestMeta } from './types.ts';

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

/** A person a command named, as one platform id. */
export interface ResolvedPerson {
  externalId: string;
  /** For the reply when the person was found by a typed name or email rather than picked from autocomplete. */
  note?: Text;
}

/** Appends how a typed name or email was matched, so the one who typed it sees whom Muster took it for. */
export function withResolution(reply: Reply, person: ResolvedPerson): Reply {
  return person.note ? { ...reply, text: concat(reply.text, person.note) } : reply;
}

/** At most this many candidates are named when a typed name is ambiguous; a longer list helps nobody pick. */
const MAX_CANDIDATES_SHOWN = 5;

export class DuplicateRequest extends Error {
  constructor() {
    super('this request was already handled');
  }
}

/**
 * A keyed request's body failed in the round trip that also took its key, so whether the key was free is not known
 * (Kernel.keyed): `run` reads the committed record once the transaction has ended, and throws DuplicateRequest or
 * `failure`, the body's own error.
 */
class KeyUnsettled extends Error {
  constructor(readonly failure: unknown) {
    super('the request key went with a statement that failed');
  }
}

export interface KernelDeps {
  db: Database;
  clock: Clock;
  policy: Policy;
  log: Logger;
  admins: readonly string[];
  /** The keyed audit chain (src/store/audit.ts), made with MUSTER_AUDIT_KEY by the composition root. */
  audit: AuditLog;
  directory?: Directory;
  /** Each platform's directory, by platform name (when given, `directory` is not used). */
  directories?: Readonly<Record<string, Directory>>;
  /** Called after a commit that wrote effects: the dispatcher runs them at once. */
  onEffects?: () => void;
  /**
   * The dispatcher's leases in the transaction that writes the effects (OutboxDispatcher.leaseInTx): `watch` as a
   * command's or click's transaction begins, `lease` as its last statements are sent. What it leased runs after the
   * commit without a claim; `onEffects` is called only for what it left.
   */
  effectLeases?: { watch(tx: Tx): void; lease(tx: Tx): WrittenLease | undefined };
  /** What each platform's port can do (src/platforms/effects.ts), by platform name. */
  capabilities?: (platform: string) => Capabilities | undefined;
}

/**
 * The one way services write: load, decide, then state + audit + outbox + timers in ONE
 * transaction. A retried request (same key) finds its key taken and changes nothing.
 */
export class Kernel {
  readonly audit: AuditLog;
  private readonly knownUsers = new Set<string>();

  constructor(readonly deps: KernelDeps) {
    this.audit = deps.audit;
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

  /**
   * What a platform can do. Services ask before writing an effect that needs a capability and do
   * without it explicitly (each `Capabilities` field says how); a platform with no port can do none.
   */
  capabilities(platform: string): Capabilities {
    return this.deps.capabilities?.(platform) ?? NO_CAPABILITIES;
  }

  /** Maps a platform user to a Muster actor with their roles (grants plus MUSTER_ADMINS). */
  async actor(platform: string, workspaceExternalId: string, userExternalId: string, name?: string): Promise<Actor> {
    const workspaceId = workspaceIdOf(platform, workspaceExternalId);
    const userId = userIdOf(workspaceId, userExternalId);
    const now = this.clock.now();
    // Someone seen before (the rows exist) needs only their roles: one statement, outside any transaction. Every
    // request looks its actor up before anything else, so this is on the path of every ack.
    const granted = this.knownUsers.has(userId)
      ? await personRoles(this.db, userId)
      : await this.db.tx(async (tx) => {
          await ensureWorkspace(tx, platform, workspaceExternalId, now);
          await ensureUser(tx, workspaceId, userExternalId, now, name);
          return grantedRoles(tx, userId, { person: true });
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
    /** Effects were written and the dispatcher is still to hear of them once the transaction has committed. */
    let tellAfter = false;
    let leased: WrittenLease | undefined;
    let result: T;
    try {
      result = await this.db.tx(async (tx) => {
        this.deps.effectLeases?.watch(tx);
        const keyed = meta.requestKey ? await this.keyed(tx, meta.requestKey, body) : body;
        // The transaction ends with the unit's audit entries (commit: nothing of it follows them).
        const r = await this.inTx(tx, actor, meta, keyed, { commit: true, lease: (l) => (leased = l) });
        // On PostgreSQL that append's COMMIT has ended it: the effects are committed, and the dispatcher starts on them
        // now rather than after Prisma has closed its transaction (about a millisecond).
        if (r.wroteEffects && sqlOf(tx).committed?.()) {
          this.effectsCommitted(leased);
          leased = undefined;
        } else tellAfter = r.wroteEffects;
        return r.value;
      });
    } catch (e) {
      leased?.release();
      if (!(e instanceof KeyUnsettled)) throw e;
      if (await this.isProcessed(meta.requestKey!)) throw new DuplicateRequest();
      throw e.failure;
    }
    if (tellAfter) this.effectsCommitted(leased);
    return result;
  }

  /** After a commit that wrote effects: those leased in it run now; a claim for the others (if any). */
  private effectsCommitted(leased: WrittenLease | undefined): void {
    if (!leased) {
      this.deps.onEffects?.();
      return;
    }
    void leased.adopt().then((complete) => {
      if (!complete) this.deps.onEffects?.();
    });
  }

  /**
   * The same unit of work inside a transaction someone else owns (a timer firing, an
   * effect hook): audit entries, effects and timers are written before it returns.
   */
  async inTx<T>(
    tx: Tx,
    actor: Actor,
    meta: RequestMeta,
    body: (unit: Unit) => Promise<T>,
    o: { commit?: boolean; lease?: (leased: WrittenLease | undefined) => void } = {},
  ): Promise<{ value: T; wroteEffects: boolean }> {
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
    if (meta.source && meta.replyTo && effects.length) await redrawClickedCopy(tx, effects, meta.source, meta.replyTo);
    if (effects.length) {
      await enqueueEffects(tx, this.clock, { workspaceId: actor.workspaceId, platform: actor.platform, requestId: meta.requestId }, effects);
    }
    // The effects written, leased for the dispatcher: sent with the append's first statement (laterAll), before its lock.
    if (o.lease && (effects.length || enqueued)) o.lease(this.deps.effectLeases?.lease(tx));
    // Last: on PostgreSQL the append takes the chain's lock, which every writing transaction queues for until the one
    // holding it commits, so it is held for the append and the commit, not for the outbox writes too. With `commit`
    // (run: this is the transaction's last write) the entries and the COMMIT go in one round trip.
    await this.audit.append(tx, audits, o);
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

  private directoryFor(actor: Actor): Directory | undefined {
    return this.deps.directories ? this.deps.directories[actor.platform] : this.deps.directory;
  }

  /** A person of this workspace (not a bot, not deactivated), looked up on the platform. */
  async requirePerson(actor: Actor, externalId: string, what: string): Promise<string | undefined> {
    const dir = this.directoryFor(actor);
    if (!dir) return undefined;
    const user = await dir.lookupUser(platformWorkspace(actor), externalId);
    if (!user || user.deleted) throw new Refusal(rt`${mention(externalId)} is not a member of this workspace.`);
    if (user.isBot) throw new Refusal(rt`${mention(externalId)} is a bot; ${what} are for people.`);
    return user.name;
  }

  /**
   * The one person a command's argument means, decided before any service runs. A mention is taken as it is
   * (services still check it with requirePerson where they need a member). A typed name or email must match
   * exactly one active person: anything else is refused, unaudited and with nothing written, because acting
   * on a guess could hand a role or a duty to the wrong person. `hint` ends the refusal (a command's own way out).
   */
  async resolvePerson(actor: Actor, ref: PersonRef, hint = ''): Promise<ResolvedPerson> {
    if (ref.kind === 'id') return { externalId: ref.id };
    const platform = actor.platform.charAt(0).toUpperCase() + actor.platform.slice(1);
    const typed = ref.kind === 'name' ? `@${ref.name}` : ref.email;
    const pick = `Pick the person from ${platform}'s autocomplete (type @ and choose a name) so the mention arrives as a link.`;
    const unsure = (why: Text) => new Refusal(rt`I could not tell who ${typed} is: ${why}. ${pick}${hint}`);
    const dir = this.directoryFor(actor);
    if (!dir) throw unsure(`people cannot be looked up by ${ref.kind} here`);
    if (ref.kind === 'email') {
      const user = await dir.findByEmail(platformWorkspace(actor), ref.email);
      if (!user || user.deleted || user.isBot) throw unsure('no active person in this workspace has that email address');
      return { externalId: user.externalId, note: rt` (${typed} was matched to ${mention(user.externalId)} by email.)` };
    }
    const people = new Map<string, { user: DirectoryUser; by: NameMatch }>();
    // One person can match twice (handle and display name); the handle is the stronger claim.
    for (const m of await dir.findByName(platformWorkspace(actor), ref.name)) {
      if (!people.has(m.user.externalId) || m.by === 'handle') people.set(m.user.externalId, m);
    }
    const by = (m: NameMatch) => (m === 'handle' ? 'user name' : 'display name');
    const found = [...people.values()];
    if (found.length === 0) throw unsure(`nobody in this workspace has that ${platform} user name or display name`);
    if (found.length > 1) {
      const shown = found.slice(0, MAX_CANDIDATES_SHOWN).map((m) => rt`${mention(m.user.externalId)} by ${by(m.by)}`);
      const more = found.length > shown.length ? ` and ${found.length - shown.length} more` : '';
      throw unsure(rt`${found.length} people match (${joinText(shown, ', ')}${more})`);
    }
    const { user, by: matched } = found[0]!;
    return { externalId: user.externalId, note: rt` (${typed} was matched to ${mention(user.externalId)} by ${platform} ${by(matched)}.)` };
  }

  /** Muster itself, acting on a timer or an event nobody typed. */
  systemActor(workspaceId: string): Actor {
    // Workspace ids are `<platform>:<the platform's id>` (src/store/identity.ts).
    const platform = workspaceId.slice(0, workspaceId.indexOf(':'));
    return { workspaceId, userId: 'system', externalId: 'system', name: 'Muster', platform, roles: new Set(), envRoles: new Set() };
  }

  /** Appends a refused attempt to the audit chain (in its own transaction: the request wrote nothing). */
  async recordRefusal(actor: Actor, meta: RequestMeta, r: Refusal): Promise<void> {
    if (!r.audit) return;
    try {
      await this.db.tx(async (tx) => {
        if (meta.requestKey) await this.claimKey(tx, meta.requestKey);
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

  /**
   * The body of a request with a key (every command and click): the key taken in the same transaction, and a retry of a
   * request already handled (its key taken: committed, or by a transaction still open, which it waits for) refused
   * with DuplicateRequest, whatever its body did, all of which rolls back. On PostgreSQL the key's statement goes with
   * the body's first statement (laterAll), not in a round trip of its own, and its outcome is read before anything
   * commits: after the body, or as the body fails (a retry is told it is one, not the error its body met on the first
   * run's writes). Elsewhere (SQLite) it runs at once, and a retry runs no body.
   */
  private async keyed<T>(tx: Tx, key: string, body: (unit: Unit) => Promise<T>): Promise<(unit: Unit) => Promise<T>> {
    // Whether the key's statement has run (with the body's first statement, as it is answered).
    let sent = false;
    const taken = this.takeKey(tx, key).then((free) => {
      sent = true;
      return free;
    });
    taken.catch(() => {}); // read below; a failure fails its batch, and the transaction, too
    const flush = sqlOf(tx).flush;
    if (!flush) {
      await keyFree(taken);
      return body;
    }
    return async (unit) => {
      let value: T;
      try {
        value = await body(unit);
      } catch (e) {
        let handled: boolean;
        try {
          await flush();
          handled = !(await taken);
        } catch {
          // The key went in a batch that failed (the body's statement with it): the committed record says, read once
          // this transaction has ended (run), not while it holds its connection.
          throw new KeyUnsettled(e);
        }
        if (handled) throw new DuplicateRequest();
        throw e;
      }
      // A body that sent no statement: the key goes now (a round trip, as it took before it rode with the body's).
      if (!sent) await flush();
      await keyFree(taken);
      return value;
    };
  }

  /**
   * Takes a request's key in this transaction (laterAll: on PostgreSQL with its next statement): resolves to whether it
   * was free. A key already taken (committed, or by a transaction still open, which it waits for on PostgreSQL)
   * inserts nothing.
   */
  private takeKey(tx: Tx, key: string): Promise<boolean> {
    return sqlOf(tx)
      .laterAll<{ key: string }>('INSERT INTO processed_requests ("key", created_at) VALUES (?, ?) ON CONFLICT ("key") DO NOTHING RETURNING "key"', key, this.clock.now())
      .then((rows) => rows.length === 1);
  }

  /** Takes a request's key now, before the rest of its transaction (a refusal's record), or refuses with DuplicateRequest. */
  private async claimKey(tx: Tx, key: string): Promise<void> {
    const taken = this.takeKey(tx, key);
    taken.catch(() => {}); // read below, once sent
    await sqlOf(tx).flush?.();
    await keyFree(taken);
  }

  async isProcessed(key: string): Promise<boolean> {
    return (await this.db.read((tx) => tx.processedRequest.findUnique({ where: { key }, select: { key: true } }))) !== null;
  }
}

/** A request's key taken (`Kernel.takeKey`), or DuplicateRequest: it was taken already (a unique violation says so too). */
async function keyFree(taken: Promise<boolean>): Promise<void> {
  try {
    if (!(await taken)) throw new DuplicateRequest();
  } catch (e) {
    if (isUniqueViolation(e)) throw new DuplicateRequest();
    throw e;
  }
}

/** The platform's own id of the actor's workspace (`<platform>:<id>` → `<id>`), as the Directory port takes it. */
function platformWorkspace(actor: Actor): string {
  return actor.workspaceId.slice(actor.platform.length + 1);
}

/** The stored results of posted effects, by id. */
async function postedResults(tx: Tx, ids: number[]): Promise<{ id: number; result: string | null }[]> {
  const rows = await sqlOf(tx).all<{ id: number | bigint; result: string | null }>(`SELECT id, result FROM outbox WHERE id IN (${marks(ids)})`, ...ids);
  return rows.map((p) => ({ id: Number(p.id), result: p.result }));
}

/**
 * The copy of a card whose button was clicked is redrawn through the click's own reply handle (Slack's
 * response_url with replace_original) instead of a message update: the clicker sees the result as soon as
 * the outbox sends it, and it spends none of chat.update's budget (Tier 3, about 50 a minute per workspace:
 * https://api.slack.com/methods/chat.update), which the other copies need. The redraw keeps the copy's
 * coalescing key, so it runs alone and in order with every other redraw of that copy, and it is drawn when
 * sent, so it shows the newest state. Should the handle be spent or expired by then, the port redraws the
 * copy with an update after all (`fallbackUpdate`). Found by the copy's posted channel and ts: one read of
 * the redraws' own card effects, only for clicks.
 */
async function redrawClickedCopy(tx: Tx, effects: EffectSpec[], source: { channel: string; ts: string }, replyTo: ReplyHandle): Promise<void> {
  const redraws = effects.map((e, i) => ({ e, i })).filter(({ e }) => e.op === 'updateMessage' && typeof e.after === 'number' && e.coalesce === `card:${e.after}` && !e.ref && !e.hook);
  if (!redraws.length) return;
  // The service may have read the posted copies' results already (afterResult): then nothing is read here.
  const posted = redraws.every(({ e }) => e.afterResult !== undefined)
    ? redraws.map(({ e }) => ({ id: Number(e.after), result: e.afterResult ?? null }))
    : await postedResults(tx, [...new Set(redraws.map(({ e }) => Number(e.after)))]);
  const copy = posted.find((p) => {
    if (!p.result) return false;
    const r = JSON.parse(p.result) as { channel?: unknown; ts?: unknown };
    return r.channel === source.channel && r.ts === source.ts;
  });
  if (!copy) return;
  for (const { e, i } of redraws) {
    if (e.after !== copy.id || e.op !== 'updateMessage') continue;
    const { channel: _c, ts: _t, background: _b, ...content } = e.args;
    effects[i] = {
      op: 'reply',
      after: copy.id,
      coalesce: e.coalesce,
      ...(e.afterAll ? { afterAll: e.afterAll } : {}),
      args: { ...content, to: replyTo, visibility: 'in_channel', replaceOriginal: true, fallbackUpdate: { channel: source.channel, ts: source.ts } },
    };
  }
}
