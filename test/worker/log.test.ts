import { describe, expect, it } from "vitest";
import { heldLogger, type Logger, type LogLevel } from "../../src/core/log.js";

describe("heldLogger (what the isolate's start-up logs)", () => {
  it("keeps every line until released, then writes them in order and passes later ones straight through", () => {
    const written: [LogLevel, string][] = [];
    const inner: Logger = { log: (level, event) => written.push([level, event]) };
    const logger = heldLogger(inner);
    logger.log("error", "config.invalid", { variable: "CLERK_ISSUER" });
    logger.log("warn", "upstream.untrusted");
    expect(written).toEqual([]);
    logger.release();
    expect(written).toEqual([
      ["error", "config.invalid"],
      ["warn", "upstream.untrusted"],
    ]);
    logger.log("info", "later");
    logger.release();
    expect(written).toEqual([
      ["error", "config.invalid"],
      ["warn", "upstream.untrusted"],
      ["info", "later"],
    ]);
  });
});
