// The fast loopback upstream of BENCHMARKS.md §2: answers every request 200 "ok". Runs as its own
// process (forked by bench/lib/servers.mjs) so that it does not share an event loop with the load
// generator. Reports its port over IPC; exits when the parent disconnects.

import { createServer } from "node:http";

const body = Buffer.from("ok");
const server = createServer((req, res) => {
  // Drain any body so keep-alive connections stay usable.
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "text/plain", "content-length": body.length });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => process.send?.({ port: server.address().port }));
process.on("disconnect", () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
