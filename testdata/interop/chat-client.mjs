// chat-client.mjs URL: drives the cmd/wschat relay (relay.Hub, package server/relay) with Node's `ws` library.
//
//   node chat-client.mjs ws://127.0.0.1:PORT/ws
//
// Several ws clients talk through the relay: welcome and id format, messages with acks and
// refs, order per sender and recipient (500 messages, and two senders interleaved), Unicode,
// every kind of bad request answered with an error while the connection stays open, presence
// (list, join, leave), a recipient that vanishes without a close frame, and the close of a
// client. CHAT_EXPECT_DEFLATE=1 also requires permessage-deflate to be negotiated (RFC 7692).
// Prints one line per check and a final "N passed, M failed" line; exits 1 if any check failed.

import WebSocket from 'ws';

const url = process.argv[2];
if (!url || !/^wss?:\/\//.test(url)) {
  console.error('usage: node chat-client.mjs ws://HOST:PORT/ws');
  process.exit(2);
}
const stepTimeout = Number(process.env.CHAT_STEP_TIMEOUT_MS || 10000);
const expectDeflate = process.env.CHAT_EXPECT_DEFLATE === '1';

const counts = { passed: 0, failed: 0 };
const open = new Set();

async function check(name, fn) {
  const start = performance.now();
  try {
    const detail = await fn();
    counts.passed++;
    console.log(`PASS ${name}${detail ? `: ${detail}` : ''} (${(performance.now() - start).toFixed(0)} ms)`);
  } catch (err) {
    counts.failed++;
    console.log(`FAIL ${name}: ${String(err && err.message ? err.message : err).split('\n')[0]}`);
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// Client: a ws connection whose envelopes are read in order with next().
class Client {
  static async connect(name) {
    const c = new Client(name);
    await c.ready;
    return c;
  }

  constructor(name) {
    this.name = name;
    this.queue = [];
    this.waiters = [];
    this.closed = null;
    this.ws = new WebSocket(url, { perMessageDeflate: true });
    open.add(this);
    this.ready = new Promise((resolve, reject) => {
      this.ws.once('error', reject);
      this.ws.once('open', async () => {
        try {
          const w = await this.next();
          assert(w.type === 'welcome', `${name}: first envelope ${JSON.stringify(w)}, want welcome`);
          this.id = w.id;
          this.welcome = w;
          resolve();
        } catch (err) {
          reject(err);
        }
      });
    });
    this.ws.on('message', (data, isBinary) => {
      let e;
      try {
        e = JSON.parse(data.toString('utf8'));
      } catch {
        e = { type: '__not_json__', raw: data.toString('utf8') };
      }
      if (isBinary) e = { type: '__binary__' };
      this.queue.push(e);
      this.wake();
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      open.delete(this);
      this.wake();
    });
    this.ws.on('error', () => {});
  }

  wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  // next returns the next envelope (skipping presence events unless keepPresence).
  async next({ keepPresence = false, timeout = stepTimeout } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
      while (this.queue.length) {
        const e = this.queue.shift();
        if (!keepPresence && (e.type === 'join' || e.type === 'leave')) continue;
        return e;
      }
      if (this.closed) throw new Error(`${this.name}: connection closed (${this.closed.code} ${this.closed.reason})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no envelope within ${timeout} ms`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  close(code) {
    return new Promise((resolve) => {
      if (this.closed) return resolve(this.closed);
      this.ws.once('close', () => resolve(this.closed));
      this.ws.close(code);
    });
  }
}

async function main() {
  let a, b;
  await check('connect two clients; welcome with a server-chosen id', async () => {
    [a, b] = await Promise.all([Client.connect('A'), Client.connect('B')]);
    for (const c of [a, b]) {
      assert(/^[A-Za-z0-9_-]{22}$/.test(c.id), `id ${c.id} is not 22 base64url characters`);
      assert(Number.isInteger(c.welcome.max_message) && c.welcome.max_message > 0, `max_message ${c.welcome.max_message}`);
    }
    assert(a.id !== b.id, 'two clients got the same id');
    const ext = a.ws.extensions || '';
    if (expectDeflate) assert(/permessage-deflate/.test(ext), `extensions "${ext}", want permessage-deflate`);
    return `A=${a.id} B=${b.id}, max_message ${a.welcome.max_message}, extensions "${ext}"`;
  });
  if (!a || !b) return;

  await check('A sends to B: B gets it from A, A gets an ack with its ref', async () => {
    a.send({ to: b.id, ref: 'first', message: 'hello B' });
    const m = await b.next();
    assert(m.type === 'message' && m.from === a.id && m.message === 'hello B', `B got ${JSON.stringify(m)}`);
    assert(!('ref' in m), 'the recipient sees the sender\'s ref');
    const ack = await a.next();
    assert(ack.type === 'ack' && ack.ref === 'first' && ack.to === b.id, `A got ${JSON.stringify(ack)}`);
    return 'message + ack';
  });

  await check('Unicode survives the relay', async () => {
    const text = 'héllo ✓ 🚀 שלום \u2028 "quoted" \\ back';
    a.send({ to: b.id, ref: 2, message: text });
    const m = await b.next();
    assert(m.message === text, `got ${JSON.stringify(m.message)}`);
    const ack = await a.next();
    assert(ack.type === 'ack' && ack.ref === 2, JSON.stringify(ack));
    return `${Buffer.byteLength(text)} bytes`;
  });

  // burst: each sender sends n messages to recipient as fast as it can. Every message must get
  // exactly one answer: an ack, or recipient_slow when the recipient's queue was full (the
  // relay refuses rather than blocks). The recipient must get exactly the acked messages, in
  // the order each sender sent them.
  async function burst(senders, recipient, n) {
    for (let i = 0; i < n; i++) {
      for (const s of senders) s.send({ to: recipient.id, ref: i, message: `${s.name}${i}` });
    }
    const acked = new Map();
    let slow = 0;
    for (const s of senders) {
      const answers = new Map();
      while (answers.size < n) {
        const e = await s.next();
        assert(e.type === 'ack' || (e.type === 'error' && e.code === 'recipient_slow'), `${s.name} got ${JSON.stringify(e)}`);
        assert(Number.isInteger(e.ref) && e.ref >= 0 && e.ref < n && !answers.has(e.ref), `${s.name}: unexpected or second answer for ref ${e.ref}`);
        answers.set(e.ref, e.type);
      }
      const ok = [...answers].filter(([, t]) => t === 'ack').map(([ref]) => `${s.name}${ref}`).sort((x, y) => Number(x.slice(s.name.length)) - Number(y.slice(s.name.length)));
      slow += n - ok.length;
      acked.set(s.id, ok);
    }
    const total = [...acked.values()].reduce((k, v) => k + v.length, 0);
    const got = new Map(senders.map((s) => [s.id, []]));
    for (let i = 0; i < total; i++) {
      const m = await recipient.next();
      assert(m.type === 'message' && got.has(m.from), `recipient got ${JSON.stringify(m)}`);
      got.get(m.from).push(m.message);
    }
    for (const s of senders) {
      const want = acked.get(s.id), have = got.get(s.id);
      assert(JSON.stringify(have) === JSON.stringify(want),
        `from ${s.name}: received ${have.length} (${have.slice(0, 3)}…), acked ${want.length} (${want.slice(0, 3)}…): not the same messages in the same order`);
    }
    return `${total} delivered in order, ${slow} refused with recipient_slow`;
  }

  await check('500 messages A→B: one answer each; B gets exactly the acked ones, in order', async () => {
    return burst([a], b, 500);
  });

  await check('two senders interleaved to one recipient: each in order', async () => {
    const c = await Client.connect('C');
    const detail = await burst([a, c], b, 200);
    await c.close();
    return detail;
  });

  const unknown = 'AAAAAAAAAAAAAAAAAAAAAA';
  const bad = [
    ['malformed JSON', '{"to": "x", "message": ', 'bad_request', undefined, 'invalid JSON'],
    ['not an object', '[1,2,3]', 'bad_request', undefined, 'JSON object'],
    ['"to" is a number', { to: 5, message: 'x', ref: 'r1' }, 'bad_request', 'r1', '"to" must be a string'],
    ['"message" is an object', { to: unknown, message: { a: 1 }, ref: 'r2' }, 'bad_request', 'r2', '"message" must be a string'],
    ['missing "message"', { to: unknown, ref: 'r3' }, 'bad_request', 'r3', 'missing "message"'],
    ['unknown field', { to: unknown, message: 'x', colour: 'red', ref: 'r4' }, 'bad_request', 'r4', 'unknown field "colour"'],
    ['unknown type', { type: 'shout', ref: 'r5' }, 'bad_request', 'r5', 'unknown "type"'],
    ['unknown recipient', { to: unknown, message: 'x', ref: 'r6' }, 'unknown_recipient', 'r6', 'no connected client'],
  ];
  for (const [name, req, code, ref, says] of bad) {
    await check(`error, connection kept: ${name} → ${code}`, async () => {
      a.send(req);
      const e = await a.next();
      assert(e.type === 'error' && e.code === code && e.ref === ref && e.error.includes(says),
        `got ${JSON.stringify(e)}, want code ${code} ref ${ref} saying "${says}"`);
      a.send({ to: b.id, ref: 'ok', message: `after ${name}` });
      const m = await b.next();
      assert(m.message === `after ${name}`, `B got ${JSON.stringify(m)}`);
      const ack = await a.next();
      assert(ack.type === 'ack' && ack.ref === 'ok', `A got ${JSON.stringify(ack)}`);
      return e.error;
    });
  }

  await check('binary message → bad_request, connection kept', async () => {
    a.ws.send(Buffer.from('{"to":"x","message":"y"}'), { binary: true });
    const e = await a.next();
    assert(e.type === 'error' && e.code === 'bad_request' && /binary/.test(e.error), JSON.stringify(e));
    a.send({ type: 'list', ref: 'still-here' });
    const l = await a.next();
    assert(l.type === 'online' && l.ref === 'still-here', JSON.stringify(l));
    return e.error;
  });

  await check('message over max_message → too_large with the ref, connection kept', async () => {
    const big = 'x'.repeat(a.welcome.max_message + 10);
    a.send(`{"to":"${b.id}","ref":"big","message":"${big}"}`);
    const e = await a.next();
    assert(e.type === 'error' && e.code === 'too_large' && e.ref === 'big', JSON.stringify(e).slice(0, 200));
    a.send({ to: b.id, ref: 'small', message: 'small one' });
    assert((await b.next()).message === 'small one', 'B did not get the next message');
    assert((await a.next()).ref === 'small', 'A did not get the ack of the next message');
    return e.error;
  });

  await check('presence: list, join and leave events', async () => {
    a.send({ type: 'list', watch: true, ref: 'p' });
    const l = await a.next();
    assert(l.type === 'online' && l.ref === 'p' && l.ids.includes(b.id) && !l.ids.includes(a.id), JSON.stringify(l));
    const d = await Client.connect('D');
    let e = await a.next({ keepPresence: true });
    assert(e.type === 'join' && e.id === d.id, `got ${JSON.stringify(e)}, want join of D`);
    await d.close(1000);
    e = await a.next({ keepPresence: true });
    assert(e.type === 'leave' && e.id === d.id, `got ${JSON.stringify(e)}, want leave of D`);
    a.send({ to: d.id, ref: 'gone', message: 'are you there?' });
    e = await a.next();
    assert(e.type === 'error' && e.code === 'unknown_recipient' && e.ref === 'gone', JSON.stringify(e));
    return `online ${l.ids.length}; join, leave, then unknown_recipient`;
  });

  await check('a recipient that vanishes without a close frame is reported as left', async () => {
    const v = await Client.connect('V');
    let e = await a.next({ keepPresence: true });
    assert(e.type === 'join' && e.id === v.id, JSON.stringify(e));
    v.ws.terminate(); // TCP gone, no close frame (RFC 6455 §7.1.5: 1006 on the relay's side)
    e = await a.next({ keepPresence: true });
    assert(e.type === 'leave' && e.id === v.id, `got ${JSON.stringify(e)}, want leave of V`);
    a.send({ to: v.id, ref: 'v', message: 'x' });
    e = await a.next();
    assert(e.code === 'unknown_recipient', JSON.stringify(e));
    return 'leave event, then unknown_recipient';
  });

  await check('close handshake: A closes with 1000 and gets 1000 back (RFC 6455 §7.4.1)', async () => {
    const res = await a.close(1000);
    assert(res.code === 1000, `close code ${res.code}`);
    const res2 = await b.close(4000);
    assert(res2.code === 4000, `close code ${res2.code} for 4000`);
    return `A ${res.code}, B ${res2.code}`;
  });
}

try {
  await main();
} catch (err) {
  counts.failed++;
  console.log(`FAIL chat client run: ${String(err && err.message ? err.message : err).split('\n')[0]}`);
} finally {
  for (const c of open) c.ws.terminate();
}
console.log(`${counts.passed} passed, ${counts.failed} failed`);
process.exit(counts.failed > 0 ? 1 : 0);
