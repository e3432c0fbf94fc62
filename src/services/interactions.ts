import { z } from 'zod';
import { ACTIONS, FIELDS, VIEWS, type ActionId, type FormId } from '../../blocks/actionIds.ts';
import { declareModal, textModal } from '../../blocks/incident.ts';
import { rejectModal } from '../../blocks/approval.ts';
import { changeDeferForm, changeDoneForm, changeForm, changeRejectForm, changeRollbackForm } from '../../blocks/change.ts';
import type { ChangeFormValues } from './changes.ts';
import type { ChangeType } from '../domain/change.ts';
import type { Form } from '../../blocks/surface.ts';
import { SEVERITIES, type IncidentRoleName } from '../domain/incident.ts';
import { cleanTyped } from '../domain/text.ts';
import type { Severity } from '../config/policy.ts';
import type { Services } from './index.ts';
import type { Actor, Reply, RequestMeta } from './types.ts';

/**
 * Every button and form Muster shows, in one table: what a click does (or which form it opens),
 * whether the clicker is told the outcome, and how a submitted form is read and checked. Every
 * platform registers its handlers from these tables, so a new button is one row here plus its
 * place on a surface (blocks/), whatever the platform.
 */

export interface Ctx {
  actor: Actor;
  meta: RequestMeta;
  services: Services;
}

export type ButtonHandler =
  | { kind: 'run'; confirm: boolean; run: (ctx: Ctx, value: string) => Promise<Reply> }
  /** Opens a form; null when the record is gone (the clicker is told `missing`). */
  | { kind: 'form'; open: (services: Services, value: string) => Promise<Form | null>; missing: string };

/** A form's fields as submitted: field id → the value typed or chosen (undefined when left empty). */
export type FormValues = Record<string, string | undefined>;

export interface FormHandler<D = unknown, I = unknown> {
  /** The record the form is about (the form's `data`), checked: a stale or forged form is refused. */
  data: z.ZodType<D>;
  /** Field id → what is wrong; or the input for the use case. */
  read: (values: FormValues) => { errors: Record<string, string> } | { input: I };
  submit: (ctx: Ctx, data: D, input: I) => Promise<Reply>;
  /** The field where a refusal is shown. */
  problemField: string;
  /** Shown when the data does not check out. */
  stale: string;
}

/** A change button that opens a one-record form about the change. */
function changeForm_(form: (v: { id: string; ref: string; title: import('../domain/text.ts').Text }) => Form): ButtonHandler {
  return {
    kind: 'form',
    missing: 'That change request no longer exists.',
    open: async (services, value) => {
      const v = await services.changes.viewById(value);
      return v && form(v);
    },
  };
}

const take = (role: IncidentRoleName): ButtonHandler => ({
  kind: 'run',
  confirm: false,
  run: ({ actor, meta, services }, value) => services.incidents.assignRole(actor, meta, { id: value }, role, actor.externalId),
});

export const BUTTONS: Record<ActionId, ButtonHandler> = {
  [ACTIONS.incident.takeCommander]: take('commander'),
  [ACTIONS.incident.takeTech]: take('tech'),
  [ACTIONS.incident.takeComms]: take('comms'),
  [ACTIONS.incident.postUpdate]: {
    kind: 'form',
    missing: 'That incident no longer exists.',
    open: async (services, value) => {
      const v = await services.incidents.viewById(value);
      return v && textModal('update', v);
    },
  },
  [ACTIONS.incident.resolve]: {
    kind: 'form',
    missing: 'That incident no longer exists.',
    open: async (services, value) => {
      const v = await services.incidents.viewById(value);
      return v && textModal('resolve', v);
    },
  },
  [ACTIONS.nudge.acknowledge]: { kind: 'run', confirm: true, run: ({ actor, meta, services }, value) => services.nudges.acknowledge(actor, meta, value) },
  [ACTIONS.nudge.snooze]: { kind: 'run', confirm: true, run: ({ actor, meta, services }, value) => services.nudges.snooze(actor, meta, value) },
  [ACTIONS.followUp.done]: { kind: 'run', confirm: true, run: ({ actor, meta, services }, value) => services.incidents.completeAction(actor, meta, { actionId: value }) },
  [ACTIONS.approval.approve]: { kind: 'run', confirm: true, run: ({ actor, meta, services }, value) => services.approvals.vote(actor, meta, value, 'approve') },
  // The reason is asked for in a form; the vote happens when it is submitted.
  [ACTIONS.approval.reject]: {
    kind: 'form',
    missing: 'That approval request does not exist.',
    open: async (services, value) => {
      const v = await services.approvals.viewById(value);
      return v && rejectModal(v);
    },
  },
  [ACTIONS.approval.reviewed]: { kind: 'run', confirm: true, run: ({ actor, meta, services }, value) => services.approvals.markReviewed(actor, meta, value) },
  [ACTIONS.approval.exception]: { kind: 'run', confirm: true, run: ({ actor, meta, services }, value) => services.approvals.askException(actor, meta, value) },
  [ACTIONS.change.approve]: { kind: 'run', confirm: true, run: ({ actor, meta, services }, value) => services.changes.vote(actor, meta, value, 'approve') },
  [ACTIONS.change.reject]: changeForm_(changeRejectForm),
  [ACTIONS.change.defer]: changeForm_(changeDeferForm),
  [ACTIONS.change.start]: { kind: 'run', confirm: true, run: ({ actor, meta, services }, value) => services.changes.startById(actor, meta, value) },
  [ACTIONS.change.done]: changeForm_(changeDoneForm),
  [ACTIONS.change.rollback]: changeForm_(changeRollbackForm),
  [ACTIONS.change.exception]: { kind: 'run', confirm: true, run: ({ actor, meta, services }, value) => services.changes.askException(actor, meta, value) },
  // The value is `<change id>:<item id>`; the card shows the tick, so only a problem is told.
  [ACTIONS.change.tick]: {
    kind: 'run',
    confirm: false,
    run: ({ actor, meta, services }, value) => {
      const at = value.indexOf(':');
      return services.changes.tick(actor, meta, value.slice(0, at), value.slice(at + 1));
    },
  },
};

