import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { LoadBatch, LoadResult } from './load-worker.ts';

export type { LoadBatch, LoadResult } from './load-worker.ts';

/** The load generator's process (load-worker.ts): one batch at a time. */
export class LoadGenerator {
  readonly #child: ChildProcess;
  readonly #ready: Promise<void>;

  constructor() {
    this.#child = fork(path.join(import.meta.dirname, 'load-worker.ts'), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#ready = new Promise((resolve, reject) => {
      this.#child.once('message', () => resolve());
      this.#child.once('exit', (code) => reject(new Error(`the load generator exited (${code})`)));
    });
  }

  async run(batch: LoadBatch): Promise<LoadResult> {
    await this.#ready;
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the load generator exited (${code})`));
      this.#child.once('exit', onExit);
      this.#child.once('message', (result: LoadResult) => {
        this.#child.off('exit', onExit);
        resolve(result);
      });
      this.#child.send(batch);
    });
  }

  close(): void {
    this.#child.kill();
  }
}
