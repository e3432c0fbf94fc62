import { describe, expect, it } from 'vitest';
import { commandText } from './slackRequests.ts';

const names: Record<string, string> = { UALICE: 'alice' };
const nameOf = (id: string) => names[id];

describe('commandText: what Slack sends for a command with escaping on and off', () => {
  it('with escaping on, sends the escaped text as written', () => {
    const text = 'grant tech_lead <@UALICE|alice> in <#C1|general> <!here>';
    expect(commandText(text, 'on', nameOf)).toBe(text);
  });

  it.each([
    ['grant tech_lead <@UALICE|alice>', 'grant tech_lead @alice'],
    ['grant tech_lead <@UALICE>', 'grant tech_lead @alice'],
    ['grant tech_lead <@UNKNOWN>', 'grant tech_lead @UNKNOWN'],
    ['role comms <@W9ABC|bob.smith>', 'role comms @bob.smith'],
    ['note see <#C123|ops-alerts>', 'note see #ops-alerts'],
    ['note <!here> <!channel> <!everyone>', 'note @here @channel @everyone'],
    ['note ping <!subteam^S0SRE|@sre>', 'note ping @sre'],
    ['note <https://status.example/x|the status page> and <https://example.com>', 'note the status page and https://example.com'],
    ['grant qa_lead <mailto:carol@example.com|carol@example.com>', 'grant qa_lead carol@example.com'],
    ['note a &amp; b', 'note a &amp; b'],
  ])('with escaping off, %s arrives as %s', (escaped, plain) => {
    expect(commandText(escaped, 'off', nameOf)).toBe(plain);
  });
});
