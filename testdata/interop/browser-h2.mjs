// browser-h2.mjs URL URL_NO_DEFLATE URL_HTTP1 SCREENSHOT.png: WebSockets over HTTP/2 (RFC 8441) in
// headless Chromium, against three `wsecho -tls auto` servers: URL with permessage-deflate (the
// default), URL_NO_DEFLATE started with -deflate=false (Chromium always offers the extension; that
// server declines it, RFC 7692 §5), and URL_HTTP1 started with -http2=false, where page and
// WebSocket must both be HTTP/1.1 (and still work).
//
//   node browser-h2.mjs https://127.0.0.1:PORT1/ https://127.0.0.1:PORT2/ https://127.0.0.1:PORT3/ /tmp/wsecho-http2.png
//
// Uses the system Chromium ($CHROMIUM or /usr/bin/chromium) through playwright-core, never a
// downloaded browser, with --ignore-certificate-errors for the self-signed certificate. For each
// server: the page loads over HTTP/2 (nextHopProtocol "h2"), its WebSocket goes over HTTP/2 (the
// page's "HTTP" row, from the server's /conninfo, says HTTP/2.0 and CONNECT :protocol=websocket),
// text, binary and 1 MiB messages echo, compressed or not as negotiated, and a close with 4001 +
// reason is echoed. Then the page's "Open 10" opens 10 WebSockets at once: against the first
// server all on the page's one HTTP/2 connection, against -http2=false on 10 TLS connections of
// their own; each echoes its own messages, and socket 1 closes while the nine others go on. Saves SCREENSHOT.png (with deflate), SCREENSHOT-nodeflate.png and SCREENSHOT-http1.png.
// Prints one line per check and a final "N passed, M failed" line; exits 1 if any check failed.
// The Go test (cmd/wsecho/interop_test.go) also checks the servers' request logs.

import fs from 'node:fs';
import { assert, check, runBrowser, stepTimeout } from './lib/browser.mjs';

