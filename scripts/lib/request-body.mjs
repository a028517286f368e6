// The dev issuer's request bodies (its token endpoint and its OAuth server): read whole, but never
// past a bound — a local tool still must not buffer whatever a client sends.

/** Thrown when a body passes the bound; each server answers it in its own error shape. */
export class BodyTooLarge extends Error {
  constructor(maxBytes) {
    super(`body larger than ${maxBytes} bytes`);
    this.maxBytes = maxBytes;
  }
}

/** The request body as UTF-8 text, or a {@link BodyTooLarge} rejection (the request is destroyed). */
export function readBody(req, maxBytes) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(new BodyTooLarge(maxBytes));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
