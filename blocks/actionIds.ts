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
  approval: { approve: 'approval.approve', reject: 'approval.reject', reviewed: 'approval.reviewed' },
} as const;

type Leaves<T> = T extends string ? T : { [K in keyof T]: Leaves<T[K]> }[keyof T];
/** Any button's action id. */
export type ActionId = Leaves<typeof ACTIONS>;

export const VIEWS = {
  declare: 'incident.declare',
  update: 'incident.update',
  resolve: 'incident.resolve',
  reject: 'approval.reject',
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
} as const;
