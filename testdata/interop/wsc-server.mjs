// wsc-server.mjs [PORT]: a Node `ws` 8.x echo SERVER, so that ws6455's client side (the
// handshake.Dialer and cmd/wsc) meets a WebSocket implementation written by someone else.
// Driven by cmd/wsc/interop_test.go.
//
//   node wsc-server.mjs        listens on 127.0.0.1, on a free port (or PORT)
//
// perMessageDeflate is off. stdout carries one JSON object per line: first
//   {"event":"listening","port":N}
// then, for each connection, tagged with its request path:
//   {"event":"open","path":P,"protocol":S,"headers":{...}}   handshake accepted
//   {"event":"ping","path":P,"payload":S}                      a ping arrived (ws answers it)
//   {"event":"message","path":P,"binary":B,"length":N}         a message arrived
//   {"event":"error","path":P,"code":C,"message":M}            ws refused a frame, e.g.
//                                                               WS_ERR_EXPECTED_MASK for an
//                                                               unmasked client frame (RFC 6455 §5.1)
//   {"event":"close","path":P,"code":N,"reason":S}             the connection ended
//
// Every message is echoed with its own type, except these text commands:
//   close:CODE:REASON   close with CODE and REASON (RFC 6455 §7.4)
//   ping:PAYLOAD        send a ping with PAYLOAD; when the client's pong arrives, send
//                       the text "pong:PAYLOAD" (§5.5.2, §5.5.3)
//   fragments:A,B,C     send one text message as the fragments A, B, C (§5.4)
//   terminate           drop the TCP connection without a close frame
//
// The subprotocol "chat.v1" is chosen when offered. Exits when stdin ends (so it never
// outlives the test that started it), or on SIGINT/SIGTERM.

import { WebSocketServer } from 'ws';

const port = Number(process.argv[2] || 0);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  perMessageDeflate: false,
  maxPayload: 64 * 1024 * 1024,
  handleProtocols: (protocols) => (protocols.has('chat.v1') ? 'chat.v1' : false),
});

wss.on('listening', () => emit({ event: 'listening', port: wss.address().port }));
wss.on('error', (err) => {
  console.error(`wsc-server: ${err.message}`);
  process.exit(1);
});

wss.on('connection', (ws, req) => {
  const path = req.url;
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (k.startsWith('x-') || k === 'origin' || k === 'sec-websocket-protocol' || k === 'sec-websocket-extensions') {
      headers[k] = v;
    }
  }
  emit({ event: 'open', path, protocol: ws.protocol, headers });

  const pendingPings = new Set();
  ws.on('ping', (data) => emit({ event: 'ping', path, payload: data.toString() }));
  ws.on('pong', (data) => {
    const p = data.toString();
    if (pendingPings.delete(p)) ws.send(`pong:${p}`);
  });
  ws.on('error', (err) => emit({ event: 'error', path, code: err.code || '', message: err.message }));
  ws.on('close', (code, reason) => emit({ event: 'close', path, code, reason: reason.toString() }));

  ws.on('message', (data, isBinary) => {
    emit({ event: 'message', path, binary: isBinary, length: data.length });
    if (!isBinary) {
      const s = data.toString();
      let m;
      if ((m = /^close:(\d+):(.*)$/s.exec(s))) {
        ws.close(Number(m[1]), m[2]);
        return;
      }
      if ((m = /^ping:(.*)$/s.exec(s))) {
        pendingPings.add(m[1]);
        ws.ping(m[1]);
        return;
      }
      if ((m = /^fragments:(.*)$/s.exec(s))) {
        const parts = m[1].split(',');
        parts.forEach((part, i) => ws.send(part, { binary: false, fin: i === parts.length - 1 }));
        return;
      }
      if (s === 'terminate') {
        ws.terminate();
        return;
      }
    }
    ws.send(data, { binary: isBinary });
  });
});

function shutdown() {
  for (const ws of wss.clients) ws.terminate();
  wss.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.stdin.on('end', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
