// ws-client.mjs URL: checks cmd/wsecho against an independent client, the Node `ws` library,
// plus a few raw-socket checks for frames `ws` refuses to send (invalid close codes).
//
//   node ws-client.mjs ws://127.0.0.1:PORT/
//
// Prints one line per check (PASS/FAIL/SKIP name: detail) and a final "N passed, M failed, K skipped"
// line; exits 1 if any check failed.
//
// Environment:
//   WS_REQUIRE_DEFLATE=1  permessage-deflate (RFC 7692) must be negotiated and used: a server that
//                         declines it fails the deflate checks instead of skipping them.
//   WS_EXPECT_DEFLATE=0   the server runs with -deflate=false: offering permessage-deflate must NOT
//                         get it negotiated.
//   WS_CHECK_TIMEOUT_MS   per-check time limit (default 20000).

import WebSocket from 'ws';
import net from 'node:net';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';

const url = process.argv[2];
if (!url || !/^wss?:\/\//.test(url)) {
  console.error('usage: node ws-client.mjs ws://HOST:PORT/PATH');
  process.exit(2);
}
const requireDeflate = process.env.WS_REQUIRE_DEFLATE === '1';
const expectNoDeflate = process.env.WS_EXPECT_DEFLATE === '0';
const checkTimeout = Number(process.env.WS_CHECK_TIMEOUT_MS || 20000);

// ---------------------------------------------------------------- check runner

class Skip extends Error {}
const counts = { passed: 0, failed: 0, skipped: 0 };

async function check(name, fn, timeoutMs = checkTimeout) {
  const start = performance.now();
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const detail = await Promise.race([fn(), timeout]);
    counts.passed++;
    console.log(`PASS ${name}${detail ? `: ${detail}` : ''} (${(performance.now() - start).toFixed(0)} ms)`);
  } catch (err) {
    if (err instanceof Skip) {
      counts.skipped++;
      console.log(`SKIP ${name}: ${err.message}`);
    } else {
      counts.failed++;
      console.log(`FAIL ${name}: ${err && err.message ? err.message : err}`);
    }
  } finally {
    clearTimeout(timer);
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

function describe(buf) {
  if (buf.length <= 16) return `${buf.length} bytes [${buf.toString('hex')}]`;
  return `${buf.length} bytes [${buf.subarray(0, 8).toString('hex')}…]`;
}

// ---------------------------------------------------------------- ws helpers

// open connects with the given `ws` options and resolves once the handshake is done. Every
// message, pong and the close are queued on the returned object for the check to await.
function open(options = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 10000, ...options });
    const messages = [];
    const waiters = [];
    const pongs = [];
    const pongWaiters = [];
    let closed = null;
    const closeWaiters = [];
    ws.on('message', (data, isBinary) => {
      const m = { data, isBinary };
      if (waiters.length) waiters.shift().resolve(m);
      else messages.push(m);
    });
    ws.on('pong', (data) => {
      if (pongWaiters.length) pongWaiters.shift()(data);
      else pongs.push(data);
    });
    ws.on('close', (code, reason) => {
      closed = { code, reason: reason.toString() };
      if (!opened) reject(new Error(`connect: closed with ${code} before the handshake finished`));
      for (const w of waiters.splice(0)) w.reject(new Error(`connection closed (${code} ${closed.reason}) while waiting for a message`));
      for (const w of closeWaiters.splice(0)) w(closed);
    });
    let opened = false;
    ws.on('error', (err) => {
      if (!opened) reject(new Error(`connect: ${err.message}`));
      else ws.lastError = err;
    });
    ws.on('unexpected-response', (req, res) => {
      reject(new Error(`handshake: HTTP ${res.statusCode} ${res.statusMessage}`));
      req.destroy();
    });
    ws.on('open', () => {
      opened = true;
      resolve({
        ws,
        next() {
          if (messages.length) return Promise.resolve(messages.shift());
          if (closed) return Promise.reject(new Error(`connection closed (${closed.code}) while waiting for a message`));
          return new Promise((res, rej) => waiters.push({ resolve: res, reject: rej }));
        },
        pong() {
          if (pongs.length) return Promise.resolve(pongs.shift());
          return new Promise((res) => pongWaiters.push(res));
        },
        closed() {
          if (closed) return Promise.resolve(closed);
          return new Promise((res) => closeWaiters.push(res));
        },
        bytesRead: () => ws._socket ? ws._socket.bytesRead : 0,
        bytesWritten: () => ws._socket ? ws._socket.bytesWritten : 0,
        deflateParams: () => ws._extensions && ws._extensions['permessage-deflate']
          ? ws._extensions['permessage-deflate'].params : null,
      });
    });
  });
}

