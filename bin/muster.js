#!/usr/bin/env node
// The `muster` command (package.json bin). Sources are TypeScript, loaded through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
