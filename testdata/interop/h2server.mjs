// h2server.mjs: Node's own http2 module as a raw RFC 8441 peer for ws6455's client
// (handshake.Dialer with HTTP2Require). No npm package: only node:http2. Driven by
// cmd/wsc/interop_test.go (TestInterop_NodeHTTP2_RFC8441).
//
//   node h2server.mjs                      h2c (HTTP/2 with prior knowledge) on 127.0.0.1
//   H2_CERT=c.pem H2_KEY=k.pem node h2server.mjs   TLS with ALPN h2
//
// The server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3: settings
// { enableConnectProtocol: true }). For each stream it checks the request by hand against
// RFC 8441 §4-§5 (:method CONNECT, :protocol websocket, :scheme http or https as served,
// :path, :authority, sec-websocket-version 13, and no sec-websocket-key, upgrade or
// connection), answers :status 200 (choosing the subprotocol "chat" when offered), then
// parses the client's WebSocket frames itself (RFC 6455 §5.2): each must be masked (§5.1);
// it unmasks the payload and echoes the frame unmasked, with the same FIN, RSV and opcode.
// A close frame is echoed and the stream ended (END_STREAM: RFC 8441 §5's TCP close).
//
// stdout carries one JSON object per line:
//   {"event":"listening","port":N}
//   {"event":"request","headers":{...}}                     the request's fields, pseudo ones too
//   {"event":"check","name":S,"ok":B,"got":S}              one check of the request
//   {"event":"frame","opcode":N,"fin":B,"masked":B,"length":N}
//   {"event":"end","reason":S}                              the stream ended
// Exits when stdin ends (so it never outlives the test), or on SIGINT/SIGTERM.

import http2 from 'node:http2';
import fs from 'node:fs';

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const secure = !!process.env.H2_CERT;
const settings = { enableConnectProtocol: true };
const server = secure
  ? http2.createSecureServer({
      cert: fs.readFileSync(process.env.H2_CERT),
      key: fs.readFileSync(process.env.H2_KEY),
      settings,
    })
  : http2.createServer({ settings });

server.on('stream', (stream, headers) => {
  const plain = {};
  for (const [k, v] of Object.entries(headers)) {
    if (typeof k === 'string') plain[k] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  emit({ event: 'request', headers: plain });
  const check = (name, ok, got) => {
    emit({ event: 'check', name, ok: !!ok, got: String(got) });
    return !!ok;
  };
  let good = true;
  good = check(':method CONNECT', headers[':method'] === 'CONNECT', headers[':method']) && good;
  good = check(':protocol websocket', headers[':protocol'] === 'websocket', headers[':protocol']) && good;
  good = check(':scheme', headers[':scheme'] === (secure ? 'https' : 'http'), headers[':scheme']) && good;
  good = check(':path', typeof headers[':path'] === 'string' && headers[':path'].startsWith('/'), headers[':path']) && good;
  good = check(':authority', typeof headers[':authority'] === 'string' && headers[':authority'].length > 0, headers[':authority']) && good;
  good = check('sec-websocket-version 13', headers['sec-websocket-version'] === '13', headers['sec-websocket-version']) && good;
  good = check('no sec-websocket-key', headers['sec-websocket-key'] === undefined, headers['sec-websocket-key']) && good;
  good = check('no upgrade', headers['upgrade'] === undefined, headers['upgrade']) && good;
  good = check('no connection', headers['connection'] === undefined, headers['connection']) && good;
  if (!good) {
    stream.respond({ ':status': 400 });
    stream.end('not an RFC 8441 WebSocket request');
    return;
  }
  const offered = String(headers['sec-websocket-protocol'] || '').split(',').map((s) => s.trim());
  const resp = { ':status': 200 };
  if (offered.includes('chat')) resp['sec-websocket-protocol'] = 'chat';
  stream.respond(resp);

  let buf = Buffer.alloc(0);
  let closed = false;
  stream.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (buf.length < 2) return;
      const first = buf[0]; // FIN, RSV1-3, opcode: echoed as they are
      const fin = (first & 0x80) !== 0;
      const opcode = buf[0] & 0x0f;
      const masked = (buf[1] & 0x80) !== 0;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      const keyLen = masked ? 4 : 0;
      if (buf.length < off + keyLen + len) return;
      const key = buf.subarray(off, off + keyLen);
      const payload = Buffer.from(buf.subarray(off + keyLen, off + keyLen + len));
      if (masked) for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
      buf = buf.subarray(off + keyLen + len);
      emit({ event: 'frame', opcode, fin, masked, length: len });
      if (!masked) {
        // RFC 6455 §5.1: the server MUST close the connection on an unmasked frame.
        stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
        return;
      }
      // Echo unmasked, same first byte (FIN, RSV, opcode).
      let hdr;
      if (len < 126) {
        hdr = Buffer.from([first, len]);
      } else if (len < 65536) {
        hdr = Buffer.alloc(4);
        hdr[0] = first;
        hdr[1] = 126;
        hdr.writeUInt16BE(len, 2);
      } else {
        hdr = Buffer.alloc(10);
        hdr[0] = first;
        hdr[1] = 127;
        hdr.writeBigUInt64BE(BigInt(len), 2);
      }
      stream.write(Buffer.concat([hdr, payload]));
      if (opcode === 8 && !closed) {
        closed = true;
        stream.end(); // END_STREAM after the close frame: RFC 8441 §5
        return;
      }
    }
  });
  stream.on('close', () => emit({ event: 'end', reason: `rstCode=${stream.rstCode}` }));
  stream.on('error', () => {});
});

server.on('error', (err) => {
  console.error(`h2server: ${err.message}`);
  process.exit(1);
});
server.listen(0, '127.0.0.1', () => emit({ event: 'listening', port: server.address().port }));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
