import path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

// A Ferry process started ahead of time: it loads Ferry's modules (most of a start on a busy
// machine), then waits for one line on stdin, a JSON object of environment variables to add (the
// failpoints to arm), and runs src/main.ts exactly as `node src/main.ts` would. A drill that
// kills Ferry dozens of times keeps one ready, so a restart costs what Ferry itself does on start
// (database, plans, Slack's auth.test), not loading node_modules again.
//
// Usage: node drills/support/ferry-zygote.ts <ferry source folder>

const dir = process.argv[2] ?? process.cwd();
const load = (file: string) => import(pathToFileURL(path.join(dir, file)).href);

await load('src/ferry.ts');
await load('src/config.ts');
process.stdout.write('zygote loaded\n');

const lines = createInterface({ input: process.stdin });
const first = await new Promise<string>((resolve) => lines.once('line', resolve));
lines.close();
process.stdin.destroy();
Object.assign(process.env, JSON.parse(first) as Record<string, string>);
await load('src/main.ts');
