// End-to-end test of the API reference page (/docs) in a real browser: its
// "try it" form for GET /v1/inbox sends a metadata filter, whose parameter
// name holds the field name (metadata.{key}). Started by scripts/e2e.sh,
// with the same environment as dashboard.test.mjs.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE = process.env.TRIGGERS_E2E_URL;
const DEV_KEY = process.env.TRIGGERS_E2E_DEV_KEY;
const CHROMIUM = process.env.TRIGGERS_E2E_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.TRIGGERS_E2E_ARTIFACTS ||
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'artifacts');
if (!BASE || !DEV_KEY) throw new Error('TRIGGERS_E2E_URL and TRIGGERS_E2E_DEV_KEY are not set: run scripts/e2e.sh');

let context;
let page;
let userDataDir;
let eventID;
const consoleErrors = [];
const USER = `docs-page-user-${Date.now()}`; // unique, so a reused server does not matter

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const resp = await fetch(BASE + '/v1/events', {
    method: 'POST', headers: { 'X-API-Key': DEV_KEY, 'Content-Type': 'application/json' },
    body: JSON.stringify({ source: 'docs-page', event_type: 'tried', payload: { n: 1 }, metadata: { user_id: USER } }),
  });
  const text = await resp.text();
  assert.equal(resp.status, 201, text);
  eventID = JSON.parse(text).event_id;
  userDataDir = mkdtempSync(path.join(tmpdir(), 'triggers-e2e-docs-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  page = context.pages()[0] || await context.newPage();
  // The page runs under the dashboard's strict CSP (no inline script or
  // style): anything it refuses shows up as a console error. A resource
  // that fails to load is reported by its response instead (the browser's
  // own /favicon.ico is a 404, as for the dashboard).
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(String(err)));
  page.on('response', (resp) => {
    if (resp.status() >= 400 && new URL(resp.url()).pathname !== '/favicon.ico') consoleErrors.push(`${resp.status()} ${resp.url()}`);
  });
});

after(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

test('the /docs try-it form sends metadata.{key} with the field name filled in', async () => {
  await page.goto(BASE + '/docs');
  await page.fill('#apikey', DEV_KEY);
  const op = page.locator('#listInbox'); // the operation, by its operationId
  await op.locator('> summary').click();
  const label = op.locator('label', { hasText: 'metadata.{key} (query)' });
  await label.locator('input').nth(0).fill('user_id');
  await label.locator('input').nth(1).fill(USER);
  await op.getByRole('button', { name: 'Send' }).click();
  const result = op.locator('form.try pre');
  await result.waitFor();
  const status = await op.locator('form.try .status').textContent();
  const line = await op.locator('form.try .note').first().textContent();
  await page.screenshot({ path: path.join(ARTIFACTS, '10-docs-try-metadata.png'), fullPage: false });
  assert.equal(status, '200', await result.textContent());
  assert.ok(line.includes(`metadata.user_id=${USER}`), line);
  const body = JSON.parse(await result.textContent());
  assert.deepEqual(body.events.map((e) => e.event_id), [eventID]);
});

test('the /docs page runs under the strict CSP: styled, rendered, no console errors', async () => {
  const resp = await page.goto(BASE + '/docs');
  const csp = resp.headers()['content-security-policy'];
  assert.ok(csp && !csp.includes('unsafe-inline') && csp.includes("frame-ancestors 'none'"), csp);
  await page.locator('#listInbox').waitFor(); // rendered by /docs/reference.js
  // The style sheet applied: the sticky header of reference.css.
  const position = await page.locator('header').evaluate((el) => getComputedStyle(el).position);
  assert.equal(position, 'sticky');
  assert.deepEqual(consoleErrors, []);
});