function sendP(ws, data, opts = {}) {
  return new Promise((resolve, reject) => ws.send(data, opts, (err) => (err ? reject(err) : resolve())));
}

async function expectEcho(c, sent, isBinary) {
  const m = await c.next();
  assert(m.isBinary === isBinary, `echo came back as ${m.isBinary ? 'binary' : 'text'}, sent ${isBinary ? 'binary' : 'text'}`);
  const want = Buffer.isBuffer(sent) ? sent : Buffer.from(sent);
  assert(m.data.length === want.length, `echo length ${m.data.length}, sent ${want.length}`);
  assert(Buffer.compare(m.data, want) === 0, `echo content differs (got ${describe(m.data)}, sent ${describe(want)})`);
  return m;
}

async function withConn(options, fn) {
  const c = await open(options);
  try {
    return await fn(c);
  } finally {
    if (c.ws.readyState === WebSocket.OPEN) {
      c.ws.close(1000);
      await Promise.race([c.closed(), new Promise((r) => setTimeout(r, 3000))]);
    }
    c.ws.terminate();
  }
}

// ---------------------------------------------------------------- raw socket helpers

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

// rawConnect does the opening handshake (RFC 6455 §4.1) by hand and returns a frame reader.
function rawConnect() {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol === 'wss:' ? 443 : 80));
  assert(u.protocol === 'ws:', 'raw checks support ws:// only');
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, u.hostname);
    const key = crypto.randomBytes(16).toString('base64');
    let buf = Buffer.alloc(0);
    let handshaken = false;
    let eof = false;
    const waiters = [];
    const wake = () => { for (const w of waiters.splice(0)) w(); };
    sock.on('error', (err) => { if (!handshaken) reject(err); eof = true; wake(); });
    sock.on('close', () => { eof = true; wake(); if (!handshaken) reject(new Error('connection closed during handshake')); });
    sock.on('connect', () => {
      sock.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (!handshaken) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        buf = buf.subarray(end + 4);
        const lines = head.split('\r\n');
        if (!/^HTTP\/1\.1 101\b/.test(lines[0])) { reject(new Error(`handshake: ${lines[0]}`)); sock.destroy(); return; }
        const accept = crypto.createHash('sha1').update(key + GUID).digest('base64');
        const got = lines.find((l) => /^sec-websocket-accept:/i.test(l));
        if (!got || got.split(':')[1].trim() !== accept) { reject(new Error(`handshake: bad Sec-WebSocket-Accept ${got}`)); sock.destroy(); return; }
        handshaken = true;
        resolve(api);
      }
      wake();
    });
    const parse = () => {
      if (buf.length < 2) return null;
      const b0 = buf[0], b1 = buf[1];
      let len = b1 & 0x7f, off = 2;
      if (len === 126) { if (buf.length < 4) return null; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) return null; len = Number(buf.readBigUInt64BE(2)); off = 10; }
      if (b1 & 0x80) off += 4; // a server must not mask, but parse it anyway
      if (buf.length < off + len) return null;
      const f = { fin: !!(b0 & 0x80), rsv: b0 & 0x70, opcode: b0 & 0x0f, masked: !!(b1 & 0x80), payload: buf.subarray(off, off + len) };
      buf = buf.subarray(off + len);
      return f;
    };
    const api = {
      sock,
      send(opcode, payload, { fin = true } = {}) {
        const mask = crypto.randomBytes(4);
        const len = payload.length;
        const head = len <= 125 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len])
          : len <= 0xffff ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, len >> 8, len & 255])
            : (() => { const h = Buffer.alloc(10); h[0] = (fin ? 0x80 : 0) | opcode; h[1] = 0x80 | 127; h.writeBigUInt64BE(BigInt(len), 2); return h; })();
        const body = Buffer.from(payload);
        for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
        sock.write(Buffer.concat([head, mask, body]));
      },
      // readFrame resolves with the next frame, or null at end of stream.
      async readFrame() {
        for (;;) {
          const f = parse();
          if (f) return f;
          if (eof) return null;
          await new Promise((r) => waiters.push(r));
        }
      },
      // eof resolves true once the server closed the TCP connection.
      async eof() {
        while (!eof) {
          buf = Buffer.alloc(0);
          await new Promise((r) => waiters.push(r));
        }
        return true;
      },
      destroy() { sock.destroy(); },
    };
  });
}

