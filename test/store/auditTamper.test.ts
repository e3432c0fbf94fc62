// Tampering by someone who can write to the database but holds no audit key: each attack
// must make verification fail and name what was changed (issue 7, point 5).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { migratedDatabase } from '../support/store.ts';
import { AUDIT_KEY } from '../support/auditKey.ts';
import { deleteEntriesAfter, dropAuditTriggers, rawSql, rewriteChain } from '../support/tamper.ts';
import { AuditLog, GENESIS_HASH, entryHash, verifyAudit as verifyAuditWith, type AuditInput, type AuditRow, type ParallelVerify } from '../../src/store/audit.ts';
import { TEST_PROVIDER } from '../support/db.ts';
import { AuditKeyError, AuditKeyring, auditKey } from '../../src/store/auditKeys.ts';
import { formatCheckpoint, parseCheckpoints, signCheckpoint, type FoundCheckpoint } from '../../src/store/auditCheckpoints.ts';
import { CheckpointRecorder } from '../../src/scheduler/auditCheckpoints.ts';
import { OutboxDispatcher } from '../../src/scheduler/outboxDispatcher.ts';
import { ManualClock } from '../../src/domain/clock.ts';

const KEY_A = AUDIT_KEY;
const KEY_B = 'the-next-audit-key-after-rotation-0001';
const WRONG = 'a-key-the-attacker-made-up-for-himself';
const keysA = new AuditKeyring(KEY_A);

let ctx: Awaited<ReturnType<typeof migratedDatabase>>;
let clock: ManualClock;
let file: string;
let logged: Record<string, unknown>[];

beforeEach(async () => {
  ctx = await migratedDatabase();
  clock = new ManualClock('2026-03-02T10:00:00.000Z');
  file = join(mkdtempSync(join(tmpdir(), 'muster-cp-')), 'checkpoints.log');
  logged = [];
});
afterEach(async () => ctx.close());

const entry = (i: number): AuditInput => ({
  workspaceId: 'slack:T1',
  actorId: 'slack:T1:U1',
  actorName: 'ana',
  platform: 'slack',
  action: 'role.grant',
  subjectType: 'user',
  subjectId: `slack:T1:U${i}`,
  after: { n: i },
});

function auditLog(keyring = keysA, every = 10): AuditLog {
  return new AuditLog(ctx.db.provider, clock, { keyring, checkpoints: { every } });
}

/** Appends entries one transaction each, the way requests do. */
async function write(log: AuditLog, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    clock.advance(1000);
    await ctx.db.tx((tx) => log.append(tx, entry(i)));
  }
}

/** Publishes what was checkpointed (the outbox with the recorder port) and reads the file back. */
async function publish(): Promise<FoundCheckpoint[]> {
  const log = pino({ level: 'info' }, { write: (line: string) => logged.push(JSON.parse(line) as Record<string, unknown>) });
  const dispatcher = new OutboxDispatcher(ctx.db, clock, log, { owner: 'test' }).addRunner(new CheckpointRecorder(log, file));
  await dispatcher.drain(5_000);
  // Effects run in parallel, so lines may land out of order; verification sorts them anyway.
  return parseCheckpoints(readFileSync(file, 'utf8'), 'checkpoints.log').found.sort((a, b) => a.seq - b.seq);
}

/*
 * Every test runs twice on SQLite: the chain walked in the main thread, and hashed by worker threads (parallelChain
 * in src/store/audit.ts, what `muster audit verify` uses on a long trail) in ranges of 3 entries, so that every attack
 * below also lands inside a range, across a range's edge and in the last one. PostgreSQL has the main thread only.
 */
