import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

// The embedded database's cluster (initdb) is created in a process of its own. Creating one grows
// PGlite's WebAssembly memory to about a gigabyte, which a process never gives back: done in Ferry's
// own process, a bot that idles at two hundred megabytes would keep five hundred for its lifetime.
// The child exits when the cluster is written, and Ferry opens it as it opens an existing one.
//
// Run as a script, it creates the cluster in the folder named by its argument.

/** Settings for a bot's database: a few runs, one connection. Postgres' defaults size for servers. */
export const PGLITE_SETTINGS = [
  'shared_buffers=16MB',
  'wal_buffers=1MB',
  'work_mem=2MB',
  'maintenance_work_mem=8MB',
  'temp_buffers=2MB',
];

/** Whether `dir` already holds a cluster (initdb writes PG_VERSION first). */
export function clusterExists(dir: string): boolean {
  return existsSync(path.join(dir, 'PG_VERSION'));
}

/** Creates the cluster in `dir` in a child process; rejects with what it printed when it fails. */
export async function createCluster(dir: string, timeoutMs = 300_000): Promise<void> {
  const child = spawn(process.execPath, [import.meta.filename, dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: timeoutMs,
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4_000);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode, signal) => resolve(signal ? null : exitCode));
  });
  if (code !== 0 || !clusterExists(dir))
    throw new Error(
      `creating the embedded database in ${dir} failed (${code === null ? 'killed or timed out' : `exit ${code}`}): ${stderr.trim() || 'no output'}`,
    );
}

if (process.argv[1] === import.meta.filename && process.argv[2]) {
  const { PGlite } = await import('@electric-sql/pglite');
  const lite = await PGlite.create(process.argv[2]);
  await lite.close();
}
