/**
 * A body as text, or null once it passes `maxBytes` (the rest is never read, the stream is
 * cancelled): for bodies read before deciding (a request naming its target in JSON, a JWKS or an
 * agent list), where buffering whatever a peer sends would let it choose the isolate's memory use.
 */
export async function readCapped(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<string | null> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let size = 0;
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text + decoder.decode();
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      return null;
    }
    text += decoder.decode(value, { stream: true });
  }
}
