import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { AUDIT_KEY_FILE } from '../../store/auditKeys.ts';
import type { Json, WorkspaceChange, WorkspaceSnapshot } from './slackWorkspace.ts';
import type { PersonAction } from './sandbox.ts';
import type { SlackRequest } from './slackRequests.ts';

/**
 * `npm run sandbox -- --record file.json`: what happened, to reproduce a bug. The file holds the state the
 * recording started from (the workspace's snapshot, a copy of Muster's SQLite database and its audit key, which
 * is the sandbox's own), then in order: what each person did in the web app, every request signed and sent to
 * Muster with its acknowledgement, and every Web API call Muster (or a person) made with Slack's answer.
 * `--replay file.json` starts from that state in a scratch directory, does the same things again and compares
 * the Web API calls.
 */
export interface Recording {
  version: 1;
  startedAt: string;
  workspace: WorkspaceSnapshot;
  /** base64 of Muster's SQLite database when the recording started (absent: it started fresh) */
  database?: string;
  auditKey?: string;
  entries: RecordedEntry[];
}

export type RecordedEntry =
  | { at: number; kind: 'action'; action: PersonAction }
  | { at: number; kind: 'request'; contentType: string; body: string; status: number; ack: string; ms: number }
  | { at: number; kind: 'call'; method: string; applied: boolean; args?: Json; response?: Json }
  | { at: number; kind: 'response'; body?: Json };

export class Recorder {
  private readonly rec: Recording;
  private readonly t0 = Date.now();
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly file: string,
    rec: Recording,
  ) {
    this.rec = rec;
  }

  static async start(file: string, workspace: WorkspaceSnapshot, databaseUrl: string): Promise<Recorder> {
    const dbFile = databaseUrl.replace(/^file:/, '');
    const rec: Recording = { version: 1, startedAt: new Date().toISOString(), workspace, entries: [] };
    if (existsSync(dbFile)) {
      // A consistent copy even while the file is open elsewhere (https://sqlite.org/lang_vacuum.html#vacuuminto).
      const copy = join(tmpdir(), `muster-record-${process.pid}-${Date.now()}.db`);
      const db = new Database(dbFile, { readonly: true });
      try {
        db.prepare('VACUUM INTO ?').run(copy);
      } finally {
        db.close();
      }
      rec.database = readFileSync(copy).toString('base64');
      rmSync(copy, { force: true });
      const key = join(dirname(dbFile), AUDIT_KEY_FILE);
      if (existsSync(key)) rec.auditKey = readFileSync(key, 'utf8');
    }
    mkdirSync(dirname(file), { recursive: true });
    const r = new Recorder(file, rec);
    r.write();
    return r;
  }

  action(action: PersonAction): void {
    this.push({ at: this.now(), kind: 'action', action });
  }

  request(req: SlackRequest, status: number, ack: string, ms: number): void {
    this.push({ at: this.now(), kind: 'request', contentType: req.contentType, body: req.body, status, ack, ms });
  }

  call(c: WorkspaceChange): void {
    if (c.kind === 'call')
      this.push({ at: this.now(), kind: 'call', method: c.method ?? '', applied: c.applied === true, ...(c.args ? { args: c.args } : {}), ...(c.response ? { response: c.response } : {}) });
    else if (c.kind === 'response') this.push({ at: this.now(), kind: 'response', ...(c.args ? { body: c.args } : {}) });
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.write();
  }

  private now(): number {
    return Date.now() - this.t0;
  }

  private push(e: RecordedEntry): void {
    this.rec.entries.push(e);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.write();
    }, 500);
    this.timer.unref();
  }

  private write(): void {
    writeFileSync(this.file, `${JSON.stringify(this.rec)}\n`);
  }
}

export function readRecording(file: string): Recording {
  const rec = JSON.parse(readFileSync(file, 'utf8')) as Recording;
  if (rec.version !== 1 || !Array.isArray(rec.entries) || !rec.workspace) throw new Error(`${file} is not a sandbox recording (npm run sandbox -- --record FILE writes one)`);
  return rec;
}

