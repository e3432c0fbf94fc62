import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { commands, PLANNED_COMMANDS } from '../commands/index.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = parse(readFileSync(join(root, 'manifest.yml'), 'utf8')) as {
  features: { slash_commands: { command: string; should_escape?: unknown }[] };
};
const slashCommands = manifest.features.slash_commands;

describe('manifest.yml', () => {
  it('declares every command Muster answers, and those planned', () => {
    expect(slashCommands.map((c) => c.command).sort()).toEqual([...commands.keys(), ...PLANNED_COMMANDS].map((n) => `/${n}`).sort());
  });

  // Without escaping Slack sends a mention as plain `@name`, and Muster cannot tell who was meant by id.
  it.each(slashCommands.map((c) => [c.command, c] as const))('%s escapes channels, users and links', (_name, c) => {
    expect(c.should_escape).toBe(true);
  });
});
