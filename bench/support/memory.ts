import { readdirSync, readFileSync } from 'node:fs';

// A process's memory as the kernel counts it: VmRSS (resident now) and VmHWM (the most it was ever
// resident, start-up included), from /proc/<pid>/status, in MB (MiB).

export interface Memory {
  rssMb: number;
  hwmMb: number;
}

export function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rssMb: Math.round(kb('VmRSS') / 1024), hwmMb: Math.round(kb('VmHWM') / 1024) };
}

/** The process's children, and theirs (a process Ferry starts, such as the embedded database's creation). */
export function descendantsOf(pid: number): number[] {
  const children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const listed = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (listed) children.push(...listed.split(/\s+/).map(Number));
    }
  } catch {
    return [];
  }
  return children.flatMap((child) => [child, ...descendantsOf(child)]);
}

/**
 * Samples a process's RSS every `everyMs` until stopped: the highest of its own, and the highest of
 * its children's together (they come and go; a child that lives less than `everyMs` may be missed).
 */
export class MemoryWatch {
  readonly #pid: number;
  readonly #timer: NodeJS.Timeout;
  #peak = 0;
  #childrenPeak = 0;

  constructor(pid: number, everyMs = 100) {
    this.#pid = pid;
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), everyMs);
  }

  #sample(): void {
    try {
      this.#peak = Math.max(this.#peak, memoryOf(this.#pid).rssMb);
    } catch {
      return; // the process has exited: its last sample stands
    }
    let children = 0;
    for (const child of descendantsOf(this.#pid)) {
      try {
        children += memoryOf(child).rssMb;
      } catch {
        // gone between listing and reading
      }
    }
    this.#childrenPeak = Math.max(this.#childrenPeak, children);
  }

  /** The highest RSS seen while watching (the process's own), and its children's. */
  stop(): { peakMb: number; childrenPeakMb: number } {
    clearInterval(this.#timer);
    this.#sample();
    return { peakMb: this.#peak, childrenPeakMb: this.#childrenPeak };
  }
}

/** CPU time the process has used so far (user and system), in ms, from /proc/<pid>/stat. */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** Linux's USER_HZ, what /proc counts CPU time in, on every architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * Resolves once the process has used under 3% of a core for 200 ms (its work after the requests
 * answered is done), or after `timeoutMs`. Says how long it waited.
 */
export async function untilIdle(pid: number, timeoutMs = 30_000): Promise<number> {
  const began = Date.now();
  let before = cpuMsOf(pid);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const now = cpuMsOf(pid);
    if (now - before < 6 || Date.now() - began > timeoutMs) return Date.now() - began;
    before = now;
  }
}