/** Puts a recording's starting state into `dataDir` (Muster's database and audit key; the workspace is restored by the caller). */
export function unpackRecording(rec: Recording, dataDir: string): void {
  mkdirSync(dataDir, { recursive: true });
  if (rec.database) writeFileSync(join(dataDir, 'muster.db'), Buffer.from(rec.database, 'base64'));
  if (rec.auditKey) writeFileSync(join(dataDir, AUDIT_KEY_FILE), rec.auditKey, { mode: 0o600 });
}

/**
 * Identifiers Slack hands out (message ts, view ids, channel ids) differ between a recording and its replay. Each
 * is paired by the order in which the same method, on the same channel, returned it: the n-th chat.postMessage to
 * C1 in the recording is the n-th in the replay.
 */
export class IdMap {
  private readonly recorded = new Map<string, string[]>();
  private readonly replayed = new Map<string, string[]>();
  private readonly map = new Map<string, string>();

  noteRecorded(method: string, args: Json | undefined, response: Json | undefined): void {
    for (const [k, v] of idsOf(method, args, response)) push(this.recorded, k, v);
    for (const [k, v] of valuesOf(args)) pushNew(this.recorded, k, v);
    this.pair();
  }

  noteReplayed(method: string, args: Json | undefined, response: Json | undefined): void {
    for (const [k, v] of idsOf(method, args, response, (x) => this.reverse(x))) push(this.replayed, k, v);
    for (const [k, v] of valuesOf(args)) pushNew(this.replayed, k, v);
    this.pair();
  }

  get(id: string): string {
    return this.map.get(id) ?? id;
  }

  /** `a` with every recorded id replaced by its replayed twin (strings inside objects and arrays too). */
  rewrite<T>(a: T): T {
    const walk = (v: unknown): unknown => {
      if (typeof v === 'string') return this.map.get(v) ?? v;
      if (Array.isArray(v)) return v.map(walk);
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
      return v;
    };
    return walk(a) as T;
  }

  private reverse(replayedId: string): string {
    for (const [k, v] of this.map) if (v === replayedId) return k;
    return replayedId;
  }

  private pair(): void {
    for (const [key, recs] of this.recorded) {
      const reps = this.replayed.get(key) ?? [];
      for (let i = 0; i < Math.min(recs.length, reps.length); i++) if (recs[i] !== reps[i]) this.map.set(recs[i]!, reps[i]!);
    }
  }
}

/** Muster's own ids in button values (an incident's, a request's): paired by the order each action's values first appear. */
function valuesOf(args: Json | undefined): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.action_id === 'string' && typeof o.value === 'string') out.push([`value:${o.action_id.replace(/#\d+$/, '')}`, o.value]);
      for (const x of Object.values(o)) walk(x);
    }
  };
  walk(args?.blocks);
  walk(args?.view);
  return out;
}

function pushNew(m: Map<string, string[]>, k: string, v: string): void {
  const l = m.get(k) ?? [];
  if (!l.includes(v)) l.push(v);
  m.set(k, l);
}

function push(m: Map<string, string[]>, k: string, v: string): void {
  const l = m.get(k) ?? [];
  l.push(v);
  m.set(k, l);
}

/** (pairing key, id) for each id a call's answer hands out; the channel in the key is given as recorded. */
function idsOf(method: string, args: Json | undefined, response: Json | undefined, toRecorded: (id: string) => string = (x) => x): Array<[string, string]> {
  if (!response || response.ok !== true) return [];
  const out: Array<[string, string]> = [];
  const channel = typeof response.channel === 'string' ? toRecorded(response.channel) : typeof args?.channel === 'string' ? toRecorded(args.channel) : '';
  if (typeof response.ts === 'string' && (method === 'chat.postMessage' || method === 'chat.postEphemeral')) out.push([`${method}:${channel}`, response.ts]);
  if (typeof response.message_ts === 'string') out.push([`${method}:${channel}`, response.message_ts]);
  const view = response.view as { id?: unknown } | undefined;
  if (typeof view?.id === 'string' && method !== 'views.update') out.push([method === 'views.publish' ? `${method}:${String(args?.user_id ?? '')}` : method, view.id]);
  const created = response.channel as { id?: unknown; name?: unknown } | undefined;
  if (method === 'conversations.create' && typeof created?.id === 'string') out.push([`${method}:${String(created.name ?? '')}`, created.id]);
  if (method === 'conversations.open' && typeof created?.id === 'string') out.push([`${method}:${String(args?.users ?? '')}`, created.id]);
  return out;
}
