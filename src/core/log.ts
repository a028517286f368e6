export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, string | number | boolean | null | undefined | readonly string[]>;

/** One structured JSON line per event. Callers pass fields, never tokens or secrets. */
export interface Logger {
  log(level: LogLevel, event: string, fields?: LogFields): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Writes JSON lines to the console, which Workers Logs and `wrangler tail` collect as is. */
export function consoleLogger(minimum: LogLevel = "info"): Logger {
  const floor = ORDER[minimum] ?? ORDER.info;
  return {
    log(level, event, fields) {
      if (ORDER[level] < floor) return;
      const line = JSON.stringify({ level, event, ...fields });
      if (level === "error") console.error(line);
      else if (level === "warn") console.warn(line);
      else console.log(line);
    },
  };
}

export function parseLogLevel(value: string | undefined): LogLevel {
  const v = (value ?? "").trim().toLowerCase();
  return v === "debug" || v === "warn" || v === "error" ? v : "info";
}

/** Discards everything: for library users who bring their own observability. */
export const silentLogger: Logger = { log() {} };