const MODES: { mode: string; parallel: ParallelVerify }[] = [
  { mode: 'main thread', parallel: { threads: 0 } },
  ...(TEST_PROVIDER === 'sqlite' ? [{ mode: 'worker threads', parallel: { threads: 2, from: 0, range: 3 } }] : []),
];
let parallel: ParallelVerify = {};
type VerifyOptions = Omit<NonNullable<Parameters<typeof verifyAuditWith>[2]>, 'parallel'>;
const verifyAudit = (db: typeof ctx.db, keys: AuditKeyring, o: VerifyOptions = {}) => verifyAuditWith(db, keys, { ...o, parallel });
const verifyChain = (db: typeof ctx.db, keys: AuditKeyring) => verifyAudit(db, keys);

const rows = async () => (await ctx.db.read((tx) => tx.auditEntry.findMany({ orderBy: { seq: 'asc' } }))) as AuditRow[];

describe.each(MODES)('verify in the $mode', ({ parallel: mode }) => {
  beforeEach(() => {
    parallel = mode;
  });

  describe('a keyed chain with published checkpoints', () => {
    it('verifies intact, with every checkpoint on the chain', async () => {
      await write(auditLog(), 25);
      const published = await publish();
      expect(published.map((c) => c.seq)).toEqual([10, 20]);
      const r = await verifyAudit(ctx.db, keysA, { checkpoints: published, batch: 7 });
      expect(r).toMatchObject({ ok: true, checked: 25, legacy: 0, keyIds: [keysA.current.id], head: { seq: 25 } });
      expect(r.checkpoints).toMatchObject({ checked: 2, problems: [], forged: [], newestOnChain: { seq: 20 } });
      // Keyed: the stored hash is an HMAC, not the plain SHA-256 anyone could compute.
      const [first] = await rows();
      expect(first!.keyId).toBe(keysA.current.id);
      const { hash, keyId: _k, ...content } = first!;
      expect(hash).toBe(entryHash(content, keysA.current));
      expect(hash).not.toBe(entryHash(content, null));
    });
  });

  describe('attacks without the key', () => {
    it('an edited entry is named', async () => {
      await write(auditLog(), 25);
      const published = await publish();
      await dropAuditTriggers(ctx.tdb);
      await rawSql(ctx.tdb, [`UPDATE audit_entries SET reason = 'nothing to see' WHERE seq = 7`]);
      const r = await verifyAudit(ctx.db, keysA, { checkpoints: published, batch: 4 });
      expect(r.ok).toBe(false);
      expect(r.firstBad).toEqual({ seq: 7, problem: 'content does not match its hash (the entry was altered)' });
      expect(r.checked).toBe(6);
    });

    it('a deleted tail passes the chain check alone, and fails against the published checkpoints', async () => {
      await write(auditLog(), 25);
      const published = await publish();
      await dropAuditTriggers(ctx.tdb);
      await deleteEntriesAfter(ctx.tdb, 15);
      // What a chain alone cannot see: the shorter chain is consistent.
      expect(await verifyChain(ctx.db, keysA)).toMatchObject({ ok: true, checked: 15 });
      const r = await verifyAudit(ctx.db, keysA, { checkpoints: published });
      expect(r.ok).toBe(false);
      expect(r.checkpoints.problems).toEqual([
        expect.stringMatching(/^entries 16\.\.20 are missing: the trail was truncated \(checkpoint seq=20 of .* is not on the chain, whose newest entry is 15\)$/),
      ]);
      expect(r.checkpoints.newestOnChain?.seq).toBe(10);
    });

    it('a full rewrite with plain SHA-256 (no key) fails, also without checkpoints', async () => {
      await write(auditLog(), 25);
      const published = await publish();
      await dropAuditTriggers(ctx.tdb);
      await rewriteChain(ctx.tdb, await rows(), 1, { key: null, keyId: null, edit: (r) => (r.seq === 3 ? { actorId: 'slack:T1:UMALLORY' } : {}) });
      const chainOnly = await verifyChain(ctx.db, keysA);
      expect(chainOnly.ok).toBe(false);
      expect(chainOnly.firstBad?.problem).toMatch(/^no entry is keyed/);
      const r = await verifyAudit(ctx.db, keysA, { checkpoints: published });
      expect(r.checkpoints.problems).toEqual([
        expect.stringMatching(/^entries 1\.\.10 were altered: entry 10 has hash \w+…, checkpoint seq=10 .* says \w+…$/),
        expect.stringMatching(/^entries 1\.\.20 were altered/),
      ]);
    });

    it("a rewrite keyed with the attacker's own key names that unknown key", async () => {
      await write(auditLog(), 25);
      await dropAuditTriggers(ctx.tdb);
      const wrong = auditKey(WRONG);
      await rewriteChain(ctx.tdb, await rows(), 1, { key: wrong, keyId: wrong.id, edit: (r) => (r.seq === 3 ? { reason: 'rewritten' } : {}) });
      const r = await verifyChain(ctx.db, keysA);
      expect(r.firstBad).toEqual({ seq: 1, problem: expect.stringContaining(`made with key ${wrong.id}, which is not among the known keys`) });
    });

    it('a rewrite that claims the real key id is caught at the first rewritten entry', async () => {
      await write(auditLog(), 25);
      const published = await publish();
      await dropAuditTriggers(ctx.tdb);
      await rewriteChain(ctx.tdb, await rows(), 12, { key: auditKey(WRONG), keyId: keysA.current.id, edit: (r) => (r.seq === 12 ? { reason: 'rewritten' } : {}) });
      const r = await verifyAudit(ctx.db, keysA, { checkpoints: published });
      expect(r.firstBad).toEqual({ seq: 12, problem: 'content does not match its hash (the entry was altered)' });
      expect(r.checkpoints.problems).toEqual([expect.stringMatching(/^entries 11\.\.20 were altered: .*\(the last checkpoint still on the chain is seq=10\)$/)]);
    });

    it('a legacy-looking (unkeyed) tail after keyed entries is tampering', async () => {
      await write(auditLog(), 25);
      await dropAuditTriggers(ctx.tdb);
      await rewriteChain(ctx.tdb, await rows(), 21, { key: null, keyId: null, edit: (r) => (r.seq === 21 ? { reason: 'rewritten' } : {}) });
      const r = await verifyChain(ctx.db, keysA);
      expect(r.firstBad).toEqual({ seq: 21, problem: expect.stringContaining('no key id, yet it comes after keyed entries') });
    });
  });

  describe('replayed and forged checkpoints', () => {
    it('an old genuine checkpoint does not cover a rollback: the newer one names the missing range', async () => {
      await write(auditLog(), 25);
      const published = await publish();
      const old = published.find((c) => c.seq === 10)!;
      await dropAuditTriggers(ctx.tdb);
      await deleteEntriesAfter(ctx.tdb, 12);
      // The old checkpoint is re-posted as if it were the latest; it still verifies, and proves nothing about 13..20.
      const replayed = { ...old, source: 'replayed copy' };
      const r = await verifyAudit(ctx.db, keysA, { checkpoints: [replayed, ...published] });
      expect(r.ok).toBe(false);
      expect(r.checkpoints.forged).toEqual([]);
      expect(r.checkpoints.problems).toEqual([expect.stringMatching(/^entries 13\.\.20 are missing: the trail was truncated/)]);

      // A restore to entry 12 followed by new writes: the old checkpoint 20 no longer matches.
      await write(auditLog(), 13);
      const regrown = await verifyAudit(ctx.db, keysA, { checkpoints: await publish() });
      expect(regrown.checkpoints.problems).toEqual([expect.stringMatching(/^entries 11\.\.20 were altered: .*\(the last checkpoint still on the chain is seq=10\)$/)]);
    });

    it('a checkpoint line with an edited seq, hash or time, or signed with another key, is reported as forged', async () => {
      await write(auditLog(), 25);
      const published = await publish();
      const line = formatCheckpoint(published.find((c) => c.seq === 20)!);
      const edited = [
        line.replace('seq=20', 'seq=12'),
        line.replace(/hash=(\w)/, (_m, c: string) => `hash=${c === 'a' ? 'b' : 'a'}`),
        line.replace(/at=\S+/, 'at=2027-01-01T00:00:00.000Z'),
        formatCheckpoint(signCheckpoint(auditKey(WRONG), { seq: 25, hash: 'f'.repeat(64) }, clock.now())),
        line.slice(0, line.indexOf(' mac=')),
      ].join('\n');
      const parsed = parseCheckpoints(edited, 'channel');
      const r = await verifyAudit(ctx.db, keysA, { checkpoints: [...published, ...parsed.found], malformed: parsed.malformed });
      expect(r.ok).toBe(false);
      expect(r.checkpoints.problems).toEqual([]);
      expect(r.checkpoints.forged.map((f) => [f.checkpoint.source, f.why])).toEqual([
        ['channel:5', 'the line carries the checkpoint tag but is not a whole checkpoint'],
        ['channel:1', expect.stringContaining('its mac does not match')],
        ['channel:2', expect.stringContaining('its mac does not match')],
        ['channel:3', expect.stringContaining('its mac does not match')],
        ['channel:4', expect.stringContaining(`names key ${auditKey(WRONG).id}, which is not among the known keys`)],
      ]);
    });
  });

  describe('checkpoint cadence and publication', () => {
    it('a checkpoint whenever an append crosses a multiple of checkpointEvery; none for a rolled-back transaction', async () => {
      const log = auditLog(keysA, 5);
      const batch = (n: number) =>
        ctx.db.tx((tx) =>
          log.append(
            tx,
            Array.from({ length: n }, (_, i) => entry(i)),
          ),
        );
      await batch(3); // 1..3
      await batch(3); // 4..6 crosses 5
      for (let i = 0; i < 4; i++) await batch(1); // 7..10: 10 is a multiple
      await batch(12); // 11..22 crosses 15 and 20: one checkpoint, at the head
      await expect(
        ctx.db.tx(async (tx) => {
          await log.append(
            tx,
            Array.from({ length: 5 }, (_, i) => entry(i)),
          ); // 23..27 would cross 25
          throw new Error('the request failed after writing');
        }),
      ).rejects.toThrow('the request failed');
      const recorded = await ctx.db.read((tx) => tx.auditCheckpoint.findMany({ orderBy: { seq: 'asc' } }));
      expect(recorded.map((c) => [c.seq, c.reason])).toEqual([
        [6, 'every'],
        [10, 'every'],
        [22, 'every'],
      ]);
      const published = await publish();
      expect(published.map((c) => c.seq)).toEqual([6, 10, 22]);
      // In the log at info, once each, with the line as the message (a log export is a checkpoint source too).
      const lines = logged.filter((l) => String(l.msg).startsWith('muster-audit-checkpoint v1'));
      lines.sort((x, y) => (x.checkpoint as { seq: number }).seq - (y.checkpoint as { seq: number }).seq);
      expect(lines.map((l) => [l.level, (l.checkpoint as { seq: number }).seq])).toEqual([
        [30, 6],
        [30, 10],
        [30, 22],
      ]);
      expect(lines.map((l) => l.msg)).toEqual(published.map(formatCheckpoint));
      // Published already: the periodic checkpoint has nothing new to sign.
      expect((await ctx.db.tx((tx) => log.checkpointIfMoved(tx, 'interval'))).checkpoint).toBeUndefined();
      await batch(1);
      expect((await ctx.db.tx((tx) => log.checkpointIfMoved(tx, 'interval'))).checkpoint?.seq).toBe(23);
    });
  });

  describe('key rotation', () => {
    it('is recorded in the chain, verifies with the retired key listed, and names it when it is missing', async () => {
      await write(auditLog(keysA), 12);
      const keysB = new AuditKeyring(KEY_B, [KEY_A]);
      const rotated = await auditLog(keysB).sealKey(ctx.db);
      const a = keysA.current.id;
      const b = keysB.current.id;
      expect(rotated).toEqual({ from: a, to: b, seq: 13 });
      // Sealing again with the same key changes nothing.
      expect(await auditLog(keysB).sealKey(ctx.db)).toBeUndefined();
      await write(auditLog(keysB), 8);
      const marker = (await rows())[12]!;
      expect(marker).toMatchObject({ seq: 13, action: 'audit.key.rotated', before: JSON.stringify({ keyId: a }), after: JSON.stringify({ keyId: b }), keyId: b });
      const published = await publish();
      expect(published.map((c) => [c.seq, c.keyId])).toEqual([
        [10, a],
        [13, b],
        [20, b],
      ]);
      const r = await verifyAudit(ctx.db, keysB, { checkpoints: published });
      expect(r).toMatchObject({ ok: true, checked: 21, keyIds: [a, b] });
      expect(r.checkpoints).toMatchObject({ checked: 3, forged: [] });

      const withoutOld = await verifyAudit(ctx.db, new AuditKeyring(KEY_B), { checkpoints: published });
      expect(withoutOld.firstBad).toEqual({
        seq: 1,
        problem: expect.stringContaining(`made with key ${a}, which is not among the known keys: add that key to MUSTER_AUDIT_PREVIOUS_KEYS`),
      });
      expect(withoutOld.checkpoints.forged).toEqual([{ checkpoint: expect.objectContaining({ seq: 10 }), why: expect.stringContaining(`names key ${a}`) }]);

      // A process still on the old key cannot write on after the rotation …
      await expect(ctx.db.tx((tx) => auditLog(keysA).append(tx, entry(99)))).rejects.toThrow(AuditKeyError);
      // … and an entry made with the retired key afterwards (it leaked) does not verify.
      const last = (await rows()).at(-1)!;
      const forged = { ...last, seq: 22, prevHash: last.hash, reason: 'made with the retired key', createdAt: clock.now() };
      const { hash: _h, keyId: _k, ...content } = forged;
      await ctx.db.tx((tx) => tx.auditEntry.create({ data: { ...forged, hash: entryHash(content, keysA.current), keyId: a } }));
      expect((await verifyChain(ctx.db, keysB)).firstBad).toEqual({
        seq: 22,
        problem: expect.stringContaining(`made with key ${a}, which the chain had moved away from at entry 13`),
      });
    });

    it('a legacy chain (plain SHA-256, before keying) is sealed by the first keyed entry', async () => {
      // Entries as an older Muster wrote them: no key id, plain SHA-256.
      let prevHash = GENESIS_HASH;
      for (let seq = 1; seq <= 4; seq++) {
        const none = { workspaceId: null, actorName: null, subjectType: null, subjectId: null, before: null, after: null, reason: null, flags: null, requestId: null };
        const base = { ...none, seq, actorId: 'system', platform: 'slack', action: `legacy.${seq}`, outcome: 'ok', createdAt: clock.now(), prevHash };
        const hash = entryHash(base, null);
        await ctx.db.tx((tx) => tx.auditEntry.create({ data: { ...base, hash, keyId: null } }));
        prevHash = hash;
      }
      expect((await verifyChain(ctx.db, keysA)).firstBad?.problem).toMatch(/^no entry is keyed/);
      expect(await auditLog().sealKey(ctx.db)).toEqual({ from: null, to: keysA.current.id, seq: 5 });
      expect(await verifyChain(ctx.db, keysA)).toMatchObject({ ok: true, checked: 5, legacy: 4, keyIds: [keysA.current.id] });
      // The keyed entry's prev_hash now protects the legacy prefix.
      await dropAuditTriggers(ctx.tdb);
      await rewriteChain(ctx.tdb, await rows(), 2, { key: null, keyId: null, until: 4, edit: (r) => (r.seq === 2 ? { reason: 'rewritten' } : {}) });
      expect((await verifyChain(ctx.db, keysA)).firstBad).toEqual({ seq: 5, problem: expect.stringContaining('prev_hash does not match') });
    });
  });
});