function closePayload(code, reason = Buffer.alloc(0)) {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return Buffer.concat([b, Buffer.from(reason)]);
}

// expectServerClose sends a raw close payload and expects the server to answer with a close
// frame carrying wantCode, then to close the TCP connection (RFC 6455 §7.1.1, §7.1.7).
async function expectServerClose(payload, wantCode) {
  const r = await rawConnect();
  try {
    r.send(0x8, payload);
    let f;
    for (;;) {
      f = await r.readFrame();
      if (f === null) throw new Error('server closed the TCP connection without sending a close frame');
      if (f.opcode === 0x8) break;
    }
    assert(!f.masked, 'server close frame is masked (RFC 6455 §5.1 forbids it)');
    assert(f.payload.length >= 2, `server close frame has no status code (payload ${describe(f.payload)})`);
    const code = f.payload.readUInt16BE(0);
    assert(code === wantCode, `server answered with close ${code} "${f.payload.subarray(2)}", want ${wantCode}`);
    // Finish the handshake politely so the server need not wait for its close timeout.
    r.send(0x8, closePayload(wantCode));
    const closedTCP = await Promise.race([r.eof(), new Promise((res) => setTimeout(() => res(false), 10000))]);
    assert(closedTCP, `server sent close ${code} but did not close the TCP connection within 10 s of our close reply (RFC 6455 §7.1.1)`);
    return `server sent close ${code}${f.payload.length > 2 ? ` "${f.payload.subarray(2)}"` : ''} and closed TCP`;
  } finally {
    r.destroy();
  }
}

// ---------------------------------------------------------------- checks

const sizeStr = (n) => (n >= 1048576 ? `${n / 1048576} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} B`);

