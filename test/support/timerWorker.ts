// A separate process that fires timers until none are due: used to prove exactly-once
// firing across processes. argv: <database url> <owner>
import pino from 'pino';
import { openDatabase } from '../../src/store/db.ts';
import { TimerScheduler } from '../../src/scheduler/timerScheduler.ts';
import { AuditLog } from '../../src/store/audit.ts';
import { AUDIT_KEYRING } from './auditKey.ts';
import { systemClock } from '../../src/domain/clock.ts';

const [url, owner] = process.argv.slice(2) as [string, string];
const db = await openDatabase(url);
const audit = new AuditLog(db.provider, systemClock, { keyring: AUDIT_KEYRING });
const scheduler = new TimerScheduler(db, systemClock, pino({ level: 'silent' }), { owner, batch: 5 }).on('probe', async (tx, timer) => {
  await audit.append(tx, { actorId: owner, platform: 'test', action: 'timer.fired', subjectType: 'timer', subjectId: timer.key });
});
let fired = 0;
for (let idle = 0; idle < 3; ) {
  const n = await scheduler.tick();
  fired += n;
  idle = n === 0 ? idle + 1 : 0;
  await new Promise((r) => setTimeout(r, 5));
}
await db.close();
process.stdout.write(JSON.stringify({ owner, fired }));
