import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

export interface Isolation {
  /** rlimits set on each child (`ulimit` names). */
  rlimits: string[];
  /** `namespace`: children have their own empty network namespace; `none`: only the isolate's lack of network APIs. */
  network: 'namespace' | 'none';
  /** `proc`: the host reads CPU time and memory of each child from /proc; `none`: only the child's own isolate limits and the wall clock. */
  monitor: 'proc' | 'none';
}

/** A process's CPU time (in USER_HZ ticks, user + system) and resident memory, from /proc; undefined once it is gone. */
export function procUsage(pid: number): { cpuTicks: number; rssKb: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may hold spaces but ends at the last ')': utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpuTicks: Number(fields[11]) + Number(fields[12]), rssKb: rss ? Number(rss[1]) : 0 };
  } catch {
    return undefined;
  }
}

let probed: Isolation | undefined;

/** Which isolation mechanisms this machine gives sandbox children (docs/sandbox.md), probed once per process. */
export function probeIsolation(): Isolation {
  if (probed) return probed;
  const posix = process.platform !== 'win32' && existsSync('/bin/sh');
  const namespaces = process.platform === 'linux' && spawnSync('unshare', ['-rn', 'true'], { stdio: 'ignore', timeout: 5000 }).status === 0;
  probed = {
    rlimits: posix ? ['data', 'file-size 0', 'core 0'] : [],
    network: namespaces ? 'namespace' : 'none',
    monitor: process.platform === 'linux' && existsSync(`/proc/${process.pid}/stat`) ? 'proc' : 'none',
  };
  return probed;
}