async function main() {
  const wsVersion = createRequire(import.meta.url)('ws/package.json').version;
  console.log(`ws-client: ws ${wsVersion} (node ${process.version}) against ${url}`);

  await check('handshake (RFC 6455 §4.1, no extensions offered)', () => withConn({}, async (c) => {
    assert(c.ws.protocol === '', `server chose subprotocol "${c.ws.protocol}" though none was offered`);
    assert(c.ws.extensions === '', `server negotiated extensions "${c.ws.extensions}" though none were offered`);
    return 'HTTP 101, Sec-WebSocket-Accept verified by ws, no subprotocol, no extensions';
  }));

  await check('text echo (RFC 6455 §5.6, UTF-8)', () => withConn({}, async (c) => {
    const s = 'Hello, ws6455! héllo — 你好 — 🎉';
    c.ws.send(s);
    const m = await expectEcho(c, s, false);
    return `${m.data.length} bytes echoed as text`;
  }));

  await check('empty messages echo (text and binary)', () => withConn({}, async (c) => {
    c.ws.send('');
    await expectEcho(c, '', false);
    c.ws.send(Buffer.alloc(0));
    await expectEcho(c, Buffer.alloc(0), true);
    return 'both came back empty with their opcode';
  }));

  await check('binary echo (all 256 byte values)', () => withConn({}, async (c) => {
    const b = Buffer.alloc(1024);
    for (let i = 0; i < b.length; i++) b[i] = i & 255;
    c.ws.send(b);
    await expectEcho(c, b, true);
    return '1024 bytes echoed as binary';
  }));

  await check('payload length encodings (RFC 6455 §5.2: 7-bit, 16-bit, 64-bit)', () => withConn({}, async (c) => {
    const sizes = [125, 126, 127, 65535, 65536, 65537];
    for (const n of sizes) {
      const b = crypto.randomBytes(n);
      c.ws.send(b);
      await expectEcho(c, b, true);
    }
    return `sizes ${sizes.join(', ')} echoed`;
  }));

  await check('1 MiB binary echo', () => withConn({}, async (c) => {
    const b = crypto.randomBytes(1 << 20);
    c.ws.send(b);
    await expectEcho(c, b, true);
    return `${sizeStr(b.length)} echoed`;
  }), 60000);

  await check('1 MiB text echo', () => withConn({}, async (c) => {
    const unit = 'ws6455 → echo ✓ ';
    let s = unit.repeat(Math.floor((1 << 20) / Buffer.byteLength(unit)));
    s += 'x'.repeat((1 << 20) - Buffer.byteLength(s)); // exactly 1 MiB of UTF-8
    c.ws.send(s);
    await expectEcho(c, s, false);
    return `${sizeStr(Buffer.byteLength(s))} echoed`;
  }), 60000);

  await check('fragmented text message (RFC 6455 §5.4)', () => withConn({}, async (c) => {
    await sendP(c.ws, 'frag', { fin: false });
    await sendP(c.ws, 'men', { fin: false });
    await sendP(c.ws, 'ted ✓', { fin: true });
    await expectEcho(c, 'fragmented ✓', false);
    return '3 frames (text + 2 continuation) echoed as one text message';
  }));

  await check('fragmented text, UTF-8 code point split across frames (RFC 6455 §5.6, §8.1)', () => withConn({}, async (c) => {
    const euro = Buffer.from('€'); // e2 82 ac
    await sendP(c.ws, euro.subarray(0, 1), { binary: false, fin: false });
    await sendP(c.ws, euro.subarray(1, 2), { fin: false });
    await sendP(c.ws, euro.subarray(2), { fin: true });
    await expectEcho(c, '€', false);
    return 'e2 | 82 | ac reassembled and echoed as "€"';
  }));

  await check('fragmented binary message (RFC 6455 §5.4)', () => withConn({}, async (c) => {
    const parts = [crypto.randomBytes(1000), crypto.randomBytes(70000), crypto.randomBytes(1)];
    for (let i = 0; i < parts.length; i++) await sendP(c.ws, parts[i], { binary: true, fin: i === parts.length - 1 });
    await expectEcho(c, Buffer.concat(parts), true);
    return `3 frames (${parts.map((p) => p.length).join(' + ')} bytes) echoed as one binary message`;
  }));

  await check('ping between fragments (RFC 6455 §5.4: control frames may be interleaved)', () => withConn({}, async (c) => {
    await sendP(c.ws, 'before-', { fin: false });
    c.ws.ping(Buffer.from('mid'));
    await sendP(c.ws, 'after', { fin: true });
    const p = await c.pong();
    assert(p.toString() === 'mid', `pong payload "${p}", want "mid"`);
    await expectEcho(c, 'before-after', false);
    return 'pong "mid" and the reassembled message both arrived';
  }));

  await check('ping → pong with the same payload (RFC 6455 §5.5.2, §5.5.3)', () => withConn({}, async (c) => {
    const payloads = [Buffer.from('hello ping'), Buffer.alloc(0), crypto.randomBytes(125)];
    for (const p of payloads) {
      c.ws.ping(p);
      const got = await c.pong();
      assert(Buffer.compare(got, p) === 0, `pong ${describe(got)}, ping was ${describe(p)}`);
    }
    return 'payloads of 10, 0 and 125 bytes came back in pongs';
  }));

  await check('messages keep their order (100 mixed messages)', () => withConn({}, async (c) => {
    const sent = [];
    for (let i = 0; i < 100; i++) {
      const isBinary = i % 3 === 0;
      const d = isBinary ? crypto.randomBytes(i * 37) : `message ${i} ${'x'.repeat(i)}`;
      sent.push([d, isBinary]);
      c.ws.send(d);
    }
    for (const [d, isBinary] of sent) await expectEcho(c, d, isBinary);
    return '100 echoes in order';
  }));

  for (const [code, reason] of [[1000, 'normal'], [3000, 'library code'], [4999, 'private code, reason ✓']]) {
    await check(`close ${code} + reason: code echoed (RFC 6455 §5.5.1, §7.4)`, async () => {
      const c = await open({});
      try {
        c.ws.close(code, reason);
        const got = await c.closed();
        assert(got.code === code, `server closed with ${got.code} "${got.reason}", want ${code}`);
        // §5.5.1: the reply "typically echos the status code"; echoing the reason is optional,
        // but anything other than our reason or none would be wrong.
        assert(got.reason === reason || got.reason === '', `server close reason "${got.reason}", want "${reason}" or none`);
        return `server answered ${got.code}, ${got.reason ? `reason "${got.reason}" echoed` : 'without a reason (allowed)'}`;
      } finally {
        c.ws.terminate();
      }
    });
  }

  await check('close without status code (RFC 6455 §7.1.5: reported as 1005)', async () => {
    const c = await open({});
    try {
      c.ws.close();
      const got = await c.closed();
      assert(got.code === 1005 || got.code === 1000, `server closed with ${got.code}, want an empty close (1005) or 1000`);
      return `server answered ${got.code === 1005 ? 'an empty close frame (1005)' : '1000'}`;
    } finally {
      c.ws.terminate();
    }
  });

  // Invalid close codes: ws refuses to send them, so these go over a raw socket.
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]) {
    await check(`invalid close code ${code} → 1002 (RFC 6455 §7.4.1, §7.4.2)`, () => expectServerClose(closePayload(code, 'bad'), 1002));
  }
  await check('1-byte close payload → 1002 (RFC 6455 §5.5.1)', () => expectServerClose(Buffer.from([0x03]), 1002));
  await check('close reason not UTF-8 → 1007 (RFC 6455 §5.5.1, §8.1)', () =>
    expectServerClose(closePayload(1000, Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xff, 0xfe])), 1007));

  // permessage-deflate (RFC 7692).
  const deflateOpts = { perMessageDeflate: { threshold: 0 } };
  const wantDeflate = async (c) => {
    const ext = c.ws.extensions;
    if (expectNoDeflate) {
      assert(!/permessage-deflate/.test(ext), `server runs with -deflate=false but negotiated "${ext}"`);
      throw new Skip('server started with -deflate=false (WS_EXPECT_DEFLATE=0): not negotiated, as expected');
    }
    if (!/permessage-deflate/.test(ext)) {
      if (requireDeflate) throw new Error(`permessage-deflate offered but not negotiated (extensions "${ext}") and WS_REQUIRE_DEFLATE=1`);
      throw new Skip(`deflate-not-negotiated: server declined permessage-deflate (extensions "${ext}"); set WS_REQUIRE_DEFLATE=1 to make this a failure`);
    }
    return ext;
  };

  if (expectNoDeflate) {
    await check('deflate offered to a -deflate=false server is declined (RFC 7692 §5)', () => withConn(deflateOpts, async (c) => {
      assert(!/permessage-deflate/.test(c.ws.extensions), `negotiated "${c.ws.extensions}"`);
      c.ws.send('still works');
      await expectEcho(c, 'still works', false);
      return 'extensions empty, echo uncompressed';
    }));
  } else {
    await check('deflate on: negotiated, text and binary echo (RFC 7692 §7)', () => withConn(deflateOpts, async (c) => {
      const ext = await wantDeflate(c);
      const s = 'compress me '.repeat(100);
      c.ws.send(s);
      await expectEcho(c, s, false);
      const b = crypto.randomBytes(5000);
      c.ws.send(b);
      await expectEcho(c, b, true);
      c.ws.send('');
      await expectEcho(c, '', false);
      return `extensions "${ext}", params ${JSON.stringify(c.deflateParams())}`;
    }));

    await check('deflate on: 1 MiB compressible text is compressed both ways', () => withConn(deflateOpts, async (c) => {
      await wantDeflate(c);
      const s = 'The quick brown fox jumps over the lazy dog. '.repeat(23302).slice(0, 1 << 20);
      const r0 = c.bytesRead(), w0 = c.bytesWritten();
      c.ws.send(s);
      await expectEcho(c, s, false);
      const read = c.bytesRead() - r0, written = c.bytesWritten() - w0;
      if (read > (1 << 19)) {
        const msg = `server negotiated deflate but its 1 MiB echo took ${read} bytes on the wire (uncompressed)`;
        if (requireDeflate) throw new Error(msg);
        throw new Skip(`deflate-not-compressing: ${msg}`);
      }
      return `1 MiB sent in ${written} wire bytes, echo received in ${read} wire bytes`;
    }), 60000);

    await check('deflate on: context takeover across 50 messages', () => withConn(deflateOpts, async (c) => {
      await wantDeflate(c);
      for (let i = 0; i < 50; i++) {
        const s = `repeated message body number ${i % 5} `.repeat(20);
        c.ws.send(s);
        await expectEcho(c, s, false);
      }
      return '50 echoes decoded with a shared LZ77 window';
    }));

    await check('deflate on: fragmented compressed message (RFC 7692 §6.1)', () => withConn(deflateOpts, async (c) => {
      await wantDeflate(c);
      const parts = ['first part, ', 'second part, ', 'third part ✓'.repeat(50)];
      for (let i = 0; i < parts.length; i++) await sendP(c.ws, parts[i], { fin: i === parts.length - 1 });
      await expectEcho(c, parts.join(''), false);
      return '3 frames, RSV1 on the first, echoed as one message';
    }));

    await check('deflate on: no_context_takeover and max_window_bits=10 offered (RFC 7692 §7.1)', () =>
      withConn({ perMessageDeflate: { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 10 } }, async (c) => {
        const ext = c.ws.extensions;
        if (!/permessage-deflate/.test(ext)) {
          // Declining an offer whose parameters it cannot honour is allowed (RFC 7692 §7.1.2.1),
          // so unlike the plain offer this is not a failure even with WS_REQUIRE_DEFLATE=1.
          c.ws.send('plain');
          await expectEcho(c, 'plain', false);
          throw new Skip(`deflate-params-declined: server declined this offer (extensions "${ext}"); allowed by RFC 7692 §7.1.2.1`);
        }
        for (let i = 0; i < 10; i++) {
          const s = `no context takeover ${i} `.repeat(200);
          c.ws.send(s);
          await expectEcho(c, s, false);
        }
        return `extensions "${ext}", params ${JSON.stringify(c.deflateParams())}, 10 echoes`;
      }));
  }

  await check('deflate off: client offers nothing, server sends no RSV1 frames', () => withConn({ perMessageDeflate: false }, async (c) => {
    assert(c.ws.extensions === '', `negotiated "${c.ws.extensions}" though nothing was offered`);
    const s = 'a'.repeat(65536);
    const r0 = c.bytesRead();
    c.ws.send(s);
    await expectEcho(c, s, false);
    const read = c.bytesRead() - r0;
    assert(read >= 65536, `echo of 64 KiB took only ${read} bytes on the wire`);
    return `64 KiB echo took ${read} wire bytes (uncompressed)`;
  }));

  console.log(`${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  process.exit(counts.failed > 0 ? 1 : 0);
}

main().catch((err) => {
  console.log(`FAIL ws-client crashed: ${err && err.stack ? err.stack : err}`);
  console.log(`${counts.passed} passed, ${counts.failed + 1} failed, ${counts.skipped} skipped`);
  process.exit(1);
});
