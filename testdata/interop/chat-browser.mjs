// chat-browser.mjs URL SCREENSHOT.png [URL_B]: two headless Chromium tabs chat through cmd/wschat.
//
//   node chat-browser.mjs http://127.0.0.1:PORT/ /tmp/wschat.png
//   node chat-browser.mjs http://127.0.0.1:PORT1/ /tmp/wschat.png http://127.0.0.1:PORT2/
//
// With URL_B, tab B loads its page from that server: another node of the same relay (wschat
// -nats), so every check below then crosses nodes.
//
// Uses the system Chromium ($CHROMIUM or /usr/bin/chromium) through playwright-core; it never
// downloads a browser. Tab A and tab B load the chat page and get their ids; A picks B from the
// Online list, B pastes A's id; they exchange messages typed into the page and each sent message
// must show "delivered". A message to an id nobody has shows why it failed. The two tabs are then
// saved side by side in one screenshot (SCREENSHOT.png); finally B's tab closes and A must see B
// leave. Prints one line per check and a final "N passed, M failed" line; exits 1 if any failed.

import fs from 'node:fs';
import { assert, check, runBrowser, stepTimeout } from './lib/browser.mjs';

const [pageURL, shotPath, pageURLB = pageURL] = process.argv.slice(2);
if (!pageURL || !shotPath || !/^https?:\/\//.test(pageURL) || !/^https?:\/\//.test(pageURLB)) {
  console.error('usage: node chat-browser.mjs http://HOST:PORT/ SCREENSHOT.png [http://HOST:PORT2/]');
  process.exit(2);
}
let context;

