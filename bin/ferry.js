#!/usr/bin/env node
// The `ferry` command (`npx ferry validate plans/`): Node 24 runs the TypeScript sources directly.
await import('../src/cli.ts');
