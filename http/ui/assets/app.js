// The Triggers dashboard: an overview first (the inbox's counts, the age of
// its oldest pending event with a warning past a threshold the user sets,
// charts of created vs acknowledged per minute and of pending by source),
// then the inbox with filters and paging (pending events with
// their attempts and lease state, or dead letters), event details,
// acknowledge, delete and redrive (one or in bulk), a test-event editor, and
// the key's rate-limit state, and the Webhooks view (webhooks.js). Plain ES
// modules, no build step (docs/DASHBOARD.md).
import { ApiError, chunks, createClient } from './api.js';
import { drawPerMinute, sourceRows } from './charts.js';
import { parseLossless, stringifyPretty } from './json.js';
import { setupWebhooks } from './webhooks.js';

const KEY_STORAGE = 'triggers.dashboard.apiKey';
const THRESHOLD_STORAGE = 'triggers.dashboard.oldestPendingWarnMinutes';
const THRESHOLD_DEFAULT = 5; // minutes
const OVERVIEW_EVERY = 10; // seconds between the overview's automatic refreshes
const METADATA_KEY = /^[A-Za-z0-9_.-]{1,64}$/;
const METADATA_MAX = 10; // conditions per request (docs/API.md §3.8)
const METADATA_VALUE_MAX = 256; // characters
const EXAMPLE_EVENT = {
  source: 'dashboard',
  event_type: 'test.event',
  payload: { message: 'Hello from the dashboard', amount: 42 },
  metadata: { priority: 'normal' },
};

const $ = (id) => document.getElementById(id);

/** Builds an element: el('td', {className: 'id'}, 'text', child, ...). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('aria-') || k === 'datetime' || k === 'scope') node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// ---- state ----------------------------------------------------------------

const state = {
  key: '',
  view: 'pending', // which events the inbox lists: 'pending' or 'dead' (GET /v1/inbox?status=)
  filters: null, // the applied filters (query pairs without limit/cursor)
  limit: 25,
  cursors: [null], // cursors[i] is the cursor of page i (null: the first)
  page: 0,
  nextCursor: null,
  events: [],
  selected: new Set(),
  loadSeq: 0,
  rate: null,
  retryUntil: 0, // no auto-refresh before this time (after a 429)
  autoTimer: null,
  detailsId: null,
  detailsOpener: null,
  overview: {
    filters: [], // the applied source and event_type (query pairs)
    data: null, // the last answer of GET /v1/stats
    loadedAt: 0,
    note: '', // why the numbers shown are not fresh, when they are not
    seq: 0,
    threshold: THRESHOLD_DEFAULT, // minutes: warn when the oldest pending event is older
    timer: null,
  },
};

function readKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) || '';
  } catch {
    return '';
  }
}

const api = createClient({ getKey: () => state.key, onRateLimit: showRateLimit });

// ---- status, errors, rate limit --------------------------------------------

let statusTimer = 0;

function setStatus(text) {
  // Clearing first makes screen readers announce a repeated message again.
  window.clearTimeout(statusTimer);
  $('status').textContent = '';
  if (text) statusTimer = window.setTimeout(() => { $('status').textContent = text; }, 30);
}

function clearAlert() {
  const a = $('alert');
  a.hidden = true;
  a.replaceChildren();
}

function showAlert(...lines) {
  setStatus(''); // an older success message would contradict the alert
  const a = $('alert');
  a.replaceChildren(...lines.filter(Boolean).map((l) => (typeof l === 'string' ? el('p', {}, l) : l)));
  a.hidden = false;
}

function timeOf(ms) {
  return new Date(ms).toLocaleTimeString();
}

/** Shows an API error with what the user can do about it. */
function showError(err, doing) {
  if (!(err instanceof ApiError)) {
    showAlert(`${doing} failed: ${err && err.message ? err.message : err}`);
    return;
  }
  const rid = err.requestId ? `Request ID: ${err.requestId}` : '';
  const head = (text) => el('p', {}, el('span', { className: 'code' }, text));
  switch (err.status) {
    case 0:
      showAlert(head(`${doing} failed: the server could not be reached.`), err.message);
      return;
    case 401:
      showAlert(head(`${doing} failed: the API key was refused (401 UNAUTHORIZED).`),
        `${err.message}. Check the key: it may be mistyped, revoked or expired.`, rid);
      return;
    case 403: {
      const ip = err.details && err.details.client_ip ? String(err.details.client_ip) : 'unknown';
      showAlert(head(`${doing} failed: this API key may not be used from your IP address (403 FORBIDDEN).`),
        `The server saw your IP address as ${ip}. Ask the key's administrator to add it to the key's IP allowlist.`, rid);
      return;
    }
    case 429: {
      const fromBody = Number(err.details && err.details.retry_after);
      const retry = err.retryAfter ?? (Number.isFinite(fromBody) && fromBody > 0 ? fromBody : 1);
      const limit = err.details && err.details.limit;
      state.retryUntil = Date.now() + retry * 1000;
      showAlert(head(`${doing} failed: rate limit exceeded (429 RATE_LIMIT_EXCEEDED).`),
        `This key allows ${limit ?? '?'} requests per minute. Retry after ${retry} s (at ${timeOf(state.retryUntil)}).`
          + (state.autoTimer ? ' Auto-refresh waits until then.' : ''), rid);
      return;
    }
    default: {
      const fields = err.details && Array.isArray(err.details.fields) ? err.details.fields : [];
      const list = fields.length
        ? el('ul', {}, ...fields.map((f) => el('li', {}, `${f.field}: ${f.message}`)))
        : null;
      showAlert(head(`${doing} failed (${err.status} ${err.code}).`), err.message, list, rid);
    }
  }
}

