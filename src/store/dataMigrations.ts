import { migrateEffectPayload, migrateStoredText, type LegacyRule } from './textMigration.ts';

/**
 * One-time data steps: changes to the rows themselves that a schema migration cannot express
 * (a new encoding of old values). src/store/migrate.ts runs each registered step once per
 * database, after the SQL migrations, under the same lock (SQLite's write lock, PostgreSQL's
 * advisory lock), in one transaction with the row in `data_migrations` that records it. A
 * recorded step never runs again, so rows written after it are never touched by it.
 *
 * A step is a generator of SQL statements (`?` placeholders, double-quoted identifiers: the
 * subset both providers share). The runner executes each one and sends back its rows, which lets
 * one step run synchronously on better-sqlite3 (nothing else runs between its statements) and
 * asynchronously on pg alike. A step sees the newest schema: when a later migration changes a
 * table it reads, the step must keep working, or be retired (recorded everywhere it matters).
 */

export type Row = Record<string, unknown>;

export interface Statement {
  sql: string;
  params?: unknown[];
}

/** Yields statements, receives each one's rows (empty for statements that return none). */
export type StepBody = Generator<Statement, void, Row[]>;

export interface DataStep {
  /** Unique and stable: it is what `data_migrations` records. A timestamp first keeps the order readable. */
  name: string;
  run(): StepBody;
}

/** The SQL migration that creates `data_migrations`: before it is applied, no step can run or be recorded. */
export const DATA_MIGRATIONS_TABLE_MIGRATION = '20261126094826_data_migrations';

export const BATCH = 500;

/** Rows rewritten column by column, in batches by primary key so a large table is never read at once. */
export interface ColumnRewrite {
  table: string;
  key: string;
  columns: readonly string[];
  /** Only rows that may need it (SQL over the table's own columns); keeps the scan cheap. */
  where?: string;
  rewrite(value: string, column: string): string;
}

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

export function* rewriteColumns(spec: ColumnRewrite): StepBody {
  let after: unknown;
  let first = true;
  const cols = spec.columns.map(q).join(', ');
  for (;;) {
    const conditions = [...(first ? [] : [`${q(spec.key)} > ?`]), ...(spec.where ? [`(${spec.where})`] : [])];
    const rows: Row[] = yield {
      sql: `SELECT ${q(spec.key)} AS "k", ${cols} FROM ${q(spec.table)}${conditions.length ? ` WHERE ${conditions.join(' AND ')}` : ''} ORDER BY ${q(spec.key)} LIMIT ${BATCH}`,
      params: first ? [] : [after],
    };
    for (const row of rows) {
      const sets: string[] = [];
      const values: unknown[] = [];
      for (const c of spec.columns) {
        const v = row[c];
        if (typeof v !== 'string') continue;
        const next = spec.rewrite(v, c);
        if (next === v) continue;
        sets.push(`${q(c)} = ?`);
        values.push(next);
      }
      if (sets.length) yield { sql: `UPDATE ${q(spec.table)} SET ${sets.join(', ')} WHERE ${q(spec.key)} = ?`, params: [...values, row.k] };
    }
    if (rows.length < BATCH) return;
    after = rows[rows.length - 1]!.k;
    first = false;
  }
}

/** Rows whose text may hold legacy markup: any `<`, and for Muster's own wording its marks too. */
const mayHold = (columns: readonly string[], rule: LegacyRule) =>
  columns.map((c) => (rule === 'authored' ? `${q(c)} LIKE '%<%' OR ${q(c)} LIKE '%*%' OR ${q(c)} LIKE '%\`%' OR ${q(c)} LIKE '%:%'` : `${q(c)} LIKE '%<%'`)).join(' OR ');

const textColumns = (table: string, key: string, columns: readonly string[], rule: LegacyRule): ColumnRewrite => ({
  table,
  key,
  columns,
  where: mayHold(columns, rule),
  rewrite: (value) => migrateStoredText(value, rule),
});

/**
 * Text columns written before neutral rich text: references kept inside strings (`<@U…>`,
 * `<#C…>`) become person and channel nodes, nudges' marks become emphasis, code and emoji
 * (src/store/textMigration.ts). The status page's own fields (incidents.public_title,
 * public_text, public_services) hold plain text and stay as they are; so do the audit trail
 * (append-only, hash-chained), incidents.postmortem (a file's plain content) and the inbox
 * (raw platform events, parsed when processed). Outbox effects not yet done (waiting, running,
 * in their hook, or dead and replayable) get their text arguments read the same way, so an
 * effect written before the upgrade shows its mentions when it runs after it.
 */
export const NEUTRAL_TEXT: DataStep = {
  name: '20261126094900_neutral_text',
  *run() {
    yield* rewriteColumns(textColumns('incidents', 'id', ['title', 'description', 'summary'], 'typed'));
    yield* rewriteColumns(textColumns('timeline_entries', 'id', ['text'], 'typed'));
    yield* rewriteColumns(textColumns('action_items', 'id', ['text'], 'typed'));
    yield* rewriteColumns(textColumns('nudges', 'id', ['text'], 'authored'));
    yield* rewriteColumns(textColumns('approval_requests', 'id', ['title', 'reason', 'reject_reason', 'break_glass_reason'], 'typed'));
    yield* rewriteColumns(textColumns('approval_votes', 'id', ['reason'], 'typed'));
    yield* rewriteColumns({
      table: 'outbox',
      key: 'id',
      columns: ['payload'],
      where: `"status" <> 'done' AND "payload" LIKE '%<%'`,
      rewrite: (value) => migrateEffectPayload(value),
    });
  },
};

/** Every data step, in the order they run. Append only; never rename one that may have run. */
export const DATA_STEPS: readonly DataStep[] = [NEUTRAL_TEXT];

/** Runs a step's statements one after another with `exec` (synchronous: better-sqlite3). */
export function driveSync(body: StepBody, exec: (s: Statement) => Row[]): void {
  let next = body.next();
  while (!next.done) next = body.next(exec(next.value));
}

/** Runs a step's statements one after another with `exec` (pg). */
export async function driveAsync(body: StepBody, exec: (s: Statement) => Promise<Row[]>): Promise<void> {
  let next = body.next();
  while (!next.done) next = body.next(await exec(next.value));
}

/** `?` placeholders as PostgreSQL's `$1, $2, …` (statements here have no `?` inside literals). */
export function pgPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
