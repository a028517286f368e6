// An offline stand-in for an LLM, so the template runs with no API key and no network. It speaks
// the AI SDK's LanguageModelV2 contract (what `ai` 5's MockLanguageModelV2 implements), as a plain
// object: MockLanguageModelV2 records every call in arrays that grow for the isolate's lifetime.
//
// It behaves like a small tool-using model: asked about the weather "in <place>", it first calls
// the weather tool, then answers from the tool result, streaming its answer in several deltas.

type Prompt = Array<{ role: string; content: unknown }>;
type Part = { type: string; [key: string]: unknown };

const usage = { inputTokens: 10, outputTokens: 10, totalTokens: 20 };

export interface WeatherModelOptions {
  /**
   * Called between the first text delta of a streamed answer and the rest. Tests use it to hold a
   * stream open and see that the first delta reached the client before the model finished.
   */
  betweenDeltas?: (signal: AbortSignal | undefined) => Promise<void>;
}

export interface Weather {
  location: string;
  temperatureC: number;
  conditions: string;
}

const CONDITIONS = ["sunny", "cloudy", "rainy", "windy", "foggy"];

/** Deterministic per location, so tests can predict the exact answer. */
export function lookupWeather(location: string): Weather {
  let h = 0;
  for (const ch of location.toLowerCase()) h = (h * 31 + ch.codePointAt(0)!) >>> 0;
  return { location, temperatureC: 5 + (h % 25), conditions: CONDITIONS[h % CONDITIONS.length]! };
}

export function describeWeather({ location, temperatureC, conditions }: Weather): string {
  return `The weather in ${location} is ${conditions} at ${temperatureC}°C.`;
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .filter((p: Part) => p.type === "text")
    .map((p: Part) => String(p.text))
    .join(" ");
}

function locationFrom(prompt: Prompt): string {
  const text = textOf(prompt.filter((m) => m.role === "user").at(-1)?.content);
  const match = /\bin\s+([\p{L}][\p{L}\s.'-]*?)\s*[?.!]*$/u.exec(text.trim());
  return match ? match[1]! : "Berlin";
}

type Turn = { kind: "tool-call"; call: { toolCallId: string; toolName: string; input: string } } | { kind: "text"; deltas: string[] };

// Stateless: a prompt that already carries a weather tool result is answered from it, otherwise
// the tool is called. That is the usual two-step agent loop, for generate and stream alike.
function planTurn(prompt: Prompt): Turn {
  const results = prompt
    .filter((m) => m.role === "tool")
    .flatMap((m) => m.content as Part[])
    .filter((p) => p.type === "tool-result");
  if (results.length === 0) {
    return { kind: "tool-call", call: { toolCallId: `call-${prompt.length}`, toolName: "weatherTool", input: JSON.stringify({ location: locationFrom(prompt) }) } };
  }
  const output = results.at(-1)!.output as { type?: string; value?: Weather } | undefined;
  const text = describeWeather(output?.type === "json" && output.value ? output.value : lookupWeather(locationFrom(prompt)));
  const cut = text.indexOf(" is ");
  return { kind: "text", deltas: [text.slice(0, cut), text.slice(cut)] };
}

/** The mock model. Replace it with a real provider (see src/mastra.ts). */
export function weatherModel(options: WeatherModelOptions = {}) {
  return {
    specificationVersion: "v2" as const,
    provider: "mastra-worker-template",
    modelId: "weather-mock",
    supportedUrls: {},
    async doGenerate({ prompt }: { prompt: Prompt }) {
      const turn = planTurn(prompt);
      const content = turn.kind === "tool-call" ? [{ type: "tool-call" as const, ...turn.call }] : [{ type: "text" as const, text: turn.deltas.join("") }];
      return { content, finishReason: turn.kind === "tool-call" ? ("tool-calls" as const) : ("stop" as const), usage, warnings: [] };
    },
    async doStream({ prompt, abortSignal }: { prompt: Prompt; abortSignal?: AbortSignal }) {
      const turn = planTurn(prompt);
      const parts: Part[] = [{ type: "stream-start", warnings: [] }];
      if (turn.kind === "tool-call") {
        parts.push({ type: "tool-call", ...turn.call }, { type: "finish", finishReason: "tool-calls", usage });
        return { stream: streamOf(parts, [], options, abortSignal) };
      }
      const [first, ...rest] = turn.deltas;
      parts.push({ type: "text-start", id: "text-1" }, { type: "text-delta", id: "text-1", delta: first });
      const after: Part[] = [...rest.map((delta) => ({ type: "text-delta", id: "text-1", delta })), { type: "text-end", id: "text-1" }, { type: "finish", finishReason: "stop", usage }];
      return { stream: streamOf(parts, after, options, abortSignal) };
    },
  };
}

function streamOf(head: Part[], tail: Part[], options: WeatherModelOptions, signal: AbortSignal | undefined): ReadableStream<never> {
  return new ReadableStream({
    async start(controller) {
      for (const part of head) controller.enqueue(part as never);
      if (tail.length === 0) return controller.close();
      await options.betweenDeltas?.(signal);
      if (signal?.aborted) return controller.close();
      for (const part of tail) controller.enqueue(part as never);
      controller.close();
    },
  });
}
