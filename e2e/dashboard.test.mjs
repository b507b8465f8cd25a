// End-to-end tests of the Triggers dashboard (/ui) in a real browser:
// Playwright (playwright-core) driving the system Chromium against a real
// server. Started by scripts/e2e.sh, which builds and starts the server and
// passes it in the environment:
//
//   TRIGGERS_E2E_URL          the server, e.g. http://127.0.0.1:41234
//   TRIGGERS_E2E_DEV_KEY      a key of tenant dev (default limit, 1000/min)
//   TRIGGERS_E2E_LIMITED_KEY  a key limited to 3 requests per minute
//   TRIGGERS_E2E_BLOCKED_KEY  a key allowed only from 10.9.9.9/32
//   TRIGGERS_E2E_CHROMIUM     the browser (default /usr/bin/chromium)
//   TRIGGERS_E2E_ARTIFACTS    where screenshots go (default e2e/artifacts)
//
// The subtests run in order and share one page: each builds on the state the
// ones before it left.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE = mustEnv('TRIGGERS_E2E_URL');
const DEV_KEY = mustEnv('TRIGGERS_E2E_DEV_KEY');
const LIMITED_KEY = mustEnv('TRIGGERS_E2E_LIMITED_KEY');
const BLOCKED_KEY = mustEnv('TRIGGERS_E2E_BLOCKED_KEY');
const CHROMIUM = process.env.TRIGGERS_E2E_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.TRIGGERS_E2E_ARTIFACTS ||
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'artifacts');
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
const BIG = '12345678901234567890'; // more digits than a double keeps

function mustEnv(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run scripts/e2e.sh`);
  return v;
}

let context;
let page;
let userDataDir;
const offOrigin = []; // requests that left the page's origin
const pageErrors = []; // uncaught exceptions and CSP violations
const seeded = []; // ids of the seeded events, oldest first

/** Calls the API directly (not through the page). */
async function api(method, p, { key = DEV_KEY, body } = {}) {
  const headers = { 'X-API-Key': key };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(BASE + p, { method, headers, body: typeof body === 'string' ? body : body && JSON.stringify(body) });
  const text = await resp.text();
  return { status: resp.status, text, json: text ? JSON.parse(text) : null };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The webhook receiver: a local HTTP server that records every request
 * (headers, raw body, the status it answered) and answers receiver.status.
 * The server under test runs with --webhook-allow-insecure and
 * --webhook-allow-private, so it may deliver to http://127.0.0.1.
 */
const receiver = { url: '', status: 200, got: [], server: null };

function startReceiver() {
  receiver.server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const status = receiver.status;
      receiver.got.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      res.writeHead(status, { 'Content-Type': 'text/plain' });
      res.end(status === 200 ? 'ok' : 'failing on purpose');
    });
  });
  return new Promise((resolve) => receiver.server.listen(0, '127.0.0.1', () => {
    receiver.url = `http://127.0.0.1:${receiver.server.address().port}`;
    resolve();
  }));
}

/** The Standard Webhooks signature of a received request with a whsec_ secret: "v1,<base64>". */
function sign(secret, got) {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const mac = createHmac('sha256', key).update(`${got.headers['webhook-id']}.${got.headers['webhook-timestamp']}.${got.body}`).digest('base64');
  return `v1,${mac}`;
}

