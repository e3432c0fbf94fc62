/**
 * Every action_id and callback_id Muster puts on a surface, in one place, so handlers
 * and renderers cannot drift apart. Button values carry record ids, never state.
 */
export const ACTIONS = {
  incident: {
    takeCommander: 'incident.take.commander',
    takeTech: 'incident.take.tech',
    takeComms: 'incident.take.comms',
    postUpdate: 'incident.post-update',
    resolve: 'incident.resolve',
  },
  nudge: { acknowledge: 'nudge.acknowledge', snooze: 'nudge.snooze' },
  followUp: { done: 'followup.done' },
  approval: { approve: 'approval.approve', reject: 'approval.reject', reviewed: 'approval.reviewed', exception: 'approval.exception' },
  change: {
    approve: 'change.approve',
    reject: 'change.reject',
    defer: 'change.defer',
    start: 'change.start',
    done: 'change.done',
    rollback: 'change.rollback',
    exception: 'change.exception',
    tick: 'change.tick',
  },
} as const;

type Leaves<T> = T extends string ? T : { [K in keyof T]: Leaves<T[K]> }[keyof T];
/** Any button's action id. */
export type ActionId = Leaves<typeof ACTIONS>;

export const VIEWS = {
  declare: 'incident.declare',
  update: 'incident.update',
  resolve: 'incident.resolve',
  reject: 'approval.reject',
  changeNew: 'change.new',
  changeEdit: 'change.edit',
  changeReject: 'change.reject',
  changeDefer: 'change.defer',
  changeDone: 'change.done',
  changeRollback: 'change.rollback',
} as const;

/** Any form's id. */
export type FormId = (typeof VIEWS)[keyof typeof VIEWS];

/** Field ids inside forms (a renderer uses each as the input's id). */
export const FIELDS = {
  title: { block: 'title', action: 'title' },
  severity: { block: 'severity', action: 'severity' },
  description: { block: 'description', action: 'description' },
  services: { block: 'services', action: 'services' },
  private: { block: 'private', action: 'private' },
  text: { block: 'text', action: 'text' },
  reason: { block: 'reason', action: 'reason' },
  environment: { block: 'environment', action: 'environment' },
  systems: { block: 'systems', action: 'systems' },
  impact: { block: 'impact', action: 'impact' },
  risk: { block: 'risk', action: 'risk' },
  affectedUsers: { block: 'affected_users', action: 'affected_users' },
  downtime: { block: 'downtime', action: 'downtime' },
  downtimeMinutes: { block: 'downtime_minutes', action: 'downtime_minutes' },
  windowStart: { block: 'window_start', action: 'window_start' },
  windowLength: { block: 'window_length', action: 'window_length' },
  rollbackPlan: { block: 'rollback_plan', action: 'rollback_plan' },
  rollbackTested: { block: 'rollback_tested', action: 'rollback_tested' },
  catalogue: { block: 'catalogue', action: 'catalogue' },
  incident: { block: 'incident', action: 'incident' },
  outcome: { block: 'outcome', action: 'outcome' },
} as const;
