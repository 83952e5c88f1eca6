import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';

// Ferry as a drill meets it: a real process running src/main.ts that can be SIGKILLed at any
// moment (from outside, or by itself at a failpoint) and started again on the same database.
//
// A process is prepared first (its modules loaded, see ferry-zygote.ts) and launched later with
// the failpoints to arm, so a drill can prepare the next process while the current one runs.

/** Where Ferry's sources are: this repository, unless DRILL_FERRY_DIR points at another checkout. */
export function ferryDir(): string {
  return process.env.DRILL_FERRY_DIR ?? path.resolve(import.meta.dirname, '../..');
}

export interface FerryProcessOptions {
  /** The whole environment of the child (nothing is inherited but PATH). */
  env: Record<string, string>;
  /** Appends the child's stdout and stderr here, for reading after a failed drill. */
  logFile?: string;
  /** Give up waiting for "listening" after this long once launched (default 30 s; loading the modules before is not counted). */
  startTimeoutMs?: number;
  /** Options for node itself (V8's), as a deployment starts Ferry with them; none by default. */
  nodeArgs?: readonly string[];
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
  readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  readonly #options: FerryProcessOptions;
  /** When the process was launched, and when Ferry logged "listening" (epoch ms). */
  launchedAt: number | undefined;
  readyAt: number | undefined;
  port: number | undefined;
  readonly exited: Promise<FerryExit>;
  #loaded = false;
  #exit: FerryExit | undefined;
  #failpoint: string | undefined;
  readonly #tail: string[] = [];

  private constructor(options: FerryProcessOptions) {
    this.#options = options;
    const script = [path.join(import.meta.dirname, 'ferry-zygote.ts'), ferryDir()];
    this.child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...script], {
      cwd: ferryDir(),
      env: {
        PATH: process.env.PATH ?? '',
        // Node's on-disk cache of compiled modules: a drill starts Ferry dozens of times.
        NODE_COMPILE_CACHE: path.join(tmpdir(), 'ferry-drills-compile-cache'),
        ...options.env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // A child that died before it was launched must not crash the drill with EPIPE.
    this.child.stdin.on('error', () => undefined);
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
      if (line === 'zygote loaded') this.#loaded = true;
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

  /** Spawns a process that loads Ferry's modules and waits to be launched. */
  static prepare(options: FerryProcessOptions): FerryProcess {
    return new FerryProcess(options);
  }

  /** Prepares and launches at once. */
  static start(options: FerryProcessOptions, failpoints: readonly string[] = []): Promise<FerryProcess> {
    return FerryProcess.prepare(options).launch(failpoints);
  }

  /**
   * Runs Ferry (src/main.ts) with FERRY_FAILPOINTS set to `failpoints`, and waits until it listens
   * or exits first (a failpoint reached during start-up is a kill like any other). Throws only when
   * it neither listens nor exits in time.
   */
  async launch(failpoints: readonly string[] = []): Promise<this> {
    // Loading the modules is the machine's business (slow when it is busy); listening is Ferry's.
    const loadDeadline = Date.now() + 120_000;
    while (!this.#loaded && this.#exit === undefined) {
      if (Date.now() > loadDeadline) return this.#giveUp('load its modules within 120 s');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const timeoutMs = this.#options.startTimeoutMs ?? 30_000;
    const env = failpoints.length > 0 ? { FERRY_FAILPOINTS: failpoints.join(',') } : {};
    this.launchedAt = Date.now();
    this.child.stdin.end(`${JSON.stringify(env)}\n`);
    const deadline = Date.now() + timeoutMs;
    while (this.readyAt === undefined && this.#exit === undefined) {
      if (Date.now() > deadline) return this.#giveUp(`listen within ${timeoutMs} ms of launch`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return this;
  }

  async #giveUp(what: string): Promise<never> {
    this.child.kill('SIGKILL');
    await this.exited;
    throw new Error(`Ferry did not ${what}:\n${this.tail()}`);
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
    if (this.launchedAt === undefined) return this.kill();
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }
}
