import type { Text } from '../src/domain/text.ts';
import type { ActionId, FormId } from './actionIds.ts';

/**
 * Neutral surfaces: what Muster shows, independent of any chat platform. The functions of
 * blocks/ draw records into these; each platform renders them (Block Kit in
 * src/platforms/slack/blockKit.ts). Text inside is neutral text (src/domain/text.ts).
 */

export interface Button {
  label: string;
  action: ActionId;
  /** The record the button acts on (an id, never state). */
  value: string;
  style?: 'primary' | 'danger';
}

export type Block =
  | { kind: 'header'; text: string }
  | { kind: 'section'; text: Text }
  /** Label/value pairs shown side by side where the platform can. */
  | { kind: 'fields'; fields: { label: string; value: Text }[] }
  /** Small print: one line per item. */
  | { kind: 'context'; items: Text[] }
  | { kind: 'divider' }
  | { kind: 'actions'; id: string; buttons: Button[] };

/** A message (a card, a notice, a reply): `text` is the plain notification line, `blocks` the body. */
export interface Message {
  text: Text;
  blocks?: Block[];
}

export interface Option {
  value: string;
  label: string;
}

export type Field = { id: string; label: string; optional?: boolean; hint?: string } & (
  | { kind: 'text'; multiline?: boolean; minLength?: number; maxLength?: number; placeholder?: string; initial?: string }
  | { kind: 'select'; options: Option[]; initial?: string }
  | { kind: 'radio'; options: Option[]; initial?: string }
);

/** A form Muster asks someone to fill in (a modal). */
export interface Form {
  id: FormId;
  title: string;
  submit: string;
  close: string;
  /** Carried through the form untouched (the record it is about). */
  data: Record<string, unknown>;
  intro?: Text;
  fields: Field[];
}

/** A person's own page (an app home). */
export interface Home {
  blocks: Block[];
}

export const header = (text: string): Block => ({ kind: 'header', text });
export const section = (text: Text): Block => ({ kind: 'section', text });
export const context = (...items: Text[]): Block => ({ kind: 'context', items });
export const divider = (): Block => ({ kind: 'divider' });
export const actions = (id: string, ...buttons: Button[]): Block => ({ kind: 'actions', id, buttons });
export const button = (label: string, action: ActionId, value: string, style?: 'primary' | 'danger'): Button => ({ label, action, value, ...(style ? { style } : {}) });
