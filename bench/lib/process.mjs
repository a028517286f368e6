// The workerd process a Miniflare of ours started, and what /proc says about it (Linux only;
// elsewhere the lookups answer null and the figures that need them are left out).

import { readdir, readFile } from "node:fs/promises";

/** USER_HZ on Linux: /proc/<pid>/stat counts CPU time in 1/100 s. */
export const CLOCK_TICKS = 100;

/** The newest workerd process whose parent is this process, or null (no /proc, none found). */
export async function workerdPid() {
  let entries;
  try {
    entries = await readdir("/proc");
  } catch {
    return null;
  }
  let found = null;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const close = stat.lastIndexOf(")");
    if (close < 0) continue;
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const ppid = Number(stat.slice(close + 2).split(" ")[1]);
    if (ppid === process.pid && comm.startsWith("workerd") && (found === null || Number(entry) > found)) found = Number(entry);
  }
  return found;
}

/** Resident set size of a process, in KiB. */
export async function rssKiB(pid) {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

/** User + system CPU time of a process so far, in clock ticks (CLOCK_TICKS per second). */
export async function cpuTicks(pid) {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}
