// What the headless-Chromium scripts (browser.mjs, chat-browser.mjs) share: the checks that
// print one PASS/FAIL line each and the closing "N passed, M failed" line that the Go tests
// read (cmd/internal/interop.RunScript), and a Chromium started the one way this project
// allows: Debian's binary ($CHROMIUM or /usr/bin/chromium) through playwright-core, never a
// downloaded browser, headless, with a fresh profile directory that is removed at the end.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
export const stepTimeout = Number(process.env.BROWSER_STEP_TIMEOUT_MS || 15000);

const counts = { passed: 0, failed: 0 };

// check runs one named check; fn returns a detail for the PASS line or throws.
export async function check(name, fn) {
  const start = performance.now();
  try {
    const detail = await fn();
    counts.passed++;
    console.log(`PASS ${name}${detail ? `: ${detail}` : ''} (${(performance.now() - start).toFixed(0)} ms)`);
    return true;
  } catch (err) {
    counts.failed++;
    console.log(`FAIL ${name}: ${firstLine(err)}`);
    return false;
  }
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

function firstLine(err) {
  return String(err && err.message ? err.message : err).split('\n')[0];
}

// runBrowser starts Chromium with a fresh profile, runs main(context) (which returns true if it
// stopped early), closes the browser, removes the profile, prints the summary and exits: 1 if
// any check failed.
export async function runBrowser({ profilePrefix, viewport, extraArgs = [] }, main) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), profilePrefix));
  let context;
  let stoppedEarly = false;
  try {
    // Playwright refuses --user-data-dir in args; launchPersistentContext is how it takes one.
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      timeout: 60000,
      viewport,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        ...extraArgs,
      ],
    });
    const version = context.browser() ? context.browser().version() : '?';
    console.log(`browser: chromium ${version} (${executablePath}, profile ${userDataDir})`);
    stoppedEarly = Boolean(await main(context));
  } catch (err) {
    counts.failed++;
    stoppedEarly = true;
    console.log(`FAIL browser run: ${firstLine(err)}`);
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  if (stoppedEarly) console.log('(stopped early: later checks were not run)');
  console.log(`${counts.passed} passed, ${counts.failed} failed`);
  process.exit(counts.failed > 0 ? 1 : 0);
}
