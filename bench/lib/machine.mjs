// The machine line every result carries: results from different machines are not comparable.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { createRequire } from "node:module";

export function machine() {
  const require = createRequire(import.meta.url);
  let uname = "";
  try {
    uname = execFileSync("uname", ["-a"], { encoding: "utf8" }).trim();
  } catch {
    uname = `${process.platform} ${process.arch}`;
  }
  let cpu = cpus()[0]?.model ?? "unknown";
  try {
    cpu = /model name\s*:\s*(.+)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? cpu;
  } catch {
    // Not Linux: os.cpus() is as good as it gets.
  }
  const version = (name) => {
    try {
      return require(`${name}/package.json`).version;
    } catch {
      return "?";
    }
  };
  return {
    date: new Date().toISOString(),
    uname,
    cpu,
    cores: cpus().length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    miniflare: version("miniflare"),
    workerd: version("workerd"),
    wrangler: version("wrangler"),
    autocannon: version("autocannon"),
  };
}
