/**
 * Every action_id and callback_id Muster puts on a surface, in one place, so handlers
 * and renderers cannot drift apart. Later surfaces (incident, approval, change, nudge)
 * add theirs here.
 */
export const ACTIONS = {} as const;

export const VIEWS = {} as const;