const [urlDeflate, urlPlain, urlHTTP1, shotPath] = process.argv.slice(2);
if (!shotPath || ![urlDeflate, urlPlain, urlHTTP1].every((u) => /^https:\/\//.test(u))) {
  console.error('usage: node browser-h2.mjs https://HOST:PORT/ https://HOST:PORT2/ https://HOST:PORT3/ SCREENSHOT.png');
  process.exit(2);
}
const MiB = 1 << 20;

async function session(context, pageURL, { deflate, label, shot, mux, h2 = true }) {
  const wantHop = h2 ? 'h2' : 'http/1.1';
  const wantProto = h2 ? 'HTTP/2.0' : 'HTTP/1.1';
  const wantRequest = h2 ? 'CONNECT :protocol=websocket' : 'GET Upgrade: websocket';
  const page = await context.newPage();
  page.setDefaultTimeout(stepTimeout);
  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => { if (msg.type() === 'error') pageErrors.push(`console: ${msg.text()}`); });

  const loaded = await check(`${label}: page loads over ${wantProto}`, async () => {
    const resp = await page.goto(pageURL, { waitUntil: 'load' });
    assert(resp && resp.ok(), `HTTP ${resp ? resp.status() : 'no response'}`);
    const hop = await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
    assert(hop === wantHop, `nextHopProtocol "${hop}", want "${wantHop}"`);
    const url = await page.inputValue('#url');
    const want = `wss://${new URL(pageURL).host}/ws`;
    assert(url === want, `#url defaults to "${url}", want "${want}"`);
    return `nextHopProtocol ${hop}, #url = ${url}`;
  });
  if (!loaded) return false;

  const connected = await check(`${label}: the page's WebSocket goes over ${wantProto} (${wantRequest})`, async () => {
    await page.click('#connect');
    await page.locator('#status[data-state=open]').waitFor();
    const tr = page.locator('#transport[data-proto]');
    await tr.waitFor();
    const proto = await tr.getAttribute('data-proto');
    const request = await tr.getAttribute('data-request');
    assert(proto === wantProto, `the server says ${proto} (${request}), want ${wantProto}: ${(await tr.textContent()).trim()}`);
    assert(request === wantRequest, `request "${request}", want "${wantRequest}"`);
    const ext = (await page.textContent('#extensions')).trim();
    if (deflate) assert(/permessage-deflate/.test(ext), `extensions "${ext}", want permessage-deflate`);
    else assert(ext === 'none', `extensions "${ext}", want none (server started with -deflate=false)`);
    return `${(await tr.textContent()).trim()}; extensions: ${ext}`;
  });
  if (!connected) { await page.screenshot({ path: shot, fullPage: true }).catch(() => {}); return false; }

  await check(`${label}: text echo`, async () => {
    const text = 'Hello over HTTP/2 ✓ — héllo';
    await page.fill('#msg', text);
    await page.click('#send-text');
    const inRow = page.locator('.entry.in[data-type=text]').last();
    await inRow.waitFor();
    const preview = await inRow.locator('.preview').textContent();
    assert(preview === text, `echo "${preview}", want "${text}"`);
    assert(Number(await inRow.getAttribute('data-size')) === Buffer.byteLength(text), 'size differs');
    return `${Buffer.byteLength(text)} bytes`;
  });

  await check(`${label}: binary echo`, async () => {
    await page.fill('#hex', 'de ad be ef 00 01 7f 80 ff');
    await page.click('#send-binary');
    const inRow = page.locator('.entry.in[data-type=binary]').last();
    await inRow.waitFor();
    const preview = await inRow.locator('.preview').textContent();
    assert(preview === 'de ad be ef 00 01 7f 80 ff', `echo "${preview}"`);
    return '9 bytes';
  });

  await check(`${label}: 1 MiB random binary echo`, async () => {
    const before = await page.locator('.entry.in[data-type=binary]').count();
    await page.fill('#random-size', String(MiB));
    await page.click('#send-random');
    const inRow = page.locator('.entry.in[data-type=binary]').nth(before);
    await inRow.waitFor();
    assert(await inRow.getAttribute('data-size') === String(MiB), `echo size ${await inRow.getAttribute('data-size')}`);
    const sent = await page.locator('.entry.out[data-type=binary]').last().locator('.preview').textContent();
    const got = await inRow.locator('.preview').textContent();
    assert(sent === got, 'echo differs from what was sent');
    assert(await inRow.getAttribute('data-unmatched') === null, 'echo not matched to the sent message');
    return `${MiB} bytes, round trip ${Number(await inRow.getAttribute('data-rtt')).toFixed(1)} ms`;
  });

  await check(`${label}: 1 MiB text echo (compressible)`, async () => {
    const before = await page.locator('.entry.in[data-type=text]').count();
    // Fill the textarea in the page: page.fill would type-check 1 MiB through the protocol.
    await page.evaluate((n) => { document.getElementById('msg').value = 'WebSocket over HTTP/2. '.repeat(Math.ceil(n / 23)).slice(0, n); }, MiB);
    await page.click('#send-text');
    const inRow = page.locator('.entry.in[data-type=text]').nth(before);
    await inRow.waitFor();
    assert(await inRow.getAttribute('data-size') === String(MiB), `echo size ${await inRow.getAttribute('data-size')}`);
    assert(await inRow.getAttribute('data-unmatched') === null, 'echo not matched to the sent message');
    return `${MiB} bytes, round trip ${Number(await inRow.getAttribute('data-rtt')).toFixed(1)} ms`;
  });

  await check(`${label}: close with 4001 + reason echoed (RFC 6455 §5.5.1)`, async () => {
    const reason = `bye (${label})`;
    await page.fill('#close-code', '4001');
    await page.fill('#close-reason', reason);
    await page.click('#close');
    const row = page.locator('.entry.event[data-type=close]').last();
    await row.waitFor();
    const code = await row.getAttribute('data-code');
    const clean = await row.getAttribute('data-was-clean');
    assert(code === '4001', `close code ${code}, want 4001`);
    assert(clean === 'true', `wasClean ${clean}`);
    await page.locator('#status[data-state=closed]').waitFor();
    return `code ${code}, reason "${await row.getAttribute('data-reason')}", wasClean ${clean}`;
  });

  if (mux) {
    const title = h2
      ? `${label}: "Open 10": 10 WebSockets on the page's one HTTP/2 connection, one closing while 9 go on`
      : `${label}: "Open 10": 10 WebSockets on 10 TLS connections of their own, one closing while 9 go on`;
    await check(title, async () => {
      // Reconnect the page's own socket first, so that its connection number can be compared.
      await page.click('#connect');
      await page.locator('#status[data-state=open]').waitFor();
      await page.locator('#transport[data-conn]').waitFor();
      const pageConn = await page.getAttribute('#transport', 'data-conn');
      const t0 = performance.now();
      await page.click('#mux-open');
      // Each socket sends one message when it opens; wait for all 10 echoes and /conninfo answers.
      await page.waitForFunction(() => {
        const rows = [...document.querySelectorAll('#mux-table tbody tr')];
        return rows.length === 10 && rows.every((r) => r.dataset.echoes === '1' && r.dataset.conn);
      });
      const openMs = performance.now() - t0;
      const rows = () => page.$$eval('#mux-table tbody tr', (rs) => rs.map((r) => ({ ...r.dataset })));
      const first = await rows();
      assert(first.every((r) => r.state === 'open' && r.proto === wantProto), `rows ${JSON.stringify(first)}, want all open over ${wantProto}`);
      const conns = new Set(first.map((r) => r.conn));
      if (h2) assert(conns.size === 1 && conns.has(pageConn), `connections ${[...conns]} (the page's socket: ${pageConn}), want one, the page's`);
      else assert(conns.size === 10 && !conns.has(pageConn), `connections ${[...conns]} (the page's socket: ${pageConn}), want 10 others`);
      const summary = await page.getAttribute('#mux-summary', 'data-conns');
      assert(summary === String(conns.size), `#mux-summary says ${summary} connections`);

      await page.click('#mux-close-one');
      await page.locator('#mux-table tr[data-index="1"][data-code]').waitFor();
      await page.click('#mux-send');
      await page.waitForFunction(() => [...document.querySelectorAll('#mux-table tbody tr')].slice(1).every((r) => r.dataset.echoes === '2'));
      const second = await rows();
      assert(second[0].state === 'closed' && second[0].code === '4002' && second[0].echoes === '1',
        `socket 1 after its close: ${JSON.stringify(second[0])}, want closed with 4002 and no more echoes`);
      assert(second.slice(1).every((r) => r.state === 'open'), `the 9 others: ${JSON.stringify(second.slice(1))}, want all open`);
      assert(await page.getAttribute('#mux-summary', 'data-open') === '9', 'summary does not say 9 open');
      return `${(await page.textContent('#mux-summary')).trim()}; socket 1 closed 4002, the 9 others echoed again; ` +
        `10 opened, echoed once and looked up in ${openMs.toFixed(0)} ms (one sample, as seen from the test)`;
    });
    await check(`${label}: the page's socket still echoes`, async () => {
      const before = await page.locator('.entry.in[data-type=text]').count();
      await page.fill('#msg', 'still here after the 10');
      await page.click('#send-text');
      await page.locator('.entry.in[data-type=text]').nth(before).waitFor();
      return '';
    });
  }

  await check(`${label}: no script errors on the page`, async () => {
    assert(pageErrors.length === 0, pageErrors.join(' | '));
    return '';
  });

  await check(`${label}: full-page screenshot saved`, async () => {
    await page.locator('#log').evaluate((el) => { el.style.maxHeight = 'none'; });
    await page.screenshot({ path: shot, fullPage: true });
    const st = fs.statSync(shot);
    assert(st.size > 1000, `screenshot is only ${st.size} bytes`);
    return `${shot} (${st.size} bytes)`;
  });
  await page.close();
  return true;
}

async function main(context) {
  console.log(`pages: ${urlDeflate} (permessage-deflate), ${urlPlain} (-deflate=false), ${urlHTTP1} (-http2=false)`);
  const ok = await session(context, urlDeflate, { deflate: true, label: 'deflate', shot: shotPath, mux: true });
  const ok2 = await session(context, urlPlain, { deflate: false, label: 'no deflate', shot: shotPath.replace(/(\.png)?$/i, '-nodeflate.png'), mux: false });
  const ok3 = await session(context, urlHTTP1, { deflate: true, label: '-http2=false', shot: shotPath.replace(/(\.png)?$/i, '-http1.png'), mux: true, h2: false });
  return !(ok && ok2 && ok3);
}

await runBrowser({ profilePrefix: 'ws6455-chromium-h2-', viewport: { width: 1280, height: 900 }, extraArgs: ['--ignore-certificate-errors'] }, main);