/** Typed text from a form: what the person typed, control characters removed, ends trimmed. */
const typed = (v: string | undefined) => cleanTyped(v ?? '').trim();

const incidentText = (kind: 'update' | 'resolve'): FormHandler<{ incidentId: string }, string> => ({
  data: z.object({ incidentId: z.string().uuid() }),
  problemField: FIELDS.text.block,
  stale: 'This form is out of date; open it again from the card.',
  read: (values) => {
    const text = typed(values[FIELDS.text.block]);
    return text ? { input: text } : { errors: { [FIELDS.text.block]: kind === 'update' ? 'Write the update.' : 'Summarise the resolution.' } };
  },
  submit: ({ actor, meta, services }, data, text) =>
    kind === 'update' ? services.incidents.postUpdate(actor, meta, { id: data.incidentId }, text) : services.incidents.resolve(actor, meta, { id: data.incidentId }, text),
});

export const FORMS: Record<FormId, FormHandler<never, never>> = {
  [VIEWS.declare]: {
    data: z.object({ channelId: z.string().nullable().optional() }),
    problemField: FIELDS.title.block,
    stale: 'This form is out of date; run /incident again.',
    read: (values) => {
      const title = typed(values[FIELDS.title.block]);
      const severity = values[FIELDS.severity.block] ?? '';
      const errors: Record<string, string> = {};
      if (!title) errors[FIELDS.title.block] = 'Give the incident a title.';
      if (!(SEVERITIES as readonly string[]).includes(severity)) errors[FIELDS.severity.block] = 'Choose a severity, P0 to P3.';
      if (Object.keys(errors).length) return { errors };
      const description = typed(values[FIELDS.description.block]);
      const services = typed(values[FIELDS.services.block])
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
      return { input: { title, severity: severity as Severity, ...(description ? { description } : {}), services, isPrivate: values[FIELDS.private.block] === 'private' } };
    },
    // Declared from a form there is no reply URL: the link to the war room arrives by DM.
    submit: ({ actor, meta, services }, _data, input) => services.incidents.declare(actor, { ...meta, replyTo: undefined }, input),
  } satisfies FormHandler<{ channelId?: string | null }, Parameters<Services['incidents']['declare']>[2]> as never,
  [VIEWS.update]: incidentText('update') as never,
  [VIEWS.resolve]: incidentText('resolve') as never,
  [VIEWS.reject]: {
    data: z.object({ requestId: z.string().uuid() }),
    problemField: FIELDS.reason.block,
    stale: 'This form is out of date; press Reject on the card again.',
    read: (values) => {
      const reason = typed(values[FIELDS.reason.block]);
      return reason.length < 3 ? { errors: { [FIELDS.reason.block]: 'A rejection needs a reason.' } } : { input: reason };
    },
    submit: ({ actor, meta, services }, data, reason) => services.approvals.vote(actor, meta, data.requestId, 'reject', reason),
  } satisfies FormHandler<{ requestId: string }, string> as never,
  [VIEWS.changeNew]: {
    data: z.object({ type: z.enum(['standard', 'normal', 'emergency']), channelId: z.string().nullable().optional() }),
    problemField: FIELDS.title.block,
    stale: 'This form is out of date; run /change new again.',
    read: readChangeForm,
    submit: async ({ actor, meta, services }, data, raw) =>
      services.changes.create(actor, { ...meta, channelId: data.channelId ?? meta.channelId, replyTo: undefined }, services.changes.fromForm(data.type, raw)),
  } satisfies FormHandler<{ type: ChangeType; channelId?: string | null }, ChangeFormValues> as never,
  [VIEWS.changeEdit]: {
    data: z.object({ changeId: z.string().uuid(), type: z.enum(['standard', 'normal', 'emergency']) }),
    problemField: FIELDS.title.block,
    stale: 'This form is out of date; run /change edit again.',
    read: readChangeForm,
    submit: async ({ actor, meta, services }, data, raw) => services.changes.edit(actor, meta, data.changeId, services.changes.fromForm(data.type, raw)),
  } satisfies FormHandler<{ changeId: string; type: ChangeType }, ChangeFormValues> as never,
  [VIEWS.changeReject]: changeReason('A rejection needs a reason.', ({ actor, meta, services }, id, reason) => services.changes.vote(actor, meta, id, 'reject', reason)) as never,
  [VIEWS.changeDefer]: changeReason('Deferring needs a reason.', ({ actor, meta, services }, id, reason) => services.changes.defer(actor, meta, id, reason)) as never,
  [VIEWS.changeRollback]: changeReason('A rollback needs a reason.', ({ actor, meta, services }, id, reason) => services.changes.rollbackById(actor, meta, id, reason)) as never,
  [VIEWS.changeDone]: {
    data: z.object({ changeId: z.string().uuid() }),
    problemField: FIELDS.outcome.block,
    stale: 'This form is out of date; press Done on the card again.',
    read: (values) => {
      const outcome = values[FIELDS.outcome.block];
      if (outcome !== 'success' && outcome !== 'failed') return { errors: { [FIELDS.outcome.block]: 'Say how it went: success or failed.' } };
      const notes = typed(values[FIELDS.text.block]);
      return { input: { outcome, notes } };
    },
    submit: ({ actor, meta, services }, data, input) => services.changes.doneById(actor, meta, data.changeId, input.outcome, input.notes || undefined),
  } satisfies FormHandler<{ changeId: string }, { outcome: 'success' | 'failed'; notes: string }> as never,
};