function showRateLimit(rate) {
  state.rate = rate;
  renderRate();
}

function renderRate() {
  const r = state.rate;
  if (!r) {
    $('rate-limit').textContent = '–';
    $('rate-remaining').textContent = '–';
    $('rate-reset').textContent = '–';
    $('rate-remaining').classList.remove('exhausted');
    return;
  }
  $('rate-limit').textContent = `${r.limit} / min`;
  $('rate-remaining').textContent = String(r.remaining);
  $('rate-remaining').classList.toggle('exhausted', r.remaining === 0);
  const secs = Math.ceil((r.resetAt - Date.now()) / 1000);
  $('rate-reset').textContent = secs > 0 ? `in ${secs} s (at ${timeOf(r.resetAt)})` : 'now';
}

// ---- overview --------------------------------------------------------------

/** A number of seconds, readable: "42 s", "3 min 5 s", "2 h 10 min", "3 d 4 h". */
function fmtAge(total) {
  const s = Math.max(0, Math.round(total));
  const pair = (a, ua, b, ub) => (b ? `${a} ${ua} ${b} ${ub}` : `${a} ${ua}`);
  if (s < 60) return `${s} s`;
  if (s < 3600) return pair(Math.floor(s / 60), 'min', s % 60, 's');
  if (s < 86400) return pair(Math.floor(s / 3600), 'h', Math.floor(s / 60) % 60, 'min');
  return pair(Math.floor(s / 86400), 'd', Math.floor(s / 3600) % 24, 'h');
}

