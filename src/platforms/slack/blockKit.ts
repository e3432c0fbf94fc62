import type { ActionsBlock, Button, ContextBlock, HeaderBlock, HomeView, InputBlock, KnownBlock, ModalView, MrkdwnElement, PlainTextElement, PlainTextOption, SectionBlock } from '@slack/types';
import type { Text } from '../../domain/text.ts';
import type { Block, Field, Form, Home, Message } from '../../../blocks/surface.ts';
import { mrkdwn, plain } from './mrkdwn.ts';

/**
 * Neutral surfaces (blocks/surface.ts) as Slack Block Kit. Limits are Slack's, from the Block Kit
 * reference (https://api.slack.com/reference/block-kit): 3000 characters of section text, 2000 per
 * section field and at most 10 fields, 10 context elements, 150 in a header, 75 in a button label,
 * 2000 in a button value, 24 in a modal's title and buttons, 100 blocks in a view and 50 in a message.
 */
const LIMIT = { text: 3000, field: 2000, fields: 10, contextItems: 10, header: 150, label: 75, value: 2000, modalTitle: 24, blocksInMessage: 50, blocksInView: 100, metadata: 3000 } as const;

const cut = (s: string, max: number) => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);
const plainEl = (text: Text, max: number): PlainTextElement => ({ type: 'plain_text', text: cut(plain(text), max), emoji: true });
// verbatim: without it Slack "auto-converts URLs into links, link-ifies conversation names and parses certain
// mentions" in a mrkdwn text object (Block Kit composition objects, text object): only Muster's own markup is live.
const md = (text: Text, max: number = LIMIT.text): MrkdwnElement => ({ type: 'mrkdwn', text: mrkdwn(text, max), verbatim: true });

function block(b: Block): KnownBlock {
  switch (b.kind) {
    case 'header':
      return { type: 'header', text: plainEl(b.text, LIMIT.header) } satisfies HeaderBlock;
    case 'section':
      return { type: 'section', text: md(b.text) } satisfies SectionBlock;
    case 'fields':
      return {
        type: 'section',
        fields: b.fields.slice(0, LIMIT.fields).map((f) => md([{ strong: [f.label] }, '\n', ...(typeof f.value === 'string' ? [f.value] : f.value)], LIMIT.field)),
      } satisfies SectionBlock;
    case 'context':
      return { type: 'context', elements: b.items.slice(0, LIMIT.contextItems).map((t) => md(t)) } satisfies ContextBlock;
    case 'divider':
      return { type: 'divider' };
    case 'actions':
      return {
        type: 'actions',
        block_id: b.id,
        // An action_id must be unique within its block (Block Kit reference): buttons sharing one (a checklist's
        // ticks) get `#<index>`, which the handlers accept (src/platforms/slack/interactions.ts).
        elements: b.buttons.map((x, j): Button => {
          const shared = b.buttons.filter((y) => y.action === x.action).length > 1;
          return { type: 'button', text: plainEl(x.label, LIMIT.label), action_id: shared ? `${x.action}#${j}` : x.action, value: cut(x.value, LIMIT.value), ...(x.style ? { style: x.style } : {}) };
        }),
      } satisfies ActionsBlock;
  }
}

/** A message body for chat.postMessage / chat.update / a response_url: its fallback text and its blocks. */
export function slackMessage(m: Message): { text: string; blocks?: KnownBlock[] } {
  const text = mrkdwn(m.text, 4000);
  if (!m.blocks) return { text };
  const blocks = m.blocks.map(block);
  if (blocks.length > LIMIT.blocksInMessage) {
    blocks.length = LIMIT.blocksInMessage - 1;
    blocks.push({ type: 'context', elements: [md('(shortened: more than Slack shows in one message)')] });
  }
  return { text, blocks };
}

const option = (o: { value: string; label: string }): PlainTextOption => ({ text: plainEl(o.label, LIMIT.label), value: o.value });

function input(f: Field): InputBlock {
  const base = { type: 'input' as const, block_id: f.id, label: plainEl(f.label, 2000), optional: f.optional ?? false, ...(f.hint ? { hint: plainEl(f.hint, 2000) } : {}) };
  switch (f.kind) {
    case 'text':
      return {
        ...base,
        element: {
          type: 'plain_text_input',
          action_id: f.id,
          ...(f.multiline ? { multiline: true } : {}),
          ...(f.minLength !== undefined ? { min_length: f.minLength } : {}),
          ...(f.maxLength !== undefined ? { max_length: f.maxLength } : {}),
          ...(f.placeholder ? { placeholder: plainEl(f.placeholder, 150) } : {}),
          ...(f.initial ? { initial_value: f.initial } : {}),
        },
      };
    case 'select': {
      const options = f.options.map(option);
      const initial = options.find((o) => o.value === f.initial);
      return { ...base, element: { type: 'static_select', action_id: f.id, options, ...(initial ? { initial_option: initial } : {}) } };
    }
    case 'radio': {
      const options = f.options.map(option);
      const initial = options.find((o) => o.value === f.initial);
      return { ...base, element: { type: 'radio_buttons', action_id: f.id, options, ...(initial ? { initial_option: initial } : {}) } };
    }
  }
}

/** A form as a Slack modal: each field's id is its input's block_id and action_id; `data` rides in private_metadata. */
export function slackModal(f: Form): ModalView {
  const blocks: KnownBlock[] = [];
  if (f.intro) blocks.push({ type: 'context', elements: [md(f.intro)] });
  blocks.push(...f.fields.map(input));
  const metadata = JSON.stringify(f.data);
  if (metadata.length > LIMIT.metadata) throw new Error(`form ${f.id}: its data does not fit Slack's private_metadata (${metadata.length} > ${LIMIT.metadata})`);
  return {
    type: 'modal',
    callback_id: f.id,
    private_metadata: metadata,
    title: plainEl(f.title, LIMIT.modalTitle),
    submit: plainEl(f.submit, LIMIT.modalTitle),
    close: plainEl(f.close, LIMIT.modalTitle),
    blocks,
  };
}

export function slackHome(h: Home): HomeView {
  return { type: 'home', blocks: h.blocks.map(block).slice(0, LIMIT.blocksInView) };
}