/** A change form with one reason field. */
function changeReason(missing: string, submit: (ctx: Ctx, changeId: string, reason: string) => Promise<Reply>): FormHandler<{ changeId: string }, string> {
  return {
    data: z.object({ changeId: z.string().uuid() }),
    problemField: FIELDS.reason.block,
    stale: 'This form is out of date; press the button on the card again.',
    read: (values) => {
      const reason = typed(values[FIELDS.reason.block]);
      return reason.length < 3 ? { errors: { [FIELDS.reason.block]: missing } } : { input: reason };
    },
    submit: (ctx, data, reason) => submit(ctx, data.changeId, reason),
  };
}

/** The change form's values as typed; the service checks them against the policy (services.changes.fromForm). */
function readChangeForm(values: FormValues): { errors: Record<string, string> } | { input: ChangeFormValues } {
  const title = typed(values[FIELDS.title.block]);
  if (!title) return { errors: { [FIELDS.title.block]: 'Give the change a title.' } };
  const get = (f: { block: string }) => typed(values[f.block]);
  return {
    input: {
      title,
      description: get(FIELDS.description),
      reason: get(FIELDS.reason),
      environment: get(FIELDS.environment),
      systems: get(FIELDS.systems),
      impact: get(FIELDS.impact),
      risk: get(FIELDS.risk),
      affectedUsers: get(FIELDS.affectedUsers),
      downtime: get(FIELDS.downtime),
      downtimeMinutes: get(FIELDS.downtimeMinutes),
      windowStart: get(FIELDS.windowStart),
      windowLength: get(FIELDS.windowLength),
      rollbackPlan: get(FIELDS.rollbackPlan),
      rollbackTested: get(FIELDS.rollbackTested),
      catalogue: get(FIELDS.catalogue),
      incident: get(FIELDS.incident),
    },
  };
}

/** The change form of `/change new [type]`. */
export function newChangeForm(services: Services, type: ChangeType, channelId?: string): Form {
  const p = services.kernel.policy;
  return changeForm({ type, environments: Object.keys(p.approvals.deployment.environments), catalogue: p.changes.standardCatalogue, timeZone: p.organization.timeZone, channelId });
}

/** The change form of `/change edit CHG-n`, prefilled. */
export async function editChangeForm(services: Services, actor: Actor, refText: string): Promise<Form> {
  const v = await services.changes.viewByRef(actor, refText);
  const p = services.kernel.policy;
  return changeForm({ type: v.type, environments: Object.keys(p.approvals.deployment.environments), catalogue: p.changes.standardCatalogue, timeZone: p.organization.timeZone, current: v });
}

/** The declare form, as `/incident` opens it. */
export function declareForm(services: Services, channelId?: string): Form {
  return declareModal({ privateByDefault: services.kernel.policy.incidents.privateByDefault, channelId });
}