/** A minute of the per-minute counts in local time, e.g. "14:05". */
function fmtMinute(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** The warning threshold typed in, in minutes; null unless a number of at least 0. */
function parseThreshold(text) {
  const t = String(text ?? '').trim();
  const n = Number(t);
  return t && Number.isFinite(n) && n >= 0 ? n : null;
}

function readThreshold() {
  try {
    return parseThreshold(localStorage.getItem(THRESHOLD_STORAGE)) ?? THRESHOLD_DEFAULT;
  } catch {
    return THRESHOLD_DEFAULT;
  }
}

/** Reads the overview's filter form into query pairs. */
function overviewQuery() {
  const query = [];
  const source = $('ov-source').value.trim();
  const type = $('ov-event-type').value.trim();
  if (source) query.push(['source', source]);
  if (type) query.push(['event_type', type]);
  return query;
}

/**
 * Loads GET /v1/stats for the overview's filters; returns whether it did.
 * A quiet load (auto-refresh, after a change) that fails keeps the numbers
 * shown and says so in the overview only; any other failure is an alert.
 */
async function loadOverview({ quiet = false } = {}) {
  const ov = state.overview;
  if (!state.key) {
    renderOverview();
    return false;
  }
  const seq = ++ov.seq;
  $('overview').setAttribute('aria-busy', 'true');
  try {
    const { data } = await api.request('GET', '/v1/stats', { query: ov.filters });
    if (seq !== ov.seq) return false;
    ov.data = data;
    ov.loadedAt = Date.now();
    ov.note = '';
    renderOverview();
    return true;
  } catch (err) {
    if (seq !== ov.seq) return false;
    if (quiet) {
      if (err instanceof ApiError && err.status === 429) state.retryUntil = Date.now() + (err.retryAfter ?? 1) * 1000;
      ov.note = `The refresh at ${timeOf(Date.now())} failed (${err.code || err.message})`
        + (ov.data ? `: these numbers are from ${timeOf(ov.loadedAt)}.` : '.');
    } else {
      ov.data = null;
      ov.note = 'The overview could not be loaded: see the message above.';
      showError(err, 'Loading the overview');
    }
    renderOverview();
    return false;
  } finally {
    if (seq === ov.seq) $('overview').removeAttribute('aria-busy');
  }
}

function renderOverview() {
  const ov = state.overview;
  const d = state.key ? ov.data : null;
  const approx = d && d.approximate ? '≈ ' : '';
  for (const [id, n] of [['ov-pending', d && d.pending], ['ov-leased', d && d.leased], ['ov-dead', d && d.dead]]) {
    $(id).textContent = d ? `${approx}${Number(n).toLocaleString()}` : '–';
  }
  $('ov-approx').hidden = !approx;
  const oldest = $('ov-oldest');
  const iso = d && d.oldest_pending_created_at;
  if (!d) oldest.replaceChildren('–');
  else if (!iso) oldest.replaceChildren('nothing pending');
  else oldest.replaceChildren(fmtAge(d.oldest_pending_age_seconds), el('span', { className: 'since' }, 'created ', timeEl(iso, fmtShort(iso))));
  oldest.dataset.seconds = d ? String(d.oldest_pending_age_seconds) : '';
  let updated = ov.note || (d ? `Updated at ${timeOf(ov.loadedAt)}.` : '');
  if (!state.key) updated = 'Enter an API key above to see the overview.';
  $('ov-updated').textContent = updated;
  renderWarning();
  renderPerMinute(d ? d.per_minute : []);
  renderSources(d ? d.by_source : null);
}

/**
 * Shows the warning while the oldest pending event is older than the
 * threshold. Its text names the threshold, not the age, so that a refresh
 * does not make screen readers announce it again.
 */
function renderWarning() {
  const ov = state.overview;
  const d = state.key ? ov.data : null;
  const limit = ov.threshold * 60;
  const over = !!(d && d.oldest_pending_created_at && d.oldest_pending_age_seconds > limit);
  const text = over ? `Warning: the oldest pending event has waited longer than ${fmtAge(limit)}, the threshold set below.` : '';
  const w = $('ov-warning');
  if (w.textContent !== text) w.textContent = text;
  w.hidden = !over;
}

function renderPerMinute(minutes) {
  const chart = $('ov-minutes-chart');
  const top = drawPerMinute(chart, minutes, (m) => `${fmtMinute(m.minute)}: ${m.created} created, ${m.acknowledged} acknowledged`);
  $('ov-y-top').textContent = String(top);
  $('ov-y-mid').textContent = String(top / 2);
  const first = minutes.length ? fmtMinute(minutes[0].minute) : '';
  const last = minutes.length ? fmtMinute(minutes[minutes.length - 1].minute) : '';
  $('ov-x-first').textContent = first;
  $('ov-x-last').textContent = last;
  let summary = 'No statistics loaded.';
  if (minutes.length) {
    const created = minutes.reduce((n, m) => n + m.created, 0);
    const acked = minutes.reduce((n, m) => n + m.acknowledged, 0);
    summary = `From ${first} to ${last}: ${created} created, ${acked} acknowledged.`;
  }
  $('ov-minutes-summary').textContent = summary;
  chart.setAttribute('aria-label', minutes.length
    ? `Bar chart of the events created and acknowledged in each minute. ${summary} The table below lists every minute.`
    : summary);
  $('ov-minutes-rows').replaceChildren(...minutes.map((m) => el('tr', { dataset: { minute: m.minute } },
    el('th', { scope: 'row' }, timeEl(m.minute, fmtMinute(m.minute))),
    el('td', {}, String(m.created)),
    el('td', {}, String(m.acknowledged)))));
}

/** The pending-by-source bars; sources is null when nothing is loaded. */
function renderSources(sources) {
  const list = sources || [];
  const chart = $('ov-sources-chart');
  chart.replaceChildren(...sourceRows($('ov-minutes-chart').namespaceURI, list));
  chart.setAttribute('aria-label', list.length
    ? `Bar chart of the pending events by source: ${list.map((s) => `${s.source} ${s.pending}`).join(', ')}.`
    : (sources ? 'No pending events.' : 'No statistics loaded.'));
  $('ov-sources-empty').hidden = !sources || list.length > 0;
  $('ov-sources-rows').replaceChildren(...list.map((s) => el('tr', { dataset: { source: s.source } },
    el('th', { scope: 'row' }, s.source),
    el('td', {}, String(s.pending)))));
}

/** Takes the threshold input: a valid one is kept in the browser (local storage) and applied at once. */
function onThresholdInput() {
  const input = $('ov-threshold');
  const v = parseThreshold(input.value);
  if (v === null) {
    input.setAttribute('aria-invalid', 'true');
    $('ov-threshold-hint').textContent = 'Enter a number of minutes, 0 or more (e.g. 0.5 for 30 s).';
    return;
  }
  input.removeAttribute('aria-invalid');
  state.overview.threshold = v;
  $('ov-threshold-hint').textContent = `Kept in this browser: warn after ${fmtAge(v * 60)}.`;
  try {
    localStorage.setItem(THRESHOLD_STORAGE, String(v));
  } catch {
    // Storage refused (private mode): the threshold lasts until the page is closed.
  }
  renderWarning();
}

function setOverviewAuto(on) {
  const ov = state.overview;
  if (ov.timer) window.clearInterval(ov.timer);
  ov.timer = null;
  if (!on) return;
  ov.timer = window.setInterval(() => {
    if (!state.key || document.hidden || Date.now() < state.retryUntil) return;
    loadOverview({ quiet: true });
  }, OVERVIEW_EVERY * 1000);
}

/** After an action that changes the inbox: the inbox and the overview again, quietly. */
async function reloadQuietly() {
  await Promise.all([loadInbox({ quiet: true }), loadOverview({ quiet: true })]);
}

// ---- filters and inbox -----------------------------------------------------

let metaSeq = 0; // makes every row's input ids unique

/** Adds an empty metadata condition row (at most METADATA_MAX); returns its key input. */
function addMetaRow() {
  const list = $('meta-rows');
  if (list.children.length >= METADATA_MAX) return null;
  const n = ++metaSeq;
  const key = el('input', { id: `f-meta-key-${n}`, type: 'text', className: 'meta-key', maxLength: 64, autocomplete: 'off', spellcheck: false });
  const value = el('input', { id: `f-meta-value-${n}`, type: 'text', className: 'meta-value', maxLength: METADATA_VALUE_MAX, autocomplete: 'off', spellcheck: false });
  const remove = el('button', { type: 'button', className: 'meta-remove', textContent: 'Remove' });
  const row = el('li', { className: 'meta-row' },
    el('div', { className: 'field' },
      el('label', { htmlFor: key.id }, 'Key', el('span', { className: 'visually-hidden meta-n' })), key),
    el('div', { className: 'field' },
      el('label', { htmlFor: value.id }, 'Value', el('span', { className: 'visually-hidden meta-n' })), value),
    remove);
  remove.addEventListener('click', () => {
    // Focus goes to the row that takes this one's place, or the add button.
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    renumberMetaRows();
    (next ? next.querySelector('.meta-key') : $('meta-add')).focus();
  });
  list.append(row);
  renumberMetaRows();
  return key;
}

/** Names every row's controls by its position and enables the add button while there is room. */
function renumberMetaRows() {
  const rows = [...$('meta-rows').children];
  rows.forEach((row, i) => {
    for (const s of row.querySelectorAll('.meta-n')) s.textContent = ` of condition ${i + 1}`;
    row.querySelector('.meta-remove').setAttribute('aria-label', `Remove metadata condition ${i + 1}`);
  });
  $('meta-add').disabled = rows.length >= METADATA_MAX;
  $('meta-count').textContent = rows.length >= METADATA_MAX
    ? `${METADATA_MAX} of ${METADATA_MAX} conditions: the most one request can take.`
    : `${rows.length} of ${METADATA_MAX} conditions.`;
}

/** Back to one empty metadata row. */
function resetMetaRows() {
  $('meta-rows').replaceChildren();
  addMetaRow();
}

/** Reads the metadata rows into query pairs; problems go to invalid as [input id, message]. */
function readMetaRows(query, invalid) {
  const seen = new Map(); // key -> condition number
  [...$('meta-rows').children].forEach((row, i) => {
    const keyInput = row.querySelector('.meta-key');
    const valueInput = row.querySelector('.meta-value');
    keyInput.removeAttribute('aria-invalid');
    valueInput.removeAttribute('aria-invalid');
    const k = keyInput.value.trim();
    const v = valueInput.value;
    const n = i + 1;
    if (!k && !v.trim()) return; // an empty row is ignored
    if (!k) {
      invalid.push([keyInput.id, `Metadata condition ${n}: the value has no key; enter its key or clear the value.`]);
    } else if (!METADATA_KEY.test(k)) {
      invalid.push([keyInput.id, `Metadata condition ${n}: the key must be 1 to 64 letters, digits, "_", "." or "-" (no spaces).`]);
    } else if (seen.has(k)) {
      invalid.push([keyInput.id, `Metadata condition ${n}: the key "${k}" is already used by condition ${seen.get(k)}; each key may be used once.`]);
    } else if ([...v].length > METADATA_VALUE_MAX) {
      invalid.push([valueInput.id, `Metadata condition ${n}: the value must be at most ${METADATA_VALUE_MAX} characters.`]);
    } else {
      seen.set(k, n);
      query.push([`metadata.${k}`, v]);
    }
  });
}

/** Reads the filter form; returns {query, limit} or throws a message. */
function readFilters() {
  const query = [];
  const invalid = [];
  for (const id of ['f-source', 'f-event-type', 'f-after', 'f-before']) {
    $(id).removeAttribute('aria-invalid');
  }
  const source = $('f-source').value.trim();
  const type = $('f-event-type').value.trim();
  if (source) query.push(['source', source]);
  if (type) query.push(['event_type', type]);
  if ($('f-priority').value) query.push(['priority', $('f-priority').value]);
  const after = $('f-after').value;
  const before = $('f-before').value;
  const afterDate = after ? new Date(after) : null;
  const beforeDate = before ? new Date(before) : null;
  if (afterDate && Number.isNaN(afterDate.getTime())) invalid.push(['f-after', 'Created after is not a valid date and time.']);
  if (beforeDate && Number.isNaN(beforeDate.getTime())) invalid.push(['f-before', 'Created before is not a valid date and time.']);
  if (afterDate && beforeDate && afterDate >= beforeDate) invalid.push(['f-after', 'Created after must be earlier than created before.']);
  if (afterDate && !invalid.length) query.push(['created_after', afterDate.toISOString()]);
  if (beforeDate && !invalid.length) query.push(['created_before', beforeDate.toISOString()]);
  readMetaRows(query, invalid);
  if (invalid.length) {
    for (const [id] of invalid) $(id).setAttribute('aria-invalid', 'true');
    const err = new Error(invalid.map(([, m]) => m).join(' '));
    err.field = invalid[0][0];
    throw err;
  }
  return { query, limit: Number($('f-limit').value) };
}

function hideBulkResult() {
  $('bulk-result').hidden = true;
  $('bulk-result').replaceChildren();
}

function applyFilters() {
  let f;
  try {
    f = readFilters();
  } catch (err) {
    showAlert('The filters are not valid.', err.message);
    $(err.field).focus();
    return;
  }
  state.filters = f.query;
  state.limit = f.limit;
  state.cursors = [null];
  state.page = 0;
  state.selected.clear();
  hideBulkResult();
  loadInbox();
}

/** Switches the inbox between pending events and dead letters, back to the first page. */
function setView(view) {
  if (view === state.view) return;
  state.view = view;
  state.cursors = [null];
  state.page = 0;
  state.events = [];
  state.nextCursor = null;
  state.selected.clear();
  hideBulkResult();
  renderView();
  loadInbox();
}

/** The parts of the inbox that say which events it lists. */
function renderView() {
  const dead = state.view === 'dead';
  $('inbox-caption').textContent = dead ? 'Dead events, oldest first' : 'Pending events, oldest first';
  $('empty').textContent = dead ? 'No dead events match these filters.' : 'No pending events match these filters.';
  $('bulk-redrive').hidden = !dead;
}

/** Loads the current page; quiet loads (auto-refresh) announce nothing on success. */
async function loadInbox({ quiet = false } = {}) {
  if (!state.key) {
    renderNoKey();
    return;
  }
  const seq = ++state.loadSeq;
  const query = [['limit', String(state.limit)], ...(state.filters || [])];
  if (state.view === 'dead') query.push(['status', 'dead']);
  const cursor = state.cursors[state.page];
  if (cursor) query.push(['cursor', cursor]);
  $('inbox').setAttribute('aria-busy', 'true');
  try {
    const { data } = await api.request('GET', '/v1/inbox', { query });
    if (seq !== state.loadSeq) return;
    state.events = data.events || [];
    state.nextCursor = (data.pagination && data.pagination.next_cursor) || null;
    const ids = new Set(state.events.map((e) => e.event_id));
    for (const id of state.selected) if (!ids.has(id)) state.selected.delete(id);
    if (!quiet) clearAlert();
    renderInbox();
    if (!quiet) setStatus(summaryText());
  } catch (err) {
    if (seq !== state.loadSeq) return;
    if (!(quiet && err instanceof ApiError && err.status === 429)) {
      state.events = [];
      state.nextCursor = null;
      state.selected.clear();
      renderInbox(true);
    }
    showError(err, 'Loading the inbox');
  } finally {
    if (seq === state.loadSeq) $('inbox').removeAttribute('aria-busy');
  }
}

function summaryText() {
  const n = state.events.length;
  const kind = state.view === 'dead' ? 'dead' : 'pending';
  if (n === 0) return state.page === 0 ? `The inbox has no ${kind} events matching the filters.` : 'This page is empty.';
  return `Page ${state.page + 1}: ${n} ${kind} event${n === 1 ? '' : 's'}${state.nextCursor ? '; more on the next page' : ''}.`;
}

function renderNoKey() {
  state.events = [];
  state.nextCursor = null;
  renderInbox();
  $('inbox-summary').textContent = 'Enter an API key above to see the inbox.';
  $('empty').hidden = true;
}

function fmtTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** A local time, with its date only when it is not today. */
function fmtShort(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
}

/** A timestamp as a <time> element: local time shown, the API's UTC value as its title. */
function timeEl(iso, text) {
  return el('time', { datetime: iso, title: iso }, text);
}

/**
 * Where an event stands, as [text before a time, timestamp or null, text after]:
 * dead since when; leased until when (the API shows lease_expires_at only
 * while a lease is held); else not leased, with the end of a nack delay when
 * the event carries an available_at still ahead. The API's event object has
 * no available_at today, so a nacked event waiting out its delay reads "Not
 * leased" rather than "Available", which would promise what the page cannot
 * see.
 */
function leaseState(e, now = Date.now()) {
  if (e.status === 'dead') return e.dead_at ? ['Dead since ', e.dead_at, ''] : ['Dead', null, ''];
  if (e.status === 'acknowledged') return ['Acknowledged', null, ''];
  if (e.lease_expires_at) return ['Leased until ', e.lease_expires_at, ''];
  const avail = e.available_at ? new Date(e.available_at).getTime() : NaN;
  if (avail > now) return ['Not leased; available after ', e.available_at, ' (nack delay)'];
  return ['Not leased', null, ''];
}

function leaseStateNodes(e, fmt) {
  const [head, iso, tail] = leaseState(e);
  return [head, iso ? timeEl(iso, fmt(iso)) : null, tail || null];
}

/** The lease line of the details dialog: what leaseState says, with the API's timestamp. */
function leaseDetail(ev) {
  if (ev.status !== 'pending') return ['–'];
  const [head, iso, tail] = leaseState(ev);
  if (!iso) return [head];
  return [head, timeEl(iso, fmtTime(iso)), `${tail} (${iso})`];
}

/** The attempts of an event as the API gives them (0 when absent, as for an event never received). */
function attemptsOf(e) {
  return String(e.attempts ?? 0);
}

function renderInbox(failed = false) {
  const rows = state.events.map((e) => {
    const id = e.event_id;
    const prio = (e.metadata && e.metadata.priority) || 'normal';
    const box = el('input', { type: 'checkbox', checked: state.selected.has(id), 'aria-label': `Select event ${id}` });
    box.addEventListener('change', () => {
      if (box.checked) state.selected.add(id);
      else state.selected.delete(id);
      renderSelection();
    });
    const details = el('button', { type: 'button', textContent: 'Details', 'aria-label': `Details of event ${id}` });
    details.addEventListener('click', () => openDetails(id, details));
    const ack = el('button', { type: 'button', textContent: 'Acknowledge', 'aria-label': `Acknowledge event ${id}` });
    ack.addEventListener('click', () => ackOne(id));
    const del = el('button', { type: 'button', className: 'danger', textContent: 'Delete', 'aria-label': `Delete event ${id}` });
    del.addEventListener('click', () => deleteOne(id));
    let redrive = null;
    if (e.status === 'dead') {
      redrive = el('button', { type: 'button', textContent: 'Redrive', 'aria-label': `Redrive event ${id}` });
      redrive.addEventListener('click', () => redriveOne(id));
    }
    const stateClass = e.status === 'dead' ? 'dead' : (e.lease_expires_at ? 'leased' : 'available');
    return el('tr', { dataset: { eventId: id } },
      el('td', {}, box),
      el('td', { dataset: { label: 'Created' } }, timeEl(e.created_at, fmtTime(e.created_at))),
      el('td', { dataset: { label: 'Source' } }, e.source),
      el('td', { dataset: { label: 'Event type' } }, e.event_type),
      el('td', { dataset: { label: 'Priority' }, className: `prio-${prio}` }, String(prio)),
      el('td', { dataset: { label: 'Attempts' }, className: 'attempts' }, attemptsOf(e)),
      el('td', { dataset: { label: 'State' }, className: `state state-${stateClass}` }, ...leaseStateNodes(e, fmtShort)),
      el('td', { dataset: { label: 'Event ID' }, className: 'id mono' }, id),
      el('td', {}, el('div', { className: 'actions' }, details, redrive, ack, del)));
  });
  $('inbox-rows').replaceChildren(...rows);
  $('inbox').hidden = rows.length === 0;
  $('empty').hidden = rows.length !== 0 || failed || !state.key;
  $('inbox-summary').textContent = failed ? 'The inbox could not be loaded: see the message above.' : (state.key ? summaryText() : '');
  $('page-label').textContent = `Page ${state.page + 1}`;
  $('first-page').disabled = state.page === 0;
  $('prev-page').disabled = state.page === 0;
  $('next-page').disabled = !state.nextCursor;
  renderSelection();
}

function renderSelection() {
  const n = state.selected.size;
  $('bulk-redrive').disabled = n === 0;
  $('bulk-ack').disabled = n === 0;
  $('bulk-delete').disabled = n === 0;
  $('bulk-redrive').textContent = n ? `Redrive selected (${n})` : 'Redrive selected';
  $('bulk-ack').textContent = n ? `Acknowledge selected (${n})` : 'Acknowledge selected';
  $('bulk-delete').textContent = n ? `Delete selected (${n})` : 'Delete selected';
  const all = $('select-all');
  const onPage = state.events.filter((e) => state.selected.has(e.event_id)).length;
  all.checked = onPage > 0 && onPage === state.events.length;
  all.indeterminate = onPage > 0 && onPage < state.events.length;
}

// ---- acknowledge and delete ------------------------------------------------

/** Whether the listed event id is leased by a worker as far as the last load knows. */
function leasedNow(id) {
  const e = state.events.find((x) => x.event_id === id);
  return !!(e && e.lease_expires_at && Date.parse(e.lease_expires_at) > Date.now());
}

const LEASED_ACK_NOTE = 'a worker holds its lease and may be processing it: once acknowledged here, '
  + "the worker's own acknowledgement or nack of it fails with a conflict.";

async function ackOne(id) {
  if (leasedNow(id) && !window.confirm(`Event ${id} is leased: ${LEASED_ACK_NOTE} Acknowledge it anyway?`)) return;
  try {
    const { data } = await api.request('POST', `/v1/events/${encodeURIComponent(id)}/ack`);
    clearAlert();
    setStatus(`Event ${id} acknowledged at ${fmtTime(data.acknowledged_at)}.`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) {
      showAlert(`Event ${id} was already acknowledged.`);
    } else {
      showError(err, `Acknowledging event ${id}`);
      return;
    }
  }
  state.selected.delete(id);
  await reloadQuietly();
  $('inbox-heading').focus();
}

async function deleteOne(id) {
  if (!window.confirm(`Delete event ${id}? This cannot be undone.`)) return;
  try {
    await api.request('DELETE', `/v1/events/${encodeURIComponent(id)}`);
    clearAlert();
    setStatus(`Event ${id} deleted.`);
  } catch (err) {
    showError(err, `Deleting event ${id}`);
    return;
  }
  state.selected.delete(id);
  await reloadQuietly();
  $('inbox-heading').focus();
}

/**
 * Redrives one dead event (POST /v1/events/{id}/redrive): it becomes pending
 * and available again with 0 attempts, so it leaves the dead-letter list.
 */
async function redriveOne(id) {
  try {
    const { data } = await api.request('POST', `/v1/events/${encodeURIComponent(id)}/redrive`);
    clearAlert();
    setStatus(`Event ${id} redriven: ${data.status} again, with ${data.attempts ?? 0} attempts.`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) {
      showAlert(`Event ${id} is not dead any more: it was redriven or acknowledged already.`,
        err.requestId ? `Request ID: ${err.requestId}` : '');
    } else {
      showError(err, `Redriving event ${id}`);
      return;
    }
  }
  state.selected.delete(id);
  await reloadQuietly();
  $('inbox-heading').focus();
}

// The bulk operations on the selected events.
const BULK = {
  ack: { path: '/v1/events/bulk/ack', verb: 'Acknowledged', doing: 'Acknowledging the selected events' },
  delete: { path: '/v1/events/bulk/delete', verb: 'Deleted', doing: 'Deleting the selected events' },
  redrive: { path: '/v1/events/bulk/redrive', verb: 'Redrove', doing: 'Redriving the selected events' },
};

/** An item's error for the bulk result: code, the conflict's reason when there is one, message. */
function itemError(error) {
  const reason = error.details && error.details.reason ? ` (${error.details.reason})` : '';
  return `${error.code}${reason} – ${error.message}`;
}

/** Acknowledges, deletes or redrives the selected events, 25 per request, and shows every item's failure. */
async function bulk(op) {
  const ids = [...state.selected];
  if (ids.length === 0) return;
  const { path, verb, doing } = BULK[op];
  if (op === 'delete' && !window.confirm(`Delete ${ids.length} selected event${ids.length === 1 ? '' : 's'}? This cannot be undone.`)) return;
  const leased = op === 'ack' ? ids.filter(leasedNow).length : 0;
  if (leased && !window.confirm(`${leased} of the selected events ${leased === 1 ? 'is' : 'are'} leased: for each, ${LEASED_ACK_NOTE} Acknowledge them anyway?`)) return;
  const ok = [];
  const failed = [];
  let stopped = null;
  for (const chunk of chunks(ids, 25)) {
    try {
      const { data } = await api.request('POST', path, { body: { event_ids: chunk } });
      for (const s of data.successful) ok.push(chunk[s.index]);
      for (const f of data.failed) failed.push({ id: chunk[f.index], error: f.error });
    } catch (err) {
      stopped = err;
      break;
    }
  }
  const box = $('bulk-result');
  const done = ok.length + failed.length;
  const lines = [el('p', {}, `${verb} ${ok.length} of ${ids.length} selected event${ids.length === 1 ? '' : 's'}.`
    + (failed.length ? ` ${failed.length} failed:` : ''))];
  if (failed.length) {
    lines.push(el('ul', {}, ...failed.map((f) =>
      el('li', {}, el('span', { className: 'mono' }, f.id), `: ${itemError(f.error)}`))));
  }
  if (stopped) lines.push(el('p', {}, `${ids.length - done} not attempted: the request failed (see the message above).`));
  box.replaceChildren(...lines);
  box.classList.toggle('has-failures', failed.length > 0 || !!stopped);
  box.hidden = false;
  for (const id of ok) state.selected.delete(id);
  if (stopped) {
    showError(stopped, doing);
  } else {
    clearAlert();
    setStatus(`${verb} ${ok.length} of ${ids.length} selected events; ${failed.length} failed.`);
  }
  await reloadQuietly();
  box.focus();
}

// ---- details ---------------------------------------------------------------

async function openDetails(id, opener) {
  let resp;
  try {
    resp = await api.request('GET', `/v1/events/${encodeURIComponent(id)}`, { raw: true });
  } catch (err) {
    showError(err, `Reading event ${id}`);
    return;
  }
  // Parsed again losslessly: every digit of every number, members in order.
  const ev = parseLossless(resp.text);
  state.detailsId = id;
  state.detailsOpener = opener || null;
  $('details-heading').textContent = `Event ${ev.event_type} from ${ev.source}`;
  $('d-id').textContent = ev.event_id;
  $('d-status').textContent = ev.status;
  $('d-created').textContent = `${fmtTime(ev.created_at)} (${ev.created_at})`;
  $('d-acked').textContent = ev.acknowledged_at ? `${fmtTime(ev.acknowledged_at)} (${ev.acknowledged_at})` : '–';
  $('d-attempts').textContent = ev.attempts === undefined ? '0' : String(ev.attempts);
  $('d-lease').replaceChildren(...leaseDetail(ev));
  $('d-dead').textContent = ev.dead_at ? `${fmtTime(ev.dead_at)} (${ev.dead_at})` : '–';
  $('d-source').textContent = ev.source;
  $('d-type').textContent = ev.event_type;
  $('d-payload').textContent = stringifyPretty(ev.payload);
  $('d-metadata').textContent = stringifyPretty(ev.metadata);
  // A dead event can be acknowledged too (the work was done after all).
  $('d-ack').disabled = ev.status === 'acknowledged';
  $('d-redrive').hidden = ev.status !== 'dead';
  const dlg = $('details');
  if (!dlg.open) dlg.showModal();
  $('d-close').focus();
}

function closeDetails() {
  const dlg = $('details');
  if (dlg.open) dlg.close();
}

// ---- send an event ---------------------------------------------------------

/** Validates the editor's JSON; returns an error message or '' when it is fine. */
function checkEventJSON() {
  const ta = $('event-json');
  const out = $('event-json-check');
  let msg = '';
  let value;
  try {
    value = JSON.parse(ta.value);
  } catch (err) {
    msg = `Invalid JSON: ${err.message}`;
  }
  if (!msg && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    msg = 'The event must be a JSON object with source, event_type and payload.';
  }
  if (!msg) {
    const missing = ['source', 'event_type', 'payload'].filter((k) => !(k in value));
    if (missing.length) msg = `The event needs ${missing.join(', ')}.`;
  }
  if (msg) {
    ta.setAttribute('aria-invalid', 'true');
    out.textContent = msg;
    out.className = 'hint bad';
  } else {
    ta.removeAttribute('aria-invalid');
    out.textContent = 'Valid JSON.';
    out.className = 'hint ok';
  }
  return msg;
}

async function sendEvent() {
  const msg = checkEventJSON();
  if (msg) {
    showAlert('The event was not sent.', msg);
    $('event-json').focus();
    return;
  }
  if (!state.key) {
    showAlert('Enter an API key first.');
    $('api-key').focus();
    return;
  }
  try {
    // The text as typed: numbers keep every digit.
    const { data, headers } = await api.request('POST', '/v1/events', { body: $('event-json').value });
    clearAlert();
    const replay = headers.get('Idempotent-Replayed') === 'true' ? ' (idempotent replay of an earlier create)' : '';
    setStatus(`Event created: ${data.event_id}${replay}.`);
  } catch (err) {
    showError(err, 'Sending the event');
    return;
  }
  await reloadQuietly();
}

// ---- auto-refresh ----------------------------------------------------------

function setAutoRefresh(on) {
  if (state.autoTimer) window.clearInterval(state.autoTimer);
  state.autoTimer = null;
  if (on) {
    const secs = Number($('auto-interval').value);
    state.autoTimer = window.setInterval(() => {
      if (document.hidden || Date.now() < state.retryUntil || $('details').open) return;
      loadInbox({ quiet: true });
    }, secs * 1000);
    setStatus(`Auto-refresh on, every ${secs} s.`);
  } else {
    setStatus('Auto-refresh off.');
  }
}

// ---- wiring ----------------------------------------------------------------

let webhooks; // the Webhooks view (webhooks.js), set up by init

function init() {
  state.key = readKey();
  webhooks = setupWebhooks({
    api, $, el, showError, showAlert, clearAlert, setStatus, fmtTime, fmtShort, timeEl,
    hasKey: () => !!state.key,
  });
  state.filters = [];
  state.limit = Number($('f-limit').value);
  // The view radio the browser may have restored on a reload.
  state.view = $('view-dead').checked ? 'dead' : 'pending';
  renderView();
  resetMetaRows();
  if (state.key) $('api-key').value = state.key;
  // The overview's filters and auto-refresh as the browser may have restored them on a reload.
  state.overview.filters = overviewQuery();
  state.overview.threshold = readThreshold();
  $('ov-threshold').value = String(state.overview.threshold);
  $('event-json').value = JSON.stringify(EXAMPLE_EVENT, null, 2);
  checkEventJSON();

  $('key-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const key = $('api-key').value.trim();
    if (!key) {
      $('api-key').setAttribute('aria-invalid', 'true');
      showAlert('Enter an API key.');
      $('api-key').focus();
      return;
    }
    $('api-key').removeAttribute('aria-invalid');
    state.key = key;
    try {
      sessionStorage.setItem(KEY_STORAGE, key);
    } catch {
      // Storage refused (private mode): the key lives until the page is closed.
    }
    state.cursors = [null];
    state.page = 0;
    state.selected.clear();
    state.rate = null;
    state.retryUntil = 0;
    hideBulkResult();
    state.overview.data = null;
    state.overview.note = '';
    renderOverview();
    renderRate();
    clearAlert();
    setStatus('API key set for this tab.');
    webhooks.clear();
    loadOverview();
    loadInbox();
    webhooks.load({ quiet: true });
  });
  $('forget-key').addEventListener('click', () => {
    state.key = '';
    try {
      sessionStorage.removeItem(KEY_STORAGE);
    } catch {
      // nothing stored
    }
    $('api-key').value = '';
    state.rate = null;
    state.selected.clear();
    hideBulkResult();
    renderRate();
    clearAlert();
    renderNoKey();
    renderOverview();
    webhooks.clear();
    setStatus('API key forgotten.');
    $('api-key').focus();
  });

  $('ov-filters').addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.overview.filters = overviewQuery();
    loadOverview();
  });
  $('ov-refresh').addEventListener('click', async () => {
    if (await loadOverview()) setStatus(`Overview updated at ${timeOf(state.overview.loadedAt)}.`);
  });
  $('ov-auto').addEventListener('change', () => setOverviewAuto($('ov-auto').checked));
  $('ov-threshold').addEventListener('input', onThresholdInput);

  $('filters').addEventListener('submit', (ev) => {
    ev.preventDefault();
    applyFilters();
  });
  $('meta-add').addEventListener('click', () => {
    const key = addMetaRow();
    if (key) key.focus();
  });
  $('reset-filters').addEventListener('click', () => {
    $('filters').reset();
    resetMetaRows();
    applyFilters();
  });

  $('refresh').addEventListener('click', () => loadInbox());
  $('auto-refresh').addEventListener('change', () => setAutoRefresh($('auto-refresh').checked));
  $('auto-interval').addEventListener('change', () => {
    if ($('auto-refresh').checked) setAutoRefresh(true);
  });
  $('select-all').addEventListener('change', () => {
    for (const e of state.events) {
      if ($('select-all').checked) state.selected.add(e.event_id);
      else state.selected.delete(e.event_id);
    }
    renderInbox();
  });
  for (const radio of document.querySelectorAll('input[name="inbox-view"]')) {
    radio.addEventListener('change', () => {
      if (radio.checked) setView(radio.value);
    });
  }
  $('bulk-redrive').addEventListener('click', () => bulk('redrive'));
  $('bulk-ack').addEventListener('click', () => bulk('ack'));
  $('bulk-delete').addEventListener('click', () => bulk('delete'));

  $('first-page').addEventListener('click', () => {
    state.page = 0;
    loadInbox();
  });
  $('prev-page').addEventListener('click', () => {
    if (state.page > 0) state.page--;
    loadInbox();
  });
  $('next-page').addEventListener('click', () => {
    if (!state.nextCursor) return;
    state.cursors[state.page + 1] = state.nextCursor;
    state.cursors.length = state.page + 2;
    state.page++;
    loadInbox();
  });

  $('send-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sendEvent();
  });
  $('event-json').addEventListener('input', checkEventJSON);
  $('format-json').addEventListener('click', () => {
    try {
      $('event-json').value = stringifyPretty(parseLossless($('event-json').value));
    } catch (err) {
      showAlert('The JSON cannot be formatted.', `Invalid JSON: ${err.message}`);
    }
    checkEventJSON();
  });
  $('example-json').addEventListener('click', () => {
    $('event-json').value = JSON.stringify(EXAMPLE_EVENT, null, 2);
    checkEventJSON();
  });

  $('d-close').addEventListener('click', closeDetails);
  $('d-redrive').addEventListener('click', async () => {
    const id = state.detailsId;
    closeDetails();
    await redriveOne(id);
  });
  $('d-ack').addEventListener('click', async () => {
    const id = state.detailsId;
    closeDetails();
    await ackOne(id);
  });
  $('d-delete').addEventListener('click', async () => {
    const id = state.detailsId;
    closeDetails();
    await deleteOne(id);
  });
  $('details').addEventListener('close', () => {
    const opener = state.detailsOpener;
    state.detailsOpener = null;
    if (opener && opener.isConnected) opener.focus();
  });

  window.setInterval(renderRate, 1000);
  setOverviewAuto($('ov-auto').checked);
  renderOverview();
  if (state.key) {
    loadOverview();
    loadInbox();
    webhooks.load({ quiet: true });
  } else {
    renderNoKey();
    webhooks.clear();
  }
}

init();
