// Node's ws echo server for the ws6455 benchmarks: the echo from ws's own
// README, with bufferutil for masking (ws's recommended optional add-on),
// no permessage-deflate unless --deflate. Same contract as cmd/echoserver: prints the
// listening address as its first line on stdout; with --memstats answers
// "memstats" on stdin with a line "memstats {json}" (after a GC when node
// runs with --expose-gc); "quit" or EOF on stdin ends it.
//
// Usage: node [--expose-gc] echo.mjs [--addr 127.0.0.1:0] [--memstats] [--deflate]
import { WebSocketServer } from "ws";
import { createInterface } from "node:readline";
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
let host = "127.0.0.1";
let port = 0;
let memstats = false;
let deflate = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--addr" || args[i] === "-addr") {
    const a = args[++i];
    const j = a.lastIndexOf(":");
    host = a.slice(0, j) || "127.0.0.1";
    port = Number(a.slice(j + 1));
  } else if (args[i] === "--memstats" || args[i] === "-memstats") {
    memstats = true;
  } else if (args[i] === "--deflate" || args[i] === "-deflate") {
    // permessage-deflate like cmd/echoserver -deflate: no context
    // takeover, level 1, every message compressed.
    deflate = {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      threshold: 0,
      zlibDeflateOptions: { level: 1 },
    };
  } else if (args[i] === "-h" || args[i] === "--help") {
    console.log("usage: node [--expose-gc] echo.mjs [--addr host:port] [--memstats] [--deflate]");
    process.exit(0);
  } else {
    console.error(`echo.mjs: unknown argument ${args[i]}`);
    process.exit(2);
  }
}

const wss = new WebSocketServer({ host, port, perMessageDeflate: deflate, maxPayload: 64 << 20 });
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => {
    ws.send(data, { binary: isBinary });
  });
  ws.on("error", () => {});
});
wss.on("listening", () => {
  const a = wss.address();
  process.stdout.write(`${a.address}:${a.port}\n`);
});

function rss() {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
}

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const cmd = line.trim();
  if (cmd === "quit") process.exit(0);
  if (cmd === "memstats" && memstats) {
    if (typeof globalThis.gc === "function") globalThis.gc();
    const m = process.memoryUsage();
    const v = {
      HeapInuse: m.heapUsed + m.external,
      HeapAlloc: m.heapUsed,
      StackInuse: 0,
      Sys: m.heapTotal + m.external,
      NumGC: 0,
      Goroutines: wss.clients.size,
      RSS: rss(),
    };
    process.stdout.write(`memstats ${JSON.stringify(v)}\n`);
  } else if (cmd !== "") {
    process.stdout.write(`error unknown command ${cmd}\n`);
  }
});
rl.on("close", () => process.exit(0));
