#!/usr/bin/env node
// The `baton` command. Baton ships TypeScript sources; tsx loads them (and the user's worker modules).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
