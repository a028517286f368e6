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

/**
 * A logger that keeps what it is given until `release()`, then writes it and passes everything
 * through. For what is logged while an isolate starts (the Worker builds its gateway at module
 * load): Workers Logs and `wrangler tail` collect what an invocation logs, and start-up belongs to
 * none, so a `config.invalid` line written then would be lost. Released by the first request.
 */
export function heldLogger(inner: Logger): Logger & { release(): void } {
  let held: [LogLevel, string, LogFields | undefined][] | null = [];
  return {
    log(level, event, fields) {
      if (held) held.push([level, event, fields]);
      else inner.log(level, event, fields);
    },
    release() {
      const lines = held;
      held = null;
      for (const [level, event, fields] of lines ?? []) inner.log(level, event, fields);
    },
  };
}