/** Polls fn until it returns a truthy value. */
async function eventually(what, fn, timeout = 10000) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) {
      const state = await page.locator('#status, #alert, #inbox-summary').allTextContents().catch(() => []);
      throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}; page says: ${JSON.stringify(state)}`);
    }
    await sleep(100);
  }
}

const textOf = (sel) => page.locator(sel).textContent();
const rows = () => page.locator('#inbox-rows tr');
const rowIds = () => page.locator('#inbox-rows tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.eventId));

async function screenshot(name, opts = {}) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true, ...opts });
}

async function useKey(key) {
  await page.fill('#api-key', key);
  await page.getByRole('button', { name: 'Use key' }).click();
}

const metaRows = () => page.locator('#meta-rows > li');
const metaKeyInput = (n) => page.getByLabel(`Key of condition ${n}`, { exact: true });
const metaValueInput = (n) => page.getByLabel(`Value of condition ${n}`, { exact: true });

/**
 * Sets the filter form and applies it; unset fields are cleared. meta is a
 * list of [key, value] metadata conditions, one row each (at least one row).
 */
async function filter({ source = '', eventType = '', priority = '', after = '', before = '', meta = [], limit = '25' } = {}) {
  await page.fill('#f-source', source);
  await page.fill('#f-event-type', eventType);
  await page.selectOption('#f-priority', priority);
  await page.fill('#f-after', after);
  await page.fill('#f-before', before);
  const want = Math.max(meta.length, 1);
  for (let n = await metaRows().count(); n > want; n--) {
    await page.getByRole('button', { name: `Remove metadata condition ${n}`, exact: true }).click();
  }
  for (let n = await metaRows().count(); n < want; n++) {
    await page.getByRole('button', { name: 'Add metadata condition' }).click();
  }
  for (let i = 0; i < want; i++) {
    const [k, v] = meta[i] || ['', ''];
    await metaKeyInput(i + 1).fill(k);
    await metaValueInput(i + 1).fill(v);
  }
  await page.selectOption('#f-limit', limit);
  await page.getByRole('button', { name: 'Apply filters' }).click();
}

/** A datetime-local value (the browser's local time) for a time offset from now. */
async function localInput(offsetMs) {
  return page.evaluate((off) => {
    const d = new Date(Date.now() + off);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }, offsetMs);
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  await startReceiver();
  // Seven events (more than a page of 5), in order; every third is high priority.
  for (let i = 0; i < 7; i++) {
    const prio = i % 3 === 0 ? 'high' : 'low';
    const r = await api('POST', '/v1/events', {
      body: `{"source": "seed", "event_type": "order.created", "payload": {"order": ${i}, "big": ${BIG}, "note": "caf\u00e9"}, "metadata": {"priority": "${prio}"}}`,
    });
    assert.equal(r.status, 201, r.text);
    seeded.push(r.json.event_id);
  }
  userDataDir = mkdtempSync(path.join(tmpdir(), 'triggers-e2e-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  const origin = new URL(BASE).origin;
  context.on('request', (req) => {
    const u = req.url();
    if (!u.startsWith('data:') && !u.startsWith('about:') && new URL(u).origin !== origin) offOrigin.push(u);
  });
  page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`uncaught: ${err.message}`));
  page.on('console', (msg) => {
    if (/Content Security Policy|Refused to/i.test(msg.text())) pageErrors.push(`CSP: ${msg.text()}`);
  });
});

after(async () => {
  if (context) await context.close();
  if (receiver.server) {
    receiver.server.closeAllConnections();
    receiver.server.close();
  }
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

test('dashboard', async (t) => {
  await t.test('the page loads with a strict CSP, labelled controls and no key', async () => {
    const resp = await page.goto(`${BASE}/ui`);
    assert.equal(resp.status(), 200);
    const csp = resp.headers()['content-security-policy'];
    assert.match(csp, /default-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(resp.headers()['x-content-type-options'], 'nosniff');
    await eventually('the no-key hint', async () => (await textOf('#inbox-summary')).includes('Enter an API key'));
    // Every control has an accessible name.
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
      .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute('aria-label') && !c.textContent.trim())
      .map((c) => c.id || c.outerHTML));
    assert.deepEqual(unlabelled, []);
    await screenshot('01-no-key');
  });

  await t.test('the key is kept in sessionStorage only, never in the URL', async () => {
    await useKey(DEV_KEY);
    await eventually('the first inbox page', async () => (await rows().count()) === 7);
    assert.ok(!page.url().includes(DEV_KEY), page.url());
    const stored = await page.evaluate(() => ({ session: JSON.stringify(sessionStorage), local: localStorage.length, cookie: document.cookie }));
    assert.ok(stored.session.includes(DEV_KEY));
    assert.equal(stored.local, 0);
    assert.equal(stored.cookie, '');
    // A reload keeps the key (same tab session).
    await page.reload();
    await eventually('the inbox after a reload', async () => (await rows().count()) === 7);
    assert.deepEqual(await rowIds(), seeded);
  });

  let editorId;
  await t.test('send an event through the JSON editor, which validates it first', async () => {
    await page.fill('#event-json', '{"source": "editor", "event_type": ');
    await eventually('the invalid-JSON message', async () => (await textOf('#event-json-check')).startsWith('Invalid JSON'));
    assert.equal(await page.getAttribute('#event-json', 'aria-invalid'), 'true');
    await page.getByRole('button', { name: 'Send event' }).click();
    await eventually('the not-sent alert', async () => (await textOf('#alert')).includes('The event was not sent'));
    await page.fill('#event-json', `{"source": "editor", "event_type": "note.created", "payload": {"text": "hello", "n": ${BIG}}, "metadata": {"priority": "high", "team": "ops"}}`);
    await eventually('the valid-JSON message', async () => (await textOf('#event-json-check')) === 'Valid JSON.');
    await page.getByRole('button', { name: 'Format JSON' }).click();
    assert.match(await page.inputValue('#event-json'), new RegExp(`\\n  "payload": \\{\\n    "text": "hello",\\n    "n": ${BIG}\\n`));
    await page.getByRole('button', { name: 'Send event' }).click();
    const status = await eventually('the created status', async () => {
      const s = await textOf('#status');
      return s.startsWith('Event created') && s;
    });
    editorId = status.match(UUID)[0];
    const got = await api('GET', `/v1/events/${editorId}`);
    assert.equal(got.status, 200);
    assert.equal(got.json.source, 'editor');
    assert.ok(got.text.includes(`"n":${BIG}`), got.text); // every digit kept
    await eventually('the new event in the inbox', async () => (await rowIds()).includes(editorId));
    await screenshot('02-sent');
  });

  await t.test('filter by source, event type, priority and date range', async () => {
    await filter({ source: 'editor' });
    await eventually('only the editor event', async () => JSON.stringify(await rowIds()) === JSON.stringify([editorId]));
    await filter({ source: 'seed', eventType: 'order.created' });
    await eventually('the seeded events', async () => (await rows().count()) === 7);
    await filter({ priority: 'high' });
    await eventually('high priority events', async () =>
      JSON.stringify(await rowIds()) === JSON.stringify([seeded[0], seeded[3], seeded[6], editorId]));
    // A range in the future is empty: the empty state.
    await filter({ after: await localInput(3600e3) });
    await eventually('the empty state', async () => await page.locator('#empty').isVisible());
    assert.equal(await rows().count(), 0);
    assert.equal(await page.locator('#inbox').isVisible(), false);
    await screenshot('03-empty');
    // A range around now holds everything.
    await filter({ after: await localInput(-3600e3), before: await localInput(3600e3) });
    await eventually('all events in the range', async () => (await rows().count()) === 8);
    // An inverted range is refused before any request.
    await filter({ after: await localInput(3600e3), before: await localInput(-3600e3) });
    await eventually('the range message', async () => (await textOf('#alert')).includes('Created after must be earlier'));
    assert.equal(await page.getAttribute('#f-after', 'aria-invalid'), 'true');
  });

  await t.test('page through with next_cursor', async () => {
    await filter({ source: 'seed', limit: '5' });
    await eventually('page 1', async () => (await rows().count()) === 5);
    assert.deepEqual(await rowIds(), seeded.slice(0, 5));
    assert.equal(await textOf('#page-label'), 'Page 1');
    assert.equal(await page.locator('#prev-page').isDisabled(), true);
    await screenshot('04-inbox');
    await page.getByRole('button', { name: 'Next page', exact: true }).click();
    await eventually('page 2', async () => (await rows().count()) === 2 && (await textOf('#page-label')) === 'Page 2');
    assert.deepEqual(await rowIds(), seeded.slice(5));
    assert.equal(await page.locator('#next-page').isDisabled(), true);
    await page.getByRole('button', { name: 'Previous page', exact: true }).click();
    await eventually('page 1 again', async () => (await rows().count()) === 5 && (await textOf('#page-label')) === 'Page 1');
    assert.deepEqual(await rowIds(), seeded.slice(0, 5));
  });

  await t.test('event details with the payload pretty-printed, by keyboard', async () => {
    const details = page.getByRole('button', { name: `Details of event ${seeded[1]}` });
    await details.focus();
    await page.keyboard.press('Enter');
    const dialog = page.locator('#details');
    await eventually('the details dialog', async () => (await dialog.isVisible()) && (await textOf('#d-id')) === seeded[1]);
    assert.equal(await textOf('#d-payload'), `{\n  "order": 1,\n  "big": ${BIG},\n  "note": "café"\n}`);
    assert.equal(await textOf('#d-metadata'), '{\n  "priority": "low"\n}');
    assert.equal(await textOf('#d-status'), 'pending');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'd-close');
    await screenshot('05-details');
    await page.keyboard.press('Escape');
    await eventually('the dialog closed', async () => !(await dialog.isVisible()));
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), `Details of event ${seeded[1]}`);
  });

  await t.test('acknowledge one event', async () => {
    await page.getByRole('button', { name: `Acknowledge event ${seeded[0]}` }).click();
    await eventually('the acknowledged status', async () => (await textOf('#status')).includes(`Event ${seeded[0]} acknowledged`));
    await eventually('the event gone from the inbox', async () => !(await rowIds()).includes(seeded[0]));
    assert.deepEqual(await rowIds(), seeded.slice(1, 6));
    const got = await api('GET', `/v1/events/${seeded[0]}`);
    assert.equal(got.json.status, 'acknowledged');
  });

  await t.test('bulk delete the selected events, showing a per-item failure', async () => {
    const [a, b, c] = seeded.slice(1, 4);
    for (const id of [a, b, c]) await page.getByRole('checkbox', { name: `Select event ${id}` }).check();
    assert.equal(await textOf('#bulk-delete'), 'Delete selected (3)');
    // c is deleted behind the dashboard's back: its item fails with NOT_FOUND.
    assert.equal((await api('DELETE', `/v1/events/${c}`)).status, 200);
    page.once('dialog', (d) => d.accept());
    await page.getByRole('button', { name: 'Delete selected (3)' }).click();
    const result = await eventually('the bulk result', async () => {
      const s = await textOf('#bulk-result');
      return s.includes('Deleted') && s;
    });
    assert.match(result, /Deleted 2 of 3 selected events\. 1 failed:/);
    assert.match(result, new RegExp(`${c}: NOT_FOUND`));
    for (const id of [a, b]) assert.equal((await api('GET', `/v1/events/${id}`)).status, 404);
    await eventually('the inbox without them', async () => JSON.stringify(await rowIds()) === JSON.stringify(seeded.slice(4)));
    assert.equal(await page.locator('#bulk-delete').isDisabled(), true);
    await screenshot('06-bulk-delete');
  });

  await t.test('bulk acknowledge the selected events', async () => {
    await page.getByRole('checkbox', { name: 'Select all events on this page' }).check();
    await page.getByRole('button', { name: 'Acknowledge selected (3)' }).click();
    await eventually('the bulk ack result', async () => (await textOf('#bulk-result')).includes('Acknowledged 3 of 3 selected events.'));
    await eventually('the empty state', async () => await page.locator('#empty').isVisible());
    for (const id of seeded.slice(4)) assert.equal((await api('GET', `/v1/events/${id}`)).json.status, 'acknowledged');
  });

  await t.test('auto-refresh picks up a new event', async () => {
    await filter({ source: 'auto' });
    await eventually('the empty state', async () => await page.locator('#empty').isVisible());
    await page.selectOption('#auto-interval', '5');
    await page.getByLabel('Auto-refresh', { exact: true }).check();
    const created = await api('POST', '/v1/events', { body: { source: 'auto', event_type: 'tick', payload: { n: 1 } } });
    assert.equal(created.status, 201);
    await eventually('the event through auto-refresh', async () =>
      JSON.stringify(await rowIds()) === JSON.stringify([created.json.event_id]), 12000);
    await page.getByLabel('Auto-refresh', { exact: true }).uncheck();
  });

  await t.test('details of the deepest and widest payloads the API accepts, and of a far deeper one stored before it had a limit', async () => {
    // Payload level k holds "l<k>": 64 levels, the API's limit, as sent.
    const DEPTH = 64;
    let deepText = '"bottom"';
    for (let k = DEPTH; k >= 1; k--) deepText = `{"l${k}":${deepText}}`;
    const wideText = `{${Array.from({ length: 2000 }, (_, i) => `"k${i}":${i}`).join(',')}}`;
    const metaText = `{${Array.from({ length: 64 }, (_, i) => `"m${i}":"v${i}"`).join(',')},"priority":"high"}`;
    const create = async (payload, metadata = '{}') => {
      const r = await api('POST', '/v1/events', { body: `{"source":"limits","event_type":"limits.test","payload":${payload},"metadata":${metadata}}` });
      assert.equal(r.status, 201, r.text);
      return r.json.event_id;
    };
    const deepId = await create(deepText);
    const wideId = await create(wideText, metaText);
    // Deleted whatever happens, so that the later subtests see the inbox they expect.
    try {
      const dialog = page.locator('#details');
      const openDetails = async (id) => {
        await page.getByRole('button', { name: `Details of event ${id}` }).click();
        await eventually(`the details of ${id}`, async () => (await dialog.isVisible()) && (await textOf('#d-id')) === id);
      };
      const closeDetails = async () => {
        await page.keyboard.press('Escape');
        await eventually('the dialog closed', async () => !(await dialog.isVisible()));
      };
      await filter({ source: 'limits' });
      await eventually('the two events', async () => (await rows().count()) === 2);

      // Every level indented, two spaces each, the innermost at 128.
      await openDetails(deepId);
      const deep = await textOf('#d-payload');
      assert.equal(deep.split('\n').length, 2 * DEPTH + 1);
      assert.ok(deep.includes(`\n${' '.repeat(2 * DEPTH)}"l${DEPTH}": "bottom"\n`), deep.slice(0, 300));
      assert.equal(deep.replace(/\s/g, ''), deepText);
      await screenshot('05b-deep-details');
      await closeDetails();

      await openDetails(wideId);
      const wide = await textOf('#d-payload');
      assert.equal(wide.split('\n').length, 2000 + 2);
      assert.ok(wide.includes('\n  "k0": 0,\n') && wide.endsWith('\n  "k1999": 1999\n}'), wide.slice(-200));
      const meta = await textOf('#d-metadata');
      assert.equal(meta.split('\n').length, 65 + 2);
      assert.ok(meta.includes('\n  "m63": "v63",\n  "priority": "high"\n}'), meta.slice(-200));
      await closeDetails();

      // An event stored before the API limited depth can be 100,000 levels
      // deep: its GET is answered here with such a payload. The dialog shows
      // it (recursive rendering overflowed the call stack) with indents up
      // to 64 levels and the rest on one line.
      const FAR = 100000;
      const farText = '{"a":'.repeat(FAR) + '"bottom"' + '}'.repeat(FAR);
      await page.route(`**/v1/events/${deepId}`, async (route) => {
        const resp = await route.fetch();
        const headers = { ...resp.headers() };
        delete headers['content-length'];
        await route.fulfill({ status: resp.status(), headers, body: (await resp.text()).replace(deepText, farText) });
      });
      try {
        await openDetails(deepId);
        const far = await textOf('#d-payload');
        assert.equal(far.replace(/\s/g, ''), farText);
        assert.equal(far.split('\n').length, 2 * DEPTH + 1);
        await closeDetails();
      } finally {
        await page.unroute(`**/v1/events/${deepId}`);
      }
      assert.deepEqual(pageErrors, []);
    } finally {
      for (const id of [deepId, wideId]) assert.equal((await api('DELETE', `/v1/events/${id}`)).status, 200);
    }
  });

  await t.test("the key's rate-limit state with a reset countdown", async () => {
    await eventually('the rate-limit panel', async () => (await textOf('#rate-limit')) === '1000 / min');
    const remaining = Number(await textOf('#rate-remaining'));
    assert.ok(remaining > 900 && remaining < 1000, String(remaining));
    assert.match(await textOf('#rate-reset'), /^(in \d+ s \(at .+\)|now)$/);
  });

  await t.test('metadata conditions (metadata.{key}=value, several: AND), checked before sending, and a 400 from the server', async () => {
    // Pending events with team and region: only `both` has team=ops and
    // region=eu (the editor event has team=ops and no region).
    const tagged = async (metadata) => {
      const r = await api('POST', '/v1/events', { body: { source: 'meta', event_type: 'tagged', payload: { n: 1 }, metadata } });
      assert.equal(r.status, 201, r.text);
      return r.json.event_id;
    };
    const both = await tagged({ team: 'ops', region: 'eu' });
    await tagged({ team: 'ops', region: 'us' });
    await tagged({ team: 'dev', region: 'eu' });
    const probe = await api('GET', '/v1/inbox?metadata.team=ops&metadata.region=eu');
    assert.equal(probe.status, 200, `the server refuses two metadata.{key}: ${probe.text}`);
    assert.deepEqual(probe.json.events.map((e) => e.event_id), [both]);

    const inboxRequests = [];
    const onRequest = (req) => {
      if (new URL(req.url()).pathname === '/v1/inbox') inboxRequests.push(req.url());
    };
    const focused = () => page.evaluate(() => ({
      label: document.activeElement.labels && document.activeElement.labels[0] ? document.activeElement.labels[0].textContent : '',
      invalid: document.activeElement.getAttribute('aria-invalid'),
    }));
    page.on('request', onRequest);
    try {
      // Client-side checks first: no request for an invalid key or a key
      // given twice; the row is flagged and focused.
      await filter({ meta: [['team', 'ops'], ['bad key!', 'x']] });
      await eventually('the invalid-key message', async () => (await textOf('#alert')).includes('Metadata condition 2: the key must be 1 to 64'));
      assert.deepEqual(await focused(), { label: 'Key of condition 2', invalid: 'true' });
      assert.equal(await metaKeyInput(1).getAttribute('aria-invalid'), null);
      await filter({ meta: [['team', 'ops'], ['region', 'eu'], ['team', 'dev']] });
      await eventually('the same-key message', async () =>
        (await textOf('#alert')).includes('Metadata condition 3: the key "team" is already used by condition 1'));
      assert.deepEqual(await focused(), { label: 'Key of condition 3', invalid: 'true' });
      await sleep(300);
      assert.deepEqual(inboxRequests, [], 'a request was sent for invalid metadata conditions');
    } finally {
      page.off('request', onRequest);
    }

    // Two conditions (and an empty row between them, ignored): both sent, AND.
    const sentReq = page.waitForRequest((req) => new URL(req.url()).pathname === '/v1/inbox');
    await filter({ meta: [['team', 'ops'], ['', ''], ['region', 'eu']] });
    const sent = new URL((await sentReq).url()).searchParams;
    assert.deepEqual([...sent].filter(([k]) => k.startsWith('metadata')), [['metadata.team', 'ops'], ['metadata.region', 'eu']]);
    await eventually('only the event with team=ops and region=eu', async () => JSON.stringify(await rowIds()) === JSON.stringify([both]));
    assert.equal(await page.locator('#meta-rows [aria-invalid]').count(), 0);
    await page.locator('section[aria-labelledby="filters-heading"]').screenshot({ path: path.join(ARTIFACTS, '03b-filters-metadata.png') });
    await filter({ meta: [['team', 'ops'], ['region', 'nowhere']] });
    await eventually('the empty state', async () => await page.locator('#empty').isVisible());

    // At most 10 rows; a row removed by keyboard hands focus to the next one.
    const add = page.getByRole('button', { name: 'Add metadata condition' });
    while ((await metaRows().count()) < 10) await add.click();
    assert.equal(await add.isDisabled(), true);
    assert.match(await textOf('#meta-count'), /^10 of 10 conditions/);
    assert.deepEqual(await focused(), { label: 'Key of condition 10', invalid: null });
    await page.getByRole('button', { name: 'Remove metadata condition 2', exact: true }).focus();
    await page.keyboard.press('Enter');
    assert.equal(await metaRows().count(), 9);
    assert.equal(await add.isDisabled(), false);
    assert.deepEqual(await focused(), { label: 'Key of condition 2', invalid: null });
    assert.equal(await metaKeyInput(1).inputValue(), 'team');

    // A value the server refuses: its 400, naming the parameter, and the error state.
    await filter({ meta: [['priority', 'urgent']] });
    await eventually('the 400 message', async () => {
      const s = await textOf('#alert');
      return s.includes('400 VALIDATION_ERROR') && s.includes('metadata.priority');
    });
    await eventually('the error state', async () => (await textOf('#inbox-summary')).includes('could not be loaded'));
    assert.equal(await page.locator('#inbox').isVisible(), false);
    assert.equal(await page.locator('#empty').isVisible(), false);
    await filter({});
  });

  await t.test('leases: attempts and lease state in the inbox, dead letters listed and redriven (one and selected)', async () => {
    // Events of their own source, each kind with its own event type so that
    // each receive below leases exactly the events it names.
    const SRC = 'lease-e2e';
    const create = async (eventType, n) => {
      const r = await api('POST', '/v1/events', { body: { source: SRC, event_type: eventType, payload: { n } } });
      assert.equal(r.status, 201, r.text);
      return r.json.event_id;
    };
    const receive = async (body) => {
      const r = await api('POST', '/v1/inbox/receive', { body: { source: SRC, ...body } });
      assert.equal(r.status, 200, r.text);
      return r.json.events;
    };
    const poison = [await create('poison', 0), await create('poison', 1), await create('poison', 2)];
    const slow = await create('slow', 3);
    const retry = await create('retry', 4);
    const fresh = await create('fresh', 5);

    // The poison events are leased for 1 s with max_attempts 1: once the
    // lease has expired, the next receive dead-letters them.
    const leasedAt = Date.now();
    const first = await receive({ event_type: 'poison', max_events: 25, lease_seconds: 1, max_attempts: 1 });
    assert.deepEqual(first.map((e) => e.event_id).sort(), [...poison].sort());
    for (const e of first) assert.equal(e.attempts, 1);
    // slow stays leased for 2 minutes; retry is nacked with a 10-minute delay.
    const [slowLease] = await receive({ event_type: 'slow', lease_seconds: 120 });
    assert.equal(slowLease.event_id, slow);
    const [retryLease] = await receive({ event_type: 'retry', lease_seconds: 120 });
    const nack = await api('POST', `/v1/events/${retry}/nack`, { body: { lease_id: retryLease.lease.lease_id, delay_seconds: 600 } });
    assert.equal(nack.status, 200, nack.text);

    // The inbox shows the attempts and the lease state of each.
    await filter({ source: SRC });
    const cell = (id, cls) => page.locator(`#inbox-rows tr[data-event-id="${id}"] td.${cls}`);
    await eventually('the lease events in the inbox', async () => (await rows().count()) === 6);
    assert.equal(await cell(slow, 'attempts').textContent(), '1');
    assert.match(await cell(slow, 'state').textContent(), /^Leased until .+/);
    assert.equal(await cell(slow, 'state').locator('time').getAttribute('datetime'), slowLease.lease.expires_at);
    assert.equal(await cell(fresh, 'attempts').textContent(), '0');
    assert.equal(await cell(fresh, 'state').textContent(), 'Not leased');
    assert.equal(await cell(retry, 'attempts').textContent(), '1');
    const retried = (await api('GET', `/v1/events/${retry}`)).json;
    assert.equal(retried.lease_expires_at, undefined, 'a nack ends the lease');
    // The nack delay shows only if the API gives the event's available_at.
    if (retried.available_at) {
      assert.match(await cell(retry, 'state').textContent(), /^Not leased; available after .+ \(nack delay\)$/);
    } else {
      assert.equal(await cell(retry, 'state').textContent(), 'Not leased');
    }
    await screenshot('11-leases');
    // The details of a leased event: attempts and the lease's expiry.
    await page.getByRole('button', { name: `Details of event ${slow}` }).click();
    await eventually('the details of the leased event', async () => (await textOf('#d-id')) === slow);
    assert.equal(await textOf('#d-attempts'), '1');
    assert.match(await textOf('#d-lease'), new RegExp(`^Leased until .+ \\(${slowLease.lease.expires_at}\\)$`));
    assert.equal(await textOf('#d-dead'), '–');
    assert.equal(await page.locator('#d-redrive').isVisible(), false);
    await page.keyboard.press('Escape');
    await eventually('the dialog closed', async () => !(await page.locator('#details').isVisible()));
    // Acknowledging a leased event asks first; declined, nothing is sent.
    let question = '';
    page.once('dialog', (d) => { question = d.message(); d.dismiss(); });
    await page.getByRole('button', { name: `Acknowledge event ${slow}` }).click();
    await eventually('the question about the lease', async () => question);
    assert.match(question, new RegExp(`^Event ${slow} is leased: a worker holds its lease`));
    assert.equal((await api('GET', `/v1/events/${slow}`)).json.status, 'pending');

    // After the 1 s lease, a receive with max_attempts 1 dead-letters the poison events.
    await sleep(Math.max(0, leasedAt + 1100 - Date.now()));
    assert.deepEqual(await receive({ event_type: 'poison', max_attempts: 1, lease_seconds: 1 }), []);
    const deadList = await api('GET', `/v1/inbox?status=dead&source=${SRC}`);
    assert.equal(deadList.status, 200, deadList.text);
    assert.deepEqual(deadList.json.events.map((e) => e.event_id), poison);

    // The dead-letter view: the same filter, the dead events with their attempts.
    const deadReq = page.waitForRequest((req) => new URL(req.url()).pathname === '/v1/inbox');
    await page.getByLabel('Dead letters', { exact: true }).check();
    const sent = new URL((await deadReq).url()).searchParams;
    assert.equal(sent.get('status'), 'dead');
    assert.equal(sent.get('source'), SRC);
    await eventually('the dead letters', async () => JSON.stringify(await rowIds()) === JSON.stringify(poison));
    await eventually('the dead-letter summary', async () => (await textOf('#status')) === 'Page 1: 3 dead events.');
    for (const id of poison) {
      assert.equal(await cell(id, 'attempts').textContent(), '1');
      assert.match(await cell(id, 'state').textContent(), /^Dead since .+/);
    }
    assert.equal(await page.locator('#bulk-redrive').isVisible(), true);
    await screenshot('12-dead-letters');
    // At phone width the dead letters are cards too, without sideways scrolling.
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `the page is ${overflow}px wider than the screen`);
    await page.locator('#inbox').screenshot({ path: path.join(ARTIFACTS, '12b-phone-dead-letters.png') });
    await page.setViewportSize({ width: 1280, height: 900 });

    // Details of a dead event: status dead, dead_at, attempts; Redrive offered.
    await page.getByRole('button', { name: `Details of event ${poison[0]}` }).click();
    await eventually('the details of the dead event', async () => (await textOf('#d-id')) === poison[0]);
    const deadEvent = (await api('GET', `/v1/events/${poison[0]}`)).json;
    assert.equal(deadEvent.status, 'dead');
    assert.equal(await textOf('#d-status'), 'dead');
    assert.equal(await textOf('#d-attempts'), '1');
    assert.ok((await textOf('#d-dead')).endsWith(`(${deadEvent.dead_at})`), await textOf('#d-dead'));
    assert.equal(await textOf('#d-lease'), '–');
    assert.equal(await page.locator('#d-redrive').isVisible(), true);
    await screenshot('13-dead-details');
    await page.keyboard.press('Escape');
    await eventually('the dialog closed', async () => !(await page.locator('#details').isVisible()));
    // The dialog's close event, a task after it closed, gives the focus back
    // to its opener: wait for it, or it could take the focus set below.
    await eventually('the focus back on the Details button', async () =>
      (await page.evaluate(() => document.activeElement.getAttribute('aria-label'))) === `Details of event ${poison[0]}`);

    // Redrive one, by keyboard.
    await page.getByRole('button', { name: `Redrive event ${poison[0]}` }).focus();
    await page.keyboard.press('Enter');
    await eventually('the redriven status', async () =>
      (await textOf('#status')) === `Event ${poison[0]} redriven: pending again, with 0 attempts.`);
    await eventually('the event gone from the dead letters', async () =>
      JSON.stringify(await rowIds()) === JSON.stringify(poison.slice(1)));

    // Redrive the selected two; one was redriven behind the page's back, so
    // it fails alone with CONFLICT not_dead.
    const [b, c] = poison.slice(1);
    for (const id of [b, c]) await page.getByRole('checkbox', { name: `Select event ${id}` }).check();
    assert.equal((await api('POST', `/v1/events/${c}/redrive`)).status, 200);
    await page.getByRole('button', { name: 'Redrive selected (2)' }).click();
    const result = await eventually('the bulk redrive result', async () => {
      const s = await textOf('#bulk-result');
      return s.includes('Redrove') && s;
    });
    assert.match(result, /Redrove 1 of 2 selected events\. 1 failed:/);
    assert.match(result, new RegExp(`${c}: CONFLICT \\(not_dead\\) – `));
    assert.equal(await page.evaluate(() => document.activeElement.id), 'bulk-result');
    await eventually('no dead letters left', async () => await page.locator('#empty').isVisible());
    assert.equal(await textOf('#empty'), 'No dead events match these filters.');
    await screenshot('14-bulk-redrive');

    // Back in the inbox: pending, available, 0 attempts.
    await page.getByLabel('Pending events', { exact: true }).check();
    await eventually('the redriven events in the inbox', async () => {
      const ids = await rowIds();
      return ids.length === 6 && poison.every((id) => ids.includes(id));
    });
    for (const id of poison) {
      assert.equal(await cell(id, 'attempts').textContent(), '0');
      assert.equal(await cell(id, 'state').textContent(), 'Not leased');
      const got = (await api('GET', `/v1/events/${id}`)).json;
      assert.equal(got.status, 'pending');
      assert.equal(got.attempts, 0);
      assert.equal(got.dead_at, undefined);
    }
    assert.equal(await page.locator('#bulk-redrive').isVisible(), false);

    // Leave the dev key's inbox as it was for the tests after this one.
    for (const id of [...poison, slow, retry, fresh]) assert.equal((await api('DELETE', `/v1/events/${id}`)).status, 200);
    await filter({});
  });

  await t.test('overview: the counts, the oldest age and its warning, per-minute and by-source charts, as GET /v1/stats answers', async () => {
    // Events of an event type of their own: the overview filtered by it counts
    // only these. 11 created (6 of stats-a, 3 of stats-b, 1 each of stats-c
    // and stats-d), 2 of stats-a acknowledged, stats-c leased, stats-d dead:
    // pending 8 (a 4, b 3, c 1; the leased one included), leased 1, dead 1.
    const TYPE = 'stats.e2e';
    const createdAt = []; // every event's created_at, as the API answered
    const ackedAt = []; // every acknowledgement's acknowledged_at
    const create = async (source, n) => {
      const ids = [];
      for (let i = 0; i < n; i++) {
        const r = await api('POST', '/v1/events', { body: { source, event_type: TYPE, payload: { i } } });
        assert.equal(r.status, 201, r.text);
        ids.push(r.json.event_id);
        createdAt.push(r.json.created_at);
      }
      return ids;
    };
    const receive = async (body) => {
      const r = await api('POST', '/v1/inbox/receive', { body: { event_type: TYPE, ...body } });
      assert.equal(r.status, 200, r.text);
      return r.json.events;
    };
    const a = await create('stats-a', 6);
    const b = await create('stats-b', 3);
    const c = await create('stats-c', 1);
    const d = await create('stats-d', 1);
    const mine = [...a, ...b, ...c, ...d];
    try {
      for (const id of a.slice(0, 2)) {
        const r = await api('POST', `/v1/events/${id}/ack`);
        assert.equal(r.status, 200, r.text);
        ackedAt.push(r.json.acknowledged_at);
      }
      assert.equal((await receive({ source: 'stats-c', lease_seconds: 120 })).length, 1);
      const leasedAt = Date.now();
      assert.equal((await receive({ source: 'stats-d', lease_seconds: 1, max_attempts: 1 })).length, 1);
      await sleep(Math.max(0, leasedAt + 1100 - Date.now()));
      assert.deepEqual(await receive({ source: 'stats-d', lease_seconds: 1, max_attempts: 1 }), []);

      // The overview is the page's first section; its auto-refresh is on by
      // default (turned off here, so that the page shows the one answer read below).
      assert.equal(await page.evaluate(() => document.querySelector('main section').id), 'overview');
      const auto = page.getByLabel('Auto-refresh every 10 s', { exact: true });
      assert.equal(await auto.isChecked(), true);
      await auto.uncheck();
      const isStats = (resp) => new URL(resp.url()).pathname === '/v1/stats';
      const answered = page.waitForResponse((resp) => isStats(resp) && new URL(resp.url()).searchParams.get('event_type') === TYPE);
      await page.fill('#ov-source', '');
      await page.fill('#ov-event-type', TYPE);
      await page.getByRole('button', { name: 'Show statistics' }).click();
      const resp = await answered;
      assert.equal(resp.status(), 200);
      assert.equal(resp.request().headers()['x-api-key'], DEV_KEY);
      const st = await resp.json();
      await eventually('the overview drawn', async () => (await textOf('#ov-updated')).startsWith('Updated at'));

      // What the API answered: the known numbers.
      assert.equal(st.pending, 8);
      assert.equal(st.leased, 1);
      assert.equal(st.dead, 1);
      assert.equal(st.oldest_pending_created_at, createdAt[2]); // a[0] and a[1] were acknowledged
      assert.deepEqual(st.by_source, [{ source: 'stats-a', pending: 4 }, { source: 'stats-b', pending: 3 }, { source: 'stats-c', pending: 1 }]);
      assert.equal(st.per_minute.length, 60);
      // Each event in the minute of its created_at, each ack in that of its
      // acknowledged_at (whichever minutes these were), every other minute 0.
      // Minutes are compared as instants (Date.parse keeps the milliseconds),
      // whatever the number of fraction digits the API writes.
      const minuteOf = (iso) => Math.floor(Date.parse(iso) / 60000) * 60000;
      const want = st.per_minute.map((m) => ({ minute: m.minute, created: 0, acknowledged: 0 }));
      const at = new Map(want.map((m) => [Date.parse(m.minute), m]));
      const slot = (iso) => {
        const m = at.get(minuteOf(iso));
        assert.ok(m, `${iso} is in none of the minutes answered`);
        return m;
      };
      for (const iso of createdAt) slot(iso).created++;
      for (const iso of ackedAt) slot(iso).acknowledged++;
      assert.deepEqual(st.per_minute, want);
      assert.equal(Date.parse(st.per_minute[59].minute) - Date.parse(st.per_minute[0].minute), 59 * 60000);

      // The counts as the page shows them: exact (no "≈"), the oldest age.
      assert.equal(await textOf('#ov-pending'), '8');
      assert.equal(await textOf('#ov-leased'), '1');
      assert.equal(await textOf('#ov-dead'), '1');
      assert.equal(st.approximate, false);
      assert.equal(await page.locator('#ov-approx').isVisible(), false);
      const age = st.oldest_pending_age_seconds;
      assert.ok(age >= 1, String(age));
      assert.equal(await page.getAttribute('#ov-oldest', 'data-seconds'), String(age));
      assert.match(await textOf('#ov-oldest'), new RegExp(`^${age < 60 ? `${age} s` : '\\d+ min( \\d+ s)?'}created `));
      assert.equal(await page.getAttribute('#ov-oldest time', 'datetime'), st.oldest_pending_created_at);

      // Per minute: the table fallback and the bars carry the numbers of the answer.
      const tableRows = await page.locator('#ov-minutes-rows tr').evaluateAll((trs) => trs.map((tr) => ({
        minute: tr.querySelector('time').getAttribute('datetime'),
        created: Number(tr.cells[1].textContent),
        acknowledged: Number(tr.cells[2].textContent),
      })));
      assert.deepEqual(tableRows, st.per_minute);
      const bars = await page.locator('#ov-minutes-chart g[data-minute]').evaluateAll((gs) => gs.map((g) => ({
        minute: g.dataset.minute,
        created: Number(g.dataset.created),
        acknowledged: Number(g.dataset.acknowledged),
        heights: [...g.querySelectorAll('rect')].map((r) => [r.getAttribute('class'), Number(r.getAttribute('height'))]),
      })));
      const top = Number(await page.getAttribute('#ov-minutes-chart', 'data-top'));
      assert.ok(top >= Math.max(...st.per_minute.map((m) => Math.max(m.created, m.acknowledged))), String(top));
      assert.equal(await textOf('#ov-y-top'), String(top));
      assert.deepEqual(bars.map(({ heights, ...m }) => m), st.per_minute);
      for (const m of bars) {
        assert.deepEqual(m.heights.map(([cls]) => cls), ['created', 'acknowledged']);
        assert.ok(Math.abs(m.heights[0][1] - (m.created / top) * 100) < 0.01, JSON.stringify(m));
        assert.ok(Math.abs(m.heights[1][1] - (m.acknowledged / top) * 100) < 0.01, JSON.stringify(m));
      }
      const chart = page.getByRole('img', { name: /created and acknowledged in each minute/ });
      assert.match(await chart.getAttribute('aria-label'), /: 11 created, 2 acknowledged\./);
      assert.match(await textOf('#ov-minutes-summary'), /: 11 created, 2 acknowledged\.$/);

      // Pending by source: bars as long as their share of the largest, and the table.
      const sourceBars = await page.locator('#ov-sources-chart .source-row').evaluateAll((rs) => rs.map((r) => ({
        source: r.dataset.source,
        pending: Number(r.dataset.pending),
        text: r.textContent,
        width: Number(r.querySelector('rect').getAttribute('width')),
      })));
      assert.deepEqual(sourceBars, [
        { source: 'stats-a', pending: 4, text: 'stats-a4', width: 100 },
        { source: 'stats-b', pending: 3, text: 'stats-b3', width: 75 },
        { source: 'stats-c', pending: 1, text: 'stats-c1', width: 25 },
      ]);
      const sourceTable = await page.locator('#ov-sources-rows tr').evaluateAll((trs) =>
        trs.map((tr) => ({ source: tr.cells[0].textContent, pending: Number(tr.cells[1].textContent) })));
      assert.deepEqual(sourceTable, st.by_source);
      assert.equal(await page.getByRole('img', { name: 'Bar chart of the pending events by source: stats-a 4, stats-b 3, stats-c 1.' }).count(), 1);
      await page.locator('#overview details').evaluateAll((ds) => ds.forEach((x) => { x.open = true; }));
      await page.locator('#overview').screenshot({ path: path.join(ARTIFACTS, '15-overview.png') });
      await page.locator('#overview details').evaluateAll((ds) => ds.forEach((x) => { x.open = false; }));

      // The warning: hidden under the default 5 minutes, shown (role alert)
      // once the threshold is below the oldest age, kept in localStorage
      // over a reload, gone again above it; an invalid value is flagged.
      const warning = page.getByRole('alert').filter({ hasText: 'oldest pending event has waited longer than' });
      assert.equal(await page.inputValue('#ov-threshold'), '5');
      assert.equal(await warning.count(), 0);
      await page.fill('#ov-threshold', '0');
      await eventually('the warning', async () => await warning.isVisible());
      assert.equal(await textOf('#ov-warning'), 'Warning: the oldest pending event has waited longer than 0 s, the threshold set below.');
      // localStorage holds the threshold and nothing else (never the key).
      assert.deepEqual(await page.evaluate(() => ({ ...localStorage })), { 'triggers.dashboard.oldestPendingWarnMinutes': '0' });
      await page.reload();
      assert.equal(await page.inputValue('#ov-threshold'), '0');
      await eventually('the warning after a reload', async () => await warning.isVisible());
      await page.getByLabel('Auto-refresh every 10 s', { exact: true }).uncheck();
      await page.fill('#ov-event-type', TYPE);
      await page.getByRole('button', { name: 'Show statistics' }).click();
      await eventually('the filtered overview again', async () => (await textOf('#ov-pending')) === '8');
      await page.fill('#ov-threshold', '-1');
      assert.equal(await page.getAttribute('#ov-threshold', 'aria-invalid'), 'true');
      assert.match(await textOf('#ov-threshold-hint'), /^Enter a number of minutes/);
      await page.fill('#ov-threshold', '60');
      assert.equal(await page.getAttribute('#ov-threshold', 'aria-invalid'), null);
      await eventually('the warning gone', async () => !(await page.locator('#ov-warning').isVisible()));

      // At phone width: no sideways scrolling, the charts as wide as the screen allows.
      await page.setViewportSize({ width: 375, height: 812 });
      const phone = await page.evaluate(() => ({
        overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
        chart: document.getElementById('ov-minutes-chart').getBoundingClientRect().width,
        bar: document.querySelector('#ov-sources-chart rect').getBoundingClientRect().width,
      }));
      assert.ok(phone.overflow <= 1, `the page is ${phone.overflow}px wider than the screen`);
      assert.ok(phone.chart > 250 && phone.chart <= 375, JSON.stringify(phone));
      assert.ok(phone.bar > 50, JSON.stringify(phone));
      await page.fill('#ov-threshold', '0');
      await eventually('the warning at phone width', async () => await warning.isVisible());
      await page.locator('#overview').screenshot({ path: path.join(ARTIFACTS, '15b-phone-overview.png') });
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.fill('#ov-threshold', '5');

      // The refresh button and the auto-refresh pick up new events.
      mine.push(...await create('stats-b', 1));
      await page.getByRole('button', { name: 'Refresh overview' }).click();
      await eventually('the refreshed counts', async () => (await textOf('#ov-pending')) === '9');
      assert.deepEqual(await page.locator('#ov-sources-chart .source-row').evaluateAll((rs) => rs.map((r) => [r.dataset.source, r.dataset.pending])),
        [['stats-a', '4'], ['stats-b', '4'], ['stats-c', '1']]);
      await page.getByLabel('Auto-refresh every 10 s', { exact: true }).check();
      mine.push(...await create('stats-c', 1));
      await eventually('the counts through auto-refresh', async () => (await textOf('#ov-pending')) === '10', 15000);
    } finally {
      for (const id of mine) assert.equal((await api('DELETE', `/v1/events/${id}`)).status, 200);
      await page.fill('#ov-event-type', '');
      await page.getByRole('button', { name: 'Show statistics' }).click();
    }
  });

  await t.test('429: rate limit exceeded, with the Retry-After time', async () => {
    await useKey(LIMITED_KEY); // one request: 2 of 3 left
    await eventually('the limited key in use', async () => (await textOf('#rate-limit')) === '3 / min');
    let alert = '';
    for (let i = 0; i < 6 && !alert.includes('429'); i++) {
      await page.getByRole('button', { name: 'Refresh', exact: true }).click();
      await sleep(300);
      alert = await textOf('#alert');
    }
    assert.match(alert, /rate limit exceeded \(429 RATE_LIMIT_EXCEEDED\)/);
    assert.match(alert, /This key allows 3 requests per minute\. Retry after \d+ s \(at .+\)\./);
    assert.equal(await textOf('#rate-remaining'), '0');
    assert.match(await textOf('#rate-reset'), /^in \d+ s/);
    await screenshot('07-rate-limited');
  });

  await t.test('403: the client IP the server saw', async () => {
    await useKey(BLOCKED_KEY);
    await eventually('the 403 message', async () => (await textOf('#alert')).includes('403 FORBIDDEN'));
    assert.match(await textOf('#alert'), /The server saw your IP address as 127\.0\.0\.1\./);
    await screenshot('08-forbidden');
  });

  await t.test('401: a key the server does not know', async () => {
    await useKey('not-a-real-key-000000');
    await eventually('the 401 message', async () => (await textOf('#alert')).includes('401 UNAUTHORIZED'));
    await page.getByRole('button', { name: 'Forget key' }).click();
    await eventually('the key forgotten', async () => (await page.evaluate(() => sessionStorage.length)) === 0);
  });

  await t.test('keyboard: skip link first, then the key form', async () => {
    await page.reload();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.className), 'skip-link');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'api-key');
    await page.keyboard.type(DEV_KEY);
    await page.keyboard.press('Enter');
    await eventually('the inbox by keyboard', async () => (await textOf('#status')).startsWith('Page 1'));
  });

  await t.test('usable on a phone-sized screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await filter({ meta: [['team', 'ops'], ['region', 'eu']] });
    await eventually('the inbox', async () => (await rows().count()) > 0);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `the page is ${overflow}px wider than the screen`);
    await page.locator('section[aria-labelledby="filters-heading"]').screenshot({ path: path.join(ARTIFACTS, '09b-phone-filters.png') });
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await eventually('one empty metadata row again', async () => (await metaRows().count()) === 1 && (await metaKeyInput(1).inputValue()) === '');
    // The table turns into cards: the header row is hidden, each cell labelled.
    assert.equal(await page.locator('#inbox thead').evaluate((el) => getComputedStyle(el).position), 'absolute');
    await screenshot('09-phone');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await t.test('webhooks: create a subscription to a local receiver, see signed deliveries in its log, retry a failure, rotate, disable, delete', async () => {
    const created = []; // event ids to delete at the end
    const hookURL = `${receiver.url}/hook`;
    const row = () => page.locator('#wh-rows tr', { hasText: hookURL });
    const logRow = (id) => page.locator(`#wh-log-rows tr[data-event-id="${id}"]`);
    const newEvent = async (n) => {
      const r = await api('POST', '/v1/events', { body: { source: 'webhook-e2e', event_type: 'hook.test', payload: { n, big: 1 }, metadata: {} } });
      assert.equal(r.status, 201, r.text);
      created.push(r.json.event_id);
      return r.json.event_id;
    };
    /** Clicks "Refresh deliveries" until the event's row in the log passes check. */
    const logShows = (what, id, check) => eventually(what, async () => {
      await page.getByRole('button', { name: 'Refresh deliveries' }).click();
      await sleep(150);
      const r = logRow(id);
      if ((await r.count()) !== 1) return false;
      return check({
        status: await r.getAttribute('data-status'),
        codes: await r.locator('ol.attempts li').evaluateAll((lis) => lis.map((li) => li.dataset.statusCode)),
        text: await r.textContent(),
      });
    });
    try {
      await page.getByRole('link', { name: 'Webhooks' }).click();
      await eventually('the empty subscription list', async () => (await textOf('#wh-summary')) === 'No subscriptions.');

      // The API's field error shows next to its field.
      await page.fill('#wh-url', 'ftp://example.invalid/hook');
      await page.getByRole('button', { name: 'Create subscription' }).click();
      await eventually('the url error', async () => !(await page.locator('#wh-url-error').isHidden()));
      assert.match(await textOf('#wh-url-error'), /^url: /);
      assert.equal(await page.getAttribute('#wh-url', 'aria-invalid'), 'true');
      assert.equal(await page.evaluate(() => document.activeElement.id), 'wh-url');
      assert.match(await textOf('#alert'), /\(400 VALIDATION_ERROR\)/);

      // Create through the page: the secret is shown once, with a copy button.
      await page.fill('#wh-url', hookURL);
      await page.fill('#wh-description', 'e2e receiver');
      await page.fill('#wh-source', 'webhook-e2e');
      await page.getByRole('button', { name: 'Create subscription' }).click();
      await eventually('the new secret', async () => !(await page.locator('#wh-secret').isHidden()));
      const secret = await textOf('#wh-secret-value');
      assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
      assert.equal(await page.locator('#wh-url-error').isHidden(), true);
      assert.equal(await row().count(), 1);
      assert.match(await row().textContent(), /active.*source=webhook-e2e.*no/s);
      await screenshot('16-webhook-created');
      await page.getByRole('button', { name: 'Hide secret' }).click();
      assert.equal(await textOf('#wh-secret-value'), '');
      const subs = (await api('GET', '/v1/subscriptions')).json.subscriptions;
      assert.equal(subs.length, 1);
      const subId = subs[0].subscription_id;
      assert.equal(subs[0].secret, undefined);

      // Two events: delivered, signed with that secret, and succeeded in the log.
      const ids = [await newEvent(1), await newEvent(2)];
      for (const id of ids) {
        const got = await eventually(`the delivery of ${id}`, () => receiver.got.find((g) => g.headers['webhook-id'] === id));
        assert.equal(got.status, 200);
        assert.equal(got.headers['content-type'], 'application/json');
        assert.match(got.headers['user-agent'], /^Triggers\//);
        assert.match(got.headers['webhook-timestamp'], /^\d+$/);
        assert.deepEqual(got.headers['webhook-signature'].split(' '), [sign(secret, got)]);
        assert.equal(JSON.parse(got.body).event_id, id);
      }
      await page.getByRole('button', { name: `Deliveries of ${hookURL}` }).click();
      assert.equal(await page.evaluate(() => document.activeElement.id), 'wh-log-heading');
      for (const id of ids) {
        await logShows(`${id} succeeded with 200`, id, (d) => d.status === 'succeeded' && d.codes.join() === '200');
        assert.match(await logRow(id).textContent(), /HTTP 200, [\d.,]+ ms/);
      }

      // The receiver fails: a pending delivery with a failed attempt; retried by hand once it answers 200.
      receiver.status = 500;
      const failing = await newEvent(3);
      await logShows(`${failing} pending after a 500`, failing, (d) => d.status === 'pending' && d.codes[0] === '500');
      assert.match(await logRow(failing).textContent(), /next attempt/);
      await page.selectOption('#wh-log-status', 'pending');
      await page.getByRole('button', { name: 'Show deliveries' }).click();
      await eventually('only the pending delivery', async () => (await page.locator('#wh-log-rows tr').count()) === 1 && (await logRow(failing).count()) === 1);
      await screenshot('17-webhook-failed');
      receiver.status = 200;
      await page.getByRole('button', { name: `Retry the delivery of event ${failing}` }).click();
      await eventually('the retry queued', async () => (await textOf('#status')).includes('queued again'));
      await page.selectOption('#wh-log-status', '');
      await page.getByRole('button', { name: 'Show deliveries' }).click();
      await logShows(`${failing} succeeded after the retry`, failing, (d) => d.status === 'succeeded' && d.codes.at(-1) === '200' && d.codes[0] === '500');
      assert.ok(receiver.got.filter((g) => g.headers['webhook-id'] === failing && g.status === 200).length >= 1);

      // Replay a range: every matching event again.
      await page.fill('#wh-replay-after', await localInput(-60_000));
      await page.getByRole('button', { name: 'Replay' }).click();
      await eventually('the replay result', async () => /^Replay queued 3 deliveries\./.test(await textOf('#wh-replay-result')));

      // Rotate: the new secret is shown, the old one keeps signing beside it for 24 h.
      let question = '';
      page.once('dialog', (d) => { question = d.message(); d.accept(); });
      await page.getByRole('button', { name: `Rotate the secret of ${hookURL}` }).click();
      await eventually('the rotated secret', async () => !(await page.locator('#wh-secret').isHidden()) && (await textOf('#wh-secret-value')) !== '');
      assert.match(question, /old one keeps signing beside it for 24 hours/);
      const rotated = await textOf('#wh-secret-value');
      assert.notEqual(rotated, secret);
      assert.match(await textOf('#wh-secret-note'), /old secret keeps signing beside this one for 24 hours/);
      const after = await newEvent(4);
      const got = await eventually(`the delivery of ${after}`, () => receiver.got.find((g) => g.headers['webhook-id'] === after));
      assert.deepEqual(new Set(got.headers['webhook-signature'].split(' ')), new Set([sign(rotated, got), sign(secret, got)]));
      await page.getByRole('button', { name: 'Hide secret' }).click();
      await page.getByRole('button', { name: `Show the secret of ${hookURL}` }).click();
      await eventually('the secret shown again', async () => (await textOf('#wh-secret-value')) === rotated);
      await page.getByRole('button', { name: 'Hide secret' }).click();

      // Readable at phone width, the log open.
      await page.setViewportSize({ width: 390, height: 844 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 1, `the page is ${overflow}px wider than the screen`);
      assert.equal(await page.locator('#wh-table thead').evaluate((e) => getComputedStyle(e).position), 'absolute');
      await page.locator('#webhooks').screenshot({ path: path.join(ARTIFACTS, '18-webhooks-phone.png') });
      await page.setViewportSize({ width: 1280, height: 900 });

      // Disable, then enable again, by keyboard.
      await page.getByRole('button', { name: `Disable ${hookURL}` }).focus();
      await page.keyboard.press('Enter');
      await eventually('disabled', async () => (await row().locator('td').first().textContent()).startsWith('disabled'));
      assert.equal((await api('GET', `/v1/subscriptions/${subId}`)).json.status, 'disabled');
      assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Enable');
      await page.keyboard.press('Enter');
      await eventually('active again', async () => (await row().locator('td').first().textContent()).startsWith('active'));
      await screenshot('19-webhooks');

      // Delete (confirmed): the row and the open log go.
      page.once('dialog', (d) => d.accept());
      await page.getByRole('button', { name: `Delete ${hookURL}` }).click();
      await eventually('the subscription deleted', async () => (await row().count()) === 0);
      assert.equal(await page.locator('#wh-log').isHidden(), true);
      assert.equal((await api('GET', `/v1/subscriptions/${subId}`)).status, 404);
    } finally {
      receiver.status = 200;
      for (const id of created) await api('DELETE', `/v1/events/${id}`);
    }
  });

  await t.test('nothing left the origin, no CSP violation, no uncaught error', () => {
    assert.deepEqual(offOrigin, []);
    assert.deepEqual(pageErrors, []);
  });
});
