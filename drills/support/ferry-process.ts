import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';

// Ferry as a drill meets it: a real `node src/main.ts` child process that can be SIGKILLed at any
// moment (from outside, or by itself at a failpoint) and started again on the same database.

/** Where Ferry's sources are: this repository, unless DRILL_FERRY_DIR points at another checkout. */
export function ferryDir(): string {
  return process.env.DRILL_FERRY_DIR ?? path.resolve(import.meta.dirname, '../..');
}

export interface FerryProcessOptions {
  /** The whole environment of the child (nothing is inherited but PATH). */
  env: Record<string, string>;
  /** FERRY_FAILPOINTS specs: the process kills itself at the first one reached. */
  failpoints?: readonly string[];
  /** Appends the child's stdout and stderr here, for reading after a failed drill. */
  logFile?: string;
  /** Give up waiting for "listening" after this long (default 30 s). */
  startTimeoutMs?: number;
}

export interface FerryExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The failpoint spec the process reported reaching just before it killed itself. */
  failpoint: string | undefined;
}

/** The last lines a process wrote, kept to explain a crash that was not planned. */
const TAIL_LINES = 40;

export class FerryProcess {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  readonly startedAt = Date.now();
  /** When Ferry logged "listening" (epoch ms): its executor and publisher run from then on. */
  readyAt: number | undefined;
  port: number | undefined;
  readonly exited: Promise<FerryExit>;
  #exit: FerryExit | undefined;
  #failpoint: string | undefined;
  readonly #tail: string[] = [];

  private constructor(options: FerryProcessOptions) {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      // Node's on-disk cache of compiled modules: a drill starts Ferry dozens of times, and loading
      // its dependencies is most of each start.
      NODE_COMPILE_CACHE: path.join(tmpdir(), 'ferry-drills-compile-cache'),
      ...options.env,
    };
    if (options.failpoints && options.failpoints.length > 0)
      env.FERRY_FAILPOINTS = options.failpoints.join(',');
    this.child = spawn(process.execPath, ['src/main.ts'], {
      cwd: ferryDir(),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onLines = (stream: Readable, onLine: (line: string) => void) => {
      let buffered = '';
      stream.on('data', (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        if (options.logFile) appendFileSync(options.logFile, text);
        buffered += text;
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) {
          this.#tail.push(line);
          if (this.#tail.length > TAIL_LINES) this.#tail.shift();
          onLine(line);
        }
      });
    };
    onLines(this.child.stdout, (line) => {
      if (this.readyAt !== undefined || !line.includes('listening on port')) return;
      const port = /listening on port (\d+)/.exec(line)?.[1];
      if (port) {
        this.port = Number(port);
        this.readyAt = Date.now();
      }
    });
    onLines(this.child.stderr, (line) => {
      const reached = /failpoint (\S+) reached/.exec(line)?.[1];
      if (reached) this.#failpoint = reached;
    });
    this.exited = new Promise<FerryExit>((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.#exit = { code, signal, failpoint: this.#failpoint };
        resolve(this.#exit);
      });
    });
  }

  /**
   * Starts Ferry and waits until it listens, or until it exits first (a failpoint reached during
   * start-up is a kill like any other). Throws only when it neither listens nor exits in time.
   */
  static async start(options: FerryProcessOptions): Promise<FerryProcess> {
    const ferry = new FerryProcess(options);
    const timeoutMs = options.startTimeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    while (ferry.readyAt === undefined && ferry.#exit === undefined) {
      if (Date.now() > deadline) {
        ferry.child.kill('SIGKILL');
        await ferry.exited;
        throw new Error(`Ferry did not listen within ${timeoutMs} ms:\n${ferry.tail()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return ferry;
  }

  get url(): string {
    if (this.port === undefined) throw new Error('Ferry is not listening');
    return `http://127.0.0.1:${this.port}`;
  }

  get alive(): boolean {
    return this.#exit === undefined;
  }

  get exit(): FerryExit | undefined {
    return this.#exit;
  }

  /** The last lines the process wrote (stdout and stderr). */
  tail(): string {
    return this.#tail.join('\n');
  }

  /** SIGKILL: no shutdown code runs, as when a machine or a container dies. */
  async kill(): Promise<FerryExit> {
    if (this.#exit) return this.#exit;
    this.child.kill('SIGKILL');
    return this.exited;
  }

  /** SIGTERM and Ferry's own graceful shutdown; SIGKILL if it takes longer than `graceMs`. */
  async stop(graceMs = 10_000): Promise<FerryExit> {
    if (this.#exit) return this.#exit;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }
}
