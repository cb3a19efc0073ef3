// browser.mjs URL SCREENSHOT.png: drives the wsecho playground page in headless Chromium.
//
//   node browser.mjs http://127.0.0.1:PORT/ /tmp/playground.png
//
// Uses the system Chromium ($CHROMIUM or /usr/bin/chromium) through playwright-core; it never
// downloads a browser. Opens the page, connects, sends text and binary through the page's own
// controls, checks the echoes shown in the log, closes with 4001 + reason and checks the close
// shown, then saves a full-page screenshot (and SCREENSHOT-mobile.png at a phone's width).
// Prints one line per check and a final "N passed, M failed" line; exits 1 if any check failed.

import fs from 'node:fs';
import { assert, check, runBrowser, stepTimeout } from './lib/browser.mjs';

const [pageURL, shotPath] = process.argv.slice(2);
if (!pageURL || !shotPath || !/^https?:\/\//.test(pageURL)) {
  console.error('usage: node browser.mjs http://HOST:PORT/ SCREENSHOT.png');
  process.exit(2);
}
async function main(context) {
  console.log(`page: ${pageURL}`);
  const page = await context.newPage();
  page.setDefaultTimeout(stepTimeout);
  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => { if (msg.type() === 'error') pageErrors.push(`console: ${msg.text()}`); });

  const loaded = await check('page loads (GET / serves the playground)', async () => {
    const resp = await page.goto(pageURL, { waitUntil: 'load' });
    assert(resp && resp.ok(), `HTTP ${resp ? resp.status() : 'no response'}`);
    const ctype = resp.headers()['content-type'] || '';
    assert(/text\/html/.test(ctype), `Content-Type "${ctype}", want text/html`);
    await page.locator('#connect').waitFor();
    const url = await page.inputValue('#url');
    const want = `ws://${new URL(pageURL).host}/ws`;
    assert(url === want, `#url defaults to "${url}", want "${want}"`);
    return `title "${await page.title()}", #url = ${url}`;
  });
  if (!loaded) return true;

  const connected = await check('connect via the page (#connect → #status open)', async () => {
    await page.click('#connect');
    await page.locator('#status[data-state=open]').waitFor();
    await page.locator('.entry.event[data-type=open]').waitFor();
    const ext = (await page.textContent('#extensions')).trim();
    const proto = (await page.textContent('#protocol')).trim();
    const states = await page.locator('#states li').allTextContents();
    assert(states.length >= 2, `readyState transitions shown: ${JSON.stringify(states)}`);
    // ws:// is always HTTP/1.1; the page asks the server (GET /conninfo) and shows it.
    const tr = page.locator('#transport[data-proto]');
    await tr.waitFor();
    const http = await tr.getAttribute('data-proto');
    assert(http === 'HTTP/1.1', `the page says the WebSocket went over ${http}, want HTTP/1.1`);
    return `protocol: ${proto}; extensions: ${ext}; ${(await page.textContent('#compression')).trim()}; ${(await tr.textContent()).trim()}`;
  });
  if (!connected) { await page.screenshot({ path: shotPath, fullPage: true }).catch(() => {}); return true; }

  await check('text echo shown in the log', async () => {
    const text = 'Hello from Chromium ✓ — héllo';
    await page.fill('#msg', text);
    await page.click('#send-text');
    const out = page.locator('.entry.out[data-type=text]').last();
    const inRow = page.locator('.entry.in[data-type=text]').last();
    await inRow.waitFor();
    const preview = await inRow.locator('.preview').textContent();
    assert(preview === text, `echo preview "${preview}", want "${text}"`);
    const size = Number(await inRow.getAttribute('data-size'));
    const want = Buffer.byteLength(text);
    assert(size === want, `echo size ${size}, want ${want}`);
    const rtt = await inRow.getAttribute('data-rtt');
    assert(rtt !== null && Number(rtt) >= 0, `no round-trip time on the echo row (data-rtt=${rtt})`);
    await page.locator('.entry.out[data-type=text][data-echoed=true]').last().waitFor();
    assert(await out.getAttribute('data-echoed') === 'true', 'sent row not marked as echoed');
    return `${size} bytes, round trip ${Number(rtt).toFixed(1)} ms`;
  });

  await check('binary (hex) echo shown in the log', async () => {
    await page.fill('#hex', 'de ad be ef 00 01 7f 80 ff');
    await page.click('#send-binary');
    const inRow = page.locator('.entry.in[data-type=binary]').last();
    await inRow.waitFor();
    const preview = await inRow.locator('.preview').textContent();
    assert(preview === 'de ad be ef 00 01 7f 80 ff', `echo preview "${preview}"`);
    assert(await inRow.getAttribute('data-size') === '9', `echo size ${await inRow.getAttribute('data-size')}, want 9`);
    assert(await inRow.getAttribute('data-rtt') !== null, 'no round-trip time on the echo row');
    return `9 bytes, preview "${preview}"`;
  });

  await check('random binary (64 KiB) echo matched by size', async () => {
    const before = await page.locator('.entry.in[data-type=binary]').count();
    await page.fill('#random-size', '65536');
    await page.click('#send-random');
    await page.locator('.entry.in[data-type=binary]').nth(before).waitFor();
    const inRow = page.locator('.entry.in[data-type=binary]').nth(before);
    assert(await inRow.getAttribute('data-size') === '65536', `echo size ${await inRow.getAttribute('data-size')}`);
    const sentPreview = await page.locator('.entry.out[data-type=binary]').last().locator('.preview').textContent();
    const gotPreview = await inRow.locator('.preview').textContent();
    assert(sentPreview === gotPreview, `echo hex "${gotPreview.slice(0, 40)}" differs from sent "${sentPreview.slice(0, 40)}"`);
    return '65536 bytes, same leading bytes as sent';
  });

  await check('a few more text messages, all echoed in order', async () => {
    const before = await page.locator('.entry.in[data-type=text]').count();
    const msgs = ['one', 'two', 'three'];
    for (const m of msgs) {
      await page.fill('#msg', m);
      await page.click('#send-text');
    }
    await page.locator('.entry.in[data-type=text]').nth(before + msgs.length - 1).waitFor();
    const got = await page.locator('.entry.in[data-type=text] .preview').allTextContents();
    assert(JSON.stringify(got.slice(before)) === JSON.stringify(msgs), `echoes ${JSON.stringify(got.slice(before))}`);
    const unmatched = await page.locator('.entry.in[data-unmatched]').count();
    assert(unmatched === 0, `${unmatched} echo rows could not be matched to a sent message`);
    return `${msgs.join(', ')}`;
  });

  await check('close with code 4001 + reason shown (RFC 6455 §7.4.2)', async () => {
    const reason = 'bye from Chromium';
    await page.fill('#close-code', '4001');
    await page.fill('#close-reason', reason);
    await page.click('#close');
    const row = page.locator('.entry.event[data-type=close]').last();
    await row.waitFor();
    const code = await row.getAttribute('data-code');
    const gotReason = await row.getAttribute('data-reason');
    const clean = await row.getAttribute('data-was-clean');
    assert(code === '4001', `close event code ${code}, want 4001`);
    // The reply must carry our code (RFC 6455 §5.5.1); echoing the reason is optional.
    assert(gotReason === reason || gotReason === '', `close event reason "${gotReason}", want "${reason}" or none`);
    assert(clean === 'true', `wasClean ${clean}, want true`);
    await page.locator('#status[data-state=closed]').waitFor();
    return `code ${code}, reason ${gotReason ? `"${gotReason}" echoed` : 'not echoed (allowed)'}, wasClean ${clean}`;
  });

  await check('reconnect, then Disconnect (close without code)', async () => {
    await page.click('#connect');
    await page.locator('#status[data-state=open]').waitFor();
    await page.click('#disconnect');
    await page.locator('#status[data-state=closed]').waitFor();
    const row = page.locator('.entry.event[data-type=close]').last();
    const code = await row.getAttribute('data-code');
    assert(code === '1005' || code === '1000', `close event code ${code}, want 1005 (empty close echoed) or 1000`);
    return `close event code ${code}, wasClean ${await row.getAttribute('data-was-clean')}`;
  });

  await check('no script errors on the page', async () => {
    assert(pageErrors.length === 0, pageErrors.join(' | '));
    return '';
  });

  await check('full-page screenshot saved', async () => {
    // Let the log grow to its full height so that the whole session is in the picture.
    await page.locator('#log').evaluate((el) => { el.style.maxHeight = 'none'; });
    await page.screenshot({ path: shotPath, fullPage: true });
    const st = fs.statSync(shotPath);
    assert(st.size > 1000, `screenshot is only ${st.size} bytes`);
    return `${shotPath} (${st.size} bytes)`;
  });

  await check('phone-width layout (390 px): no horizontal scrolling', async () => {
    const p = await context.newPage();
    await p.setViewportSize({ width: 390, height: 844 });
    p.setDefaultTimeout(stepTimeout);
    await p.goto(pageURL, { waitUntil: 'load' });
    await p.click('#connect');
    await p.locator('#status[data-state=open]').waitFor();
    await p.fill('#msg', 'hi from a phone');
    await p.click('#send-text');
    await p.locator('.entry.in[data-type=text]').waitFor();
    await p.click('#send-binary');
    await p.locator('.entry.in[data-type=binary]').waitFor();
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    const mobileShot = shotPath.replace(/(\.png)?$/i, '-mobile.png');
    await p.screenshot({ path: mobileShot, fullPage: true });
    await p.click('#close');
    await p.locator('#status[data-state=closed]').waitFor();
    await p.close();
    assert(overflow <= 0, `page is ${overflow}px wider than the screen`);
    return `screenshot ${mobileShot}`;
  });

}

await runBrowser({ profilePrefix: 'ws6455-chromium-', viewport: { width: 1280, height: 900 } }, main);
