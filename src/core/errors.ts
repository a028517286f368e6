/**
 * A configuration problem. `variable` names the setting at fault so the 500 answer and the log
 * line can tell an operator exactly what to fix; `message` must never contain a secret's value.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly code = "misconfigured";
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}
