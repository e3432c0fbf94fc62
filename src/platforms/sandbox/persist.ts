import Database from 'better-sqlite3';
import type { WorkspaceSnapshot } from './slackWorkspace.ts';

/**
 * The sandbox workspace's own SQLite file (data/sandbox/workspace.db): its state as one JSON document, rewritten
 * a moment after each change and at shutdown. Muster's records live in their own database next to it; the two
 * together are what a restart keeps and `--reset` removes.
 */
export class WorkspaceFile {
  private readonly db: Database.Database;
  private timer: NodeJS.Timeout | undefined;
  private pending: (() => WorkspaceSnapshot) | undefined;

  constructor(
    readonly file: string,
    private readonly delayMs = 250,
  ) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.exec('CREATE TABLE IF NOT EXISTS workspace (id INTEGER PRIMARY KEY CHECK (id = 1), saved_at TEXT NOT NULL, state TEXT NOT NULL)');
  }

  load(): WorkspaceSnapshot | undefined {
    const row = this.db.prepare('SELECT state FROM workspace WHERE id = 1').get() as { state: string } | undefined;
    return row ? (JSON.parse(row.state) as WorkspaceSnapshot) : undefined;
  }

  save(snapshot: WorkspaceSnapshot): void {
    this.db
      .prepare('INSERT INTO workspace (id, saved_at, state) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET saved_at = excluded.saved_at, state = excluded.state')
      .run(new Date().toISOString(), JSON.stringify(snapshot));
  }

  /** Save `take()` once things have been quiet for a moment (a burst of calls is one write). */
  saveSoon(take: () => WorkspaceSnapshot): void {
    this.pending = take;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.delayMs);
    this.timer.unref();
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const take = this.pending;
    this.pending = undefined;
    if (take) this.save(take());
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}
