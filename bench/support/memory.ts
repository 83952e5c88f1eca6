import { readFileSync } from 'node:fs';

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

/** Samples a process's RSS every `everyMs` until stopped; `peakMb` is the highest sample or VmHWM. */
export class MemoryWatch {
  readonly #pid: number;
  readonly #timer: NodeJS.Timeout;
  #peak = 0;

  constructor(pid: number, everyMs = 100) {
    this.#pid = pid;
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), everyMs);
  }

  #sample(): void {
    try {
      this.#peak = Math.max(this.#peak, memoryOf(this.#pid).rssMb);
    } catch {
      // the process has exited: its last sample stands
    }
  }

  /** The highest RSS seen while watching. */
  stop(): number {
    clearInterval(this.#timer);
    this.#sample();
    return this.#peak;
  }
}