// openTab loads the chat page and waits for the relay's welcome.
async function openTab(name, url, errors) {
  const page = await context.newPage();
  page.setDefaultTimeout(stepTimeout);
  page.on('pageerror', (err) => errors.push(`${name}: ${err.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`${name} console: ${msg.text()}`); });
  const resp = await page.goto(url, { waitUntil: 'load' });
  assert(resp && resp.ok(), `HTTP ${resp ? resp.status() : 'no response'}`);
  await page.locator('#status[data-state=open]').waitFor();
  const id = (await page.textContent('#my-id')).trim();
  assert(/^[A-Za-z0-9_-]{22}$/.test(id), `${name}: #my-id is "${id}", want a 22-character id`);
  return { page, id };
}

// sendFrom types text into the page and sends it (Enter, or the Send button).
async function sendFrom(tab, text, { button = false } = {}) {
  const before = await tab.page.locator('.row.out').count();
  await tab.page.fill('#msg', text);
  if (button) await tab.page.click('#send');
  else await tab.page.press('#msg', 'Enter');
  const row = tab.page.locator('.row.out').nth(before);
  await row.waitFor();
  return row;
}

// settled waits until this row (not merely some row) has the status.
async function settled(tab, row, status) {
  await row.and(tab.page.locator(`.row.out[data-status=${status}]`)).waitFor();
}

async function main(ctx) {
  context = ctx;
  console.log(pageURLB === pageURL ? `page: ${pageURL}` : `page: A ${pageURL}, B ${pageURLB}`);
  const errors = [];
  let a, b;

  const ready = await check('two tabs load the page and get different ids', async () => {
    a = await openTab('A', pageURL, errors);
    b = await openTab('B', pageURLB, errors);
    assert(a.id !== b.id, 'both tabs got the same id');
    return `A=${a.id} B=${b.id}`;
  });
  if (!ready) return true;

  await check('A sees B in the Online list and picks it', async () => {
    const item = a.page.locator(`#online button[data-id="${b.id}"]`);
    await item.waitFor();
    await item.click();
    const peer = await a.page.inputValue('#peer');
    assert(peer === b.id, `#peer is "${peer}" after picking B`);
    return `online: ${(await a.page.textContent('#online-count')).trim()}`;
  });

  await check('B pastes A\'s id', async () => {
    await b.page.fill('#peer', a.id);
    await b.page.locator(`#online button.picked[data-id="${a.id}"]`).waitFor();
    return 'picked in the list too';
  });

  await check('A → B: shown at B from A, "delivered" at A', async () => {
    const text = 'Hello from tab A ☺ — héllo';
    const row = await sendFrom(a, text);
    await settled(a, row, 'delivered');
    assert(await row.getAttribute('data-status') === 'delivered', `status ${await row.getAttribute('data-status')}`);
    const inRow = b.page.locator(`.row.in[data-from="${a.id}"]`).last();
    await inRow.waitFor();
    const got = await inRow.locator('.text').textContent();
    assert(got === text, `B shows "${got}"`);
    return `status "${(await row.locator('.state').textContent()).trim()}"`;
  });

  await check('B → A with the Send button: shown at A, "delivered" at B', async () => {
    const text = 'Hi A! Got it, B here.';
    const row = await sendFrom(b, text, { button: true });
    await settled(b, row, 'delivered');
    assert(await row.getAttribute('data-status') === 'delivered', `status ${await row.getAttribute('data-status')}`);
    const inRow = a.page.locator(`.row.in[data-from="${b.id}"]`).last();
    await inRow.waitFor();
    assert(await inRow.locator('.text').textContent() === text, 'A shows another text');
    return 'delivered';
  });

  await check('a burst of messages A → B arrives in order, each delivered', async () => {
    const msgs = ['one', 'two', 'three', 'four', 'five'];
    const before = await b.page.locator('.row.in').count();
    for (const m of msgs) await sendFrom(a, m);
    await b.page.locator('.row.in').nth(before + msgs.length - 1).waitFor();
    const got = (await b.page.locator('.row.in .text').allTextContents()).slice(before);
    assert(JSON.stringify(got) === JSON.stringify(msgs), `B shows ${JSON.stringify(got)}`);
    await a.page.waitForFunction(() => !document.querySelector('.row.out[data-status=pending]'));
    const statuses = await a.page.locator('.row.out').evaluateAll((rows) => rows.map((r) => r.dataset.status));
    assert(statuses.every((s) => s === 'delivered'), `A's statuses ${JSON.stringify(statuses)}`);
    return `${msgs.length} in order`;
  });

  await check('a message to an id nobody has shows why it was not delivered', async () => {
    await a.page.fill('#peer', 'AAAAAAAAAAAAAAAAAAAAAA');
    const row = await sendFrom(a, 'anyone there?');
    await settled(a, row, 'failed');
    const code = await row.getAttribute('data-code');
    assert(code === 'unknown_recipient', `data-code ${code}`);
    const words = (await row.locator('.state').textContent()).trim();
    await a.page.fill('#peer', b.id);
    return `"${words}"`;
  });

  await check('B replies once more, so both tabs show a conversation', async () => {
    const row = await sendFrom(b, 'Talk soon! ✓', { button: true });
    await a.page.locator('.row.in .text', { hasText: 'Talk soon!' }).waitFor();
    await settled(b, row, 'delivered');
    return '';
  });

  await check('screenshot of both tabs side by side', async () => {
    // Unclip the logs so that the whole conversation is in the picture.
    for (const t of [a, b]) await t.page.locator('#log').evaluate((el) => { el.style.maxHeight = 'none'; });
    const shotA = await a.page.screenshot({ fullPage: true });
    const shotB = await b.page.screenshot({ fullPage: true });
    const board = await context.newPage();
    await board.setViewportSize({ width: 1860, height: 900 });
    const img = (buf, label) => `<figure><figcaption>${label}</figcaption><img src="data:image/png;base64,${buf.toString('base64')}"></figure>`;
    await board.setContent(`<!doctype html><style>
      body{margin:0;padding:12px;background:#2b3240;display:flex;gap:16px;font:14px system-ui,sans-serif;color:#fff}
      figure{margin:0} figcaption{padding:4px 2px 8px} img{display:block;border-radius:6px;box-shadow:0 2px 10px #0008}
      </style>${img(shotA, `Tab A — ${a.id}`)}${img(shotB, `Tab B — ${b.id}`)}`);
    await board.waitForFunction(() => [...document.images].every((i) => i.complete && i.naturalWidth > 0));
    await board.screenshot({ path: shotPath, fullPage: true });
    await board.close();
    const st = fs.statSync(shotPath);
    assert(st.size > 10000, `screenshot is only ${st.size} bytes`);
    return `${shotPath} (${st.size} bytes)`;
  });

  await check('B closes its tab: A sees B leave, and a message to B fails', async () => {
    await b.page.close();
    await a.page.locator(`#online button[data-id="${b.id}"]`).waitFor({ state: 'detached' });
    await a.page.locator('.row.sys[data-kind=leave]').last().waitFor();
    const row = await sendFrom(a, 'are you still there?');
    await settled(a, row, 'failed');
    const code = await row.getAttribute('data-code');
    assert(code === 'unknown_recipient', `data-code ${code}`);
    return `leave shown; then ${code}`;
  });

  await check('phone width (390 px): no horizontal scrolling', async () => {
    await a.page.setViewportSize({ width: 390, height: 844 });
    const overflow = await a.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    await a.page.screenshot({ path: shotPath.replace(/(\.png)?$/i, '-mobile.png'), fullPage: true });
    assert(overflow <= 0, `page is ${overflow}px wider than the screen`);
    return shotPath.replace(/(\.png)?$/i, '-mobile.png');
  });

  await check('no script errors on the pages', async () => {
    assert(errors.length === 0, errors.join(' | '));
    return '';
  });
}

await runBrowser({
  profilePrefix: 'ws6455-chat-chromium-',
  viewport: { width: 900, height: 760 },
  // Two tabs: keep the one in the background running at full speed.
  extraArgs: ['--disable-background-timer-throttling', '--disable-renderer-backgrounding'],
}, main);
