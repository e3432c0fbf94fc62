import { defineCommands, type Command } from './types.ts';
import { muster } from './muster.ts';
import { incident } from './incident.ts';
import { approval } from './approval.ts';
import { change } from './change.ts';

/** Every slash command Muster answers, validated when loaded. */
export const commands = defineCommands([muster as Command<never>, incident as Command<never>, approval as Command<never>, change as Command<never>]);

/** Commands registered with the platforms (manifest.yml) that later releases implement; they answer honestly meanwhile. */
export const PLANNED_COMMANDS = [] as const;
