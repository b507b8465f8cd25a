// The dashboard's Webhooks view (DESIGN §11, docs/DASHBOARD.md): the key's
// subscriptions (status, url, filter, ack_on_delivery), a create form that
// shows the API's field errors next to their fields, the signing secret
// (shown once after a create or a rotation, again on request, never
// stored), rotate, disable/enable and delete, and per subscription its
// delivery log (status filter, paging, every attempt) with retry and a
// replay of a time range. app.js wires it in with the helpers it shares.

const LOG_LIMIT = 10; // deliveries per page
const LIST_LIMIT = 20; // subscriptions per page (a tenant has at most 20 by default)
const ROTATION_OVERLAP_MS = 24 * 3600 * 1000; // the old secret keeps signing this long (DESIGN §11.1)

// The create form's fields by the API's field name (details.fields[].field);
// filter.metadata.{key} goes to the metadata conditions.
const FORM_FIELDS = {
  url: 'wh-url',
  description: 'wh-description',
  filter: 'wh-meta',
  'filter.source': 'wh-source',
  'filter.event_type': 'wh-event-type',
  'filter.priority': 'wh-priority',
  'filter.metadata': 'wh-meta',
  ack_on_delivery: 'wh-ack',
};

/** The create form's input for an API field name, or '' when it has none. */
export function formFieldFor(field) {
  if (FORM_FIELDS[field]) return FORM_FIELDS[field];
  if (field.startsWith('filter.metadata.') || field.startsWith('filter.metadata[')) return 'wh-meta';
  return '';
}

/**
 * Reads the metadata conditions, one key=value per line (empty lines
 * ignored); returns {metadata} or {error}. The key is checked by the API.
 */
export function parseMetaLines(text) {
  const metadata = {};
  const lines = String(text).split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) return { error: `Line ${i + 1} is not key=value.` };
    const k = line.slice(0, eq).trim();
    if (k in metadata) return { error: `Line ${i + 1}: the key "${k}" is given twice.` };
    metadata[k] = line.slice(eq + 1).trim();
  }
  return { metadata };
}

/** A filter as one line: "source=a, event_type=b, metadata.k=v", or "every event". */
export function filterSummary(filter) {
  const f = filter || {};
  const parts = [];
  for (const k of ['source', 'event_type', 'priority']) if (f[k]) parts.push(`${k}=${f[k]}`);
  for (const [k, v] of Object.entries(f.metadata || {})) parts.push(`metadata.${k}=${v}`);
  return parts.length ? parts.join(', ') : 'every event';
}

/** One attempt as text: its result (status code or error) and latency. */
export function attemptResult(a) {
  const result = a.status_code !== undefined && a.status_code !== 0 ? `HTTP ${a.status_code}` : `error: ${a.error || 'no response'}`;
  return `${result}, ${Number(a.latency_ms).toLocaleString(undefined, { maximumFractionDigits: 1 })} ms`;
}

/** A datetime-local value as an ISO instant, '' when empty, null when invalid. */
function isoOfLocal(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/**
 * Sets up the view. ctx holds app.js's helpers: api, $, el, hasKey,
 * showError, showAlert, clearAlert, setStatus, fmtTime, fmtShort, timeEl.
 * Returns {load, clear}: load lists the subscriptions, clear forgets
 * everything shown (the key was forgotten or changed).
 */
export function setupWebhooks(ctx) {
  const { api, $, el, showError, showAlert, clearAlert, setStatus, fmtTime, fmtShort, timeEl } = ctx;
  const st = {
    subs: [],
    cursors: [null],
    page: 0,
    nextCursor: null,
    seq: 0,
    log: null, // {id, url, cursors, page, nextCursor, status, eventId, seq}
  };
  const path = (id, rest = '') => `/v1/subscriptions/${encodeURIComponent(id)}${rest}`;

  // ---- the secret ----------------------------------------------------------

  /** Shows a secret: intro says whose and why, note what to know about it. */
  function showSecret(secret, intro, note) {
    $('wh-secret-intro').textContent = intro;
    $('wh-secret-value').textContent = secret;
    $('wh-secret-note').textContent = note;
    $('wh-secret').hidden = false;
    $('wh-secret').focus();
  }

  function hideSecret() {
    $('wh-secret').hidden = true;
    $('wh-secret-value').textContent = '';
    $('wh-secret-intro').textContent = '';
    $('wh-secret-note').textContent = '';
  }

  async function copySecret() {
    const secret = $('wh-secret-value').textContent;
    try {
      await navigator.clipboard.writeText(secret);
      setStatus('Secret copied to the clipboard.');
    } catch {
      // No clipboard (permission, older browser): select it for the user to copy.
      const range = document.createRange();
      range.selectNodeContents($('wh-secret-value'));
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      $('wh-secret-value').focus();
      setStatus('The clipboard is not available: the secret is selected, copy it with Ctrl+C (⌘C).');
    }
  }

  async function revealSecret(sub, opener) {
    try {
      const { data } = await api.request('GET', path(sub.subscription_id, '/secret'));
      clearAlert();
      showSecret(data.secret, `The signing secret of ${sub.url}.`,
        'Keep it private: anyone who has it can sign requests your receiver will trust.');
    } catch (err) {
      showError(err, 'Showing the secret');
      if (opener) opener.focus();
    }
  }

  // ---- the list ------------------------------------------------------------

  async function load({ quiet = false } = {}) {
    if (!ctx.hasKey()) {
      clear();
      return;
    }
    const seq = ++st.seq;
    const query = [['limit', String(LIST_LIMIT)]];
    const cursor = st.cursors[st.page];
    if (cursor) query.push(['cursor', cursor]);
    $('wh-table').setAttribute('aria-busy', 'true');
    try {
      const { data } = await api.request('GET', '/v1/subscriptions', { query });
      if (seq !== st.seq) return;
      st.subs = data.subscriptions || [];
      st.nextCursor = (data.pagination && data.pagination.next_cursor) || null;
      render();
      if (!quiet) setStatus($('wh-summary').textContent);
    } catch (err) {
      if (seq !== st.seq) return;
      st.subs = [];
      st.nextCursor = null;
      render(true);
      showError(err, 'Loading the subscriptions');
    } finally {
      if (seq === st.seq) $('wh-table').removeAttribute('aria-busy');
    }
  }

  function summary() {
    const n = st.subs.length;
    if (n === 0) return st.page === 0 ? 'No subscriptions.' : 'This page is empty.';
    const active = st.subs.filter((s) => s.status === 'active').length;
    return `${n} subscription${n === 1 ? '' : 's'}${st.page ? ` on page ${st.page + 1}` : ''}: ${active} active, ${n - active} disabled${st.nextCursor ? '; more on the next page' : ''}.`;
  }

  function button(text, label, onClick, className = '') {
    const b = el('button', { type: 'button', textContent: text, 'aria-label': label, className });
    b.addEventListener('click', () => onClick(b));
    return b;
  }

  function render(failed = false) {
    const rows = st.subs.map((s) => {
      const id = s.subscription_id;
      const active = s.status === 'active';
      const failing = s.failing_since
        ? el('span', { className: 'failing' }, ' failing since ', timeEl(s.failing_since, fmtShort(s.failing_since)))
        : null;
      return el('tr', { dataset: { subscriptionId: id } },
        el('td', { dataset: { label: 'Status' }, className: `sub-status sub-${s.status}` }, s.status, failing),
        el('td', { dataset: { label: 'URL' }, className: 'url' },
          el('span', { className: 'mono' }, s.url),
          s.description ? el('span', { className: 'description' }, s.description) : null),
        el('td', { dataset: { label: 'Filter' }, className: 'filter' }, filterSummary(s.filter)),
        el('td', { dataset: { label: 'Ack on delivery' } }, s.ack_on_delivery ? 'yes' : 'no'),
        el('td', { dataset: { label: 'Created' } }, timeEl(s.created_at, fmtShort(s.created_at))),
        el('td', {}, el('div', { className: 'actions' },
          button('Deliveries', `Deliveries of ${s.url}`, () => openLog(s)),
          button('Show secret', `Show the secret of ${s.url}`, (b) => revealSecret(s, b)),
          button('Rotate secret', `Rotate the secret of ${s.url}`, (b) => rotate(s, b)),
          button(active ? 'Disable' : 'Enable', `${active ? 'Disable' : 'Enable'} ${s.url}`, (b) => setStatusOf(s, active ? 'disabled' : 'active', b), 'toggle'),
          button('Delete', `Delete ${s.url}`, (b) => remove(s, b), 'danger'))));
    });
    $('wh-rows').replaceChildren(...rows);
    $('wh-table').hidden = rows.length === 0;
    $('wh-empty').hidden = rows.length !== 0 || failed || !ctx.hasKey();
    $('wh-summary').textContent = failed ? 'The subscriptions could not be loaded: see the message above.'
      : (ctx.hasKey() ? summary() : 'Enter an API key above to see its webhook subscriptions.');
    $('wh-first-page').disabled = st.page === 0;
    $('wh-next-page').disabled = !st.nextCursor;
  }

  /** Forgets everything shown: the list, the delivery log and any secret. */
  function clear() {
    st.subs = [];
    st.cursors = [null];
    st.page = 0;
    st.nextCursor = null;
    st.seq++;
    hideSecret();
    closeLog(false);
    render();
  }

  // ---- actions on a subscription ----------------------------------------

  async function rotate(sub, opener) {
    if (!window.confirm(`Rotate the signing secret of ${sub.url}? A new secret signs from now on; `
      + 'the old one keeps signing beside it for 24 hours, so the receiver can switch in that time.')) return;
    try {
      const { data } = await api.request('POST', path(sub.subscription_id, '/rotate-secret'));
      clearAlert();
      const until = new Date(Date.now() + ROTATION_OVERLAP_MS).toISOString();
      showSecret(data.secret, `The new signing secret of ${sub.url}.`,
        `The old secret keeps signing beside this one for 24 hours (until about ${fmtTime(until)}): `
        + 'each delivery carries both signatures until then. Give the receiver the new secret before that.');
      setStatus(`Secret of ${sub.url} rotated.`);
    } catch (err) {
      showError(err, 'Rotating the secret');
      opener.focus();
    }
  }

  async function setStatusOf(sub, status, opener) {
    const id = sub.subscription_id;
    try {
      await api.request('PATCH', path(id), { body: { status } });
      clearAlert();
      setStatus(status === 'disabled'
        ? `${sub.url} disabled: new matching events are not delivered to it, and its pending deliveries wait.`
        : `${sub.url} enabled.`);
    } catch (err) {
      showError(err, status === 'disabled' ? 'Disabling the subscription' : 'Enabling the subscription');
      opener.focus();
      return;
    }
    await load({ quiet: true });
    // The row's toggle is a new button now: focus it again.
    const row = $('wh-rows').querySelector(`tr[data-subscription-id="${CSS.escape(id)}"]`);
    const again = row && row.querySelector('button.toggle');
    if (again) again.focus();
  }

  async function remove(sub, opener) {
    const id = sub.subscription_id;
    if (!window.confirm(`Delete the subscription to ${sub.url}? Its deliveries stop and its log is removed. This cannot be undone.`)) return;
    try {
      await api.request('DELETE', path(id));
      clearAlert();
      setStatus(`Subscription to ${sub.url} deleted.`);
    } catch (err) {
      showError(err, 'Deleting the subscription');
      opener.focus();
      return;
    }
    if (st.log && st.log.id === id) closeLog(false);
    await load({ quiet: true });
    $('webhooks-heading').focus();
  }

  // ---- the create form ---------------------------------------------------

  function clearFieldErrors() {
    for (const id of new Set(Object.values(FORM_FIELDS))) {
      $(id).removeAttribute('aria-invalid');
      const out = $(`${id}-error`);
      out.textContent = '';
      out.hidden = true;
    }
  }

  /** Shows errors ([input id, message]) next to their fields; focuses the first. */
  function showFieldErrors(errors) {
    const byId = new Map();
    for (const [id, msg] of errors) byId.set(id, [...(byId.get(id) || []), msg]);
    for (const [id, msgs] of byId) {
      $(id).setAttribute('aria-invalid', 'true');
      const out = $(`${id}-error`);
      out.textContent = msgs.join(' ');
      out.hidden = false;
    }
    if (errors.length) $(errors[0][0]).focus();
  }

  async function create() {
    clearFieldErrors();
    if (!ctx.hasKey()) {
      showAlert('Enter an API key first.');
      $('api-key').focus();
      return;
    }
    const meta = parseMetaLines($('wh-meta').value);
    if (meta.error) {
      showAlert('The subscription was not created.', `Metadata conditions: ${meta.error}`);
      showFieldErrors([['wh-meta', meta.error]]);
      return;
    }
    const filter = {};
    const source = $('wh-source').value.trim();
    const type = $('wh-event-type').value.trim();
    if (source) filter.source = source;
    if (type) filter.event_type = type;
    if ($('wh-priority').value) filter.priority = $('wh-priority').value;
    if (Object.keys(meta.metadata).length) filter.metadata = meta.metadata;
    const body = { url: $('wh-url').value.trim(), filter, ack_on_delivery: $('wh-ack').checked };
    const description = $('wh-description').value.trim();
    if (description) body.description = description;
    let data;
    try {
      ({ data } = await api.request('POST', '/v1/subscriptions', { body }));
    } catch (err) {
      showError(err, 'Creating the subscription');
      const fields = err.details && Array.isArray(err.details.fields) ? err.details.fields : [];
      showFieldErrors(fields.map((f) => [formFieldFor(f.field), `${f.field}: ${f.message}`]).filter(([id]) => id));
      return;
    }
    clearAlert();
    $('wh-form').reset();
    st.cursors = [null];
    st.page = 0;
    await load({ quiet: true });
    setStatus(`Subscription to ${data.url} created.`);
    showSecret(data.secret, `Subscription to ${data.url} created. Its signing secret:`,
      'Copy it into your receiver now to verify the webhook-signature header; "Show secret" in its row shows it again.');
  }

  // ---- the delivery log ----------------------------------------------------

  function openLog(sub) {
    st.log = { id: sub.subscription_id, url: sub.url, cursors: [null], page: 0, nextCursor: null, status: '', eventId: '', seq: 0, deliveries: [] };
    $('wh-log-status').value = '';
    $('wh-log-event').value = '';
    $('wh-log-heading').textContent = `Deliveries of ${sub.description || sub.url}`;
    $('wh-log-url').textContent = sub.url;
    $('wh-replay-result').textContent = '';
    $('wh-log').hidden = false;
    $('wh-log-heading').focus();
    loadLog();
  }

  function closeLog(focus = true) {
    st.log = null;
    $('wh-log').hidden = true;
    $('wh-log-rows').replaceChildren();
    if (focus) $('webhooks-heading').focus();
  }

  async function loadLog({ quiet = false } = {}) {
    const log = st.log;
    if (!log || !ctx.hasKey()) return;
    const seq = ++log.seq;
    const query = [['limit', String(LOG_LIMIT)]];
    if (log.status) query.push(['status', log.status]);
    if (log.eventId) query.push(['event_id', log.eventId]);
    const cursor = log.cursors[log.page];
    if (cursor) query.push(['cursor', cursor]);
    $('wh-log-table').setAttribute('aria-busy', 'true');
    try {
      const { data } = await api.request('GET', path(log.id, '/deliveries'), { query });
      if (st.log !== log || seq !== log.seq) return;
      log.deliveries = data.deliveries || [];
      log.nextCursor = (data.pagination && data.pagination.next_cursor) || null;
      renderLog();
      if (!quiet) setStatus($('wh-log-summary').textContent);
    } catch (err) {
      if (st.log !== log || seq !== log.seq) return;
      log.deliveries = [];
      log.nextCursor = null;
      renderLog(true);
      showError(err, 'Loading the deliveries');
    } finally {
      if (st.log === log && seq === log.seq) $('wh-log-table').removeAttribute('aria-busy');
    }
  }

  function logSummary() {
    const log = st.log;
    const n = log.deliveries.length;
    if (n === 0) return log.page === 0 ? 'No deliveries match.' : 'This page is empty.';
    const count = (s) => log.deliveries.filter((d) => d.status === s).length;
    return `Page ${log.page + 1}: ${n} deliver${n === 1 ? 'y' : 'ies'} (${count('succeeded')} succeeded, `
      + `${count('pending')} pending, ${count('failed')} failed)${log.nextCursor ? '; more on the next page' : ''}.`;
  }

  function renderLog(failed = false) {
    const log = st.log;
    const rows = log.deliveries.map((d) => {
      const id = d.event_id;
      const attempts = (d.attempts || []).map((a, i) => el('li', {
        className: a.status_code >= 200 && a.status_code < 300 ? 'ok' : 'bad',
        dataset: { statusCode: a.status_code ? String(a.status_code) : '' },
      }, `${i + 1}. `, timeEl(a.at, fmtShort(a.at)), ` – ${attemptResult(a)}`));
      const next = d.status === 'pending' && d.next_attempt_at
        ? el('span', { className: 'next' }, ' next attempt ', timeEl(d.next_attempt_at, fmtShort(d.next_attempt_at)))
        : null;
      const retry = button('Retry', `Retry the delivery of event ${id}`, (b) => retryDelivery(id, b));
      return el('tr', { dataset: { eventId: id, status: d.status } },
        el('td', { dataset: { label: 'Event ID' }, className: 'id mono' }, id),
        el('td', { dataset: { label: 'Status' }, className: `delivery-status delivery-${d.status}` }, d.status, next),
        el('td', { dataset: { label: 'Attempts' } }, attempts.length
          ? el('ol', { className: 'attempts' }, ...attempts)
          : el('span', { className: 'hint' }, 'none yet')),
        el('td', {}, el('div', { className: 'actions' }, retry)));
    });
    $('wh-log-rows').replaceChildren(...rows);
    $('wh-log-table').hidden = rows.length === 0;
    $('wh-log-empty').hidden = rows.length !== 0 || failed;
    $('wh-log-summary').textContent = failed ? 'The deliveries could not be loaded: see the message above.' : logSummary();
    $('wh-log-page').textContent = `Page ${log.page + 1}`;
    $('wh-log-first').disabled = log.page === 0;
    $('wh-log-prev').disabled = log.page === 0;
    $('wh-log-next').disabled = !log.nextCursor;
  }

  async function retryDelivery(eventId, opener) {
    const log = st.log;
    try {
      await api.request('POST', path(log.id, `/deliveries/${encodeURIComponent(eventId)}/retry`));
      clearAlert();
      setStatus(`Delivery of event ${eventId} queued again: it is attempted now.`);
    } catch (err) {
      showError(err, `Retrying the delivery of event ${eventId}`);
      opener.focus();
      return;
    }
    await loadLog({ quiet: true });
    const row = $('wh-log-rows').querySelector(`tr[data-event-id="${CSS.escape(eventId)}"] button`);
    (row || $('wh-log-heading')).focus();
  }

  async function replay() {
    const log = st.log;
    for (const id of ['wh-replay-after', 'wh-replay-before']) {
      $(id).removeAttribute('aria-invalid');
      $(`${id}-error`).hidden = true;
    }
    const after = isoOfLocal($('wh-replay-after').value);
    const before = isoOfLocal($('wh-replay-before').value);
    const bad = [];
    if (!after) bad.push(['wh-replay-after', after === null ? 'Not a valid date and time.' : 'Required: the start of the range.']);
    if (before === null) bad.push(['wh-replay-before', 'Not a valid date and time.']);
    if (after && before && after >= before) bad.push(['wh-replay-after', 'Must be earlier than created before.']);
    if (bad.length) {
      for (const [id, msg] of bad) {
        $(id).setAttribute('aria-invalid', 'true');
        $(`${id}-error`).textContent = msg;
        $(`${id}-error`).hidden = false;
      }
      $(bad[0][0]).focus();
      return;
    }
    const body = { created_after: after };
    if (before) body.created_before = before;
    try {
      const { data } = await api.request('POST', path(log.id, '/replay'), { body });
      clearAlert();
      let text = `Replay queued ${data.queued} deliver${data.queued === 1 ? 'y' : 'ies'}.`;
      if (data.next_created_after) {
        text += ` The range holds more: replay again from ${fmtTime(data.next_created_after)}.`;
        $('wh-replay-after').value = localInputOf(data.next_created_after);
      }
      $('wh-replay-result').textContent = text;
    } catch (err) {
      showError(err, 'Replaying');
      return;
    }
    await loadLog({ quiet: true });
  }

  /** An ISO instant as a datetime-local value in the browser's time zone. */
  function localInputOf(iso) {
    const d = new Date(iso);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  // ---- wiring --------------------------------------------------------------

  $('wh-secret-copy').addEventListener('click', copySecret);
  $('wh-secret-hide').addEventListener('click', () => {
    hideSecret();
    $('webhooks-heading').focus();
  });
  $('wh-refresh').addEventListener('click', () => load());
  $('wh-first-page').addEventListener('click', () => {
    st.page = 0;
    load();
  });
  $('wh-next-page').addEventListener('click', () => {
    if (!st.nextCursor) return;
    st.cursors[st.page + 1] = st.nextCursor;
    st.cursors.length = st.page + 2;
    st.page++;
    load();
  });
  $('wh-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    create();
  });
  $('wh-log-filters').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!st.log) return;
    st.log.status = $('wh-log-status').value;
    st.log.eventId = $('wh-log-event').value.trim();
    st.log.cursors = [null];
    st.log.page = 0;
    loadLog();
  });
  $('wh-log-refresh').addEventListener('click', () => loadLog());
  $('wh-log-close').addEventListener('click', () => closeLog());
  $('wh-log-first').addEventListener('click', () => {
    st.log.page = 0;
    loadLog();
  });
  $('wh-log-prev').addEventListener('click', () => {
    if (st.log.page > 0) st.log.page--;
    loadLog();
  });
  $('wh-log-next').addEventListener('click', () => {
    const log = st.log;
    if (!log.nextCursor) return;
    log.cursors[log.page + 1] = log.nextCursor;
    log.cursors.length = log.page + 2;
    log.page++;
    loadLog();
  });
  $('wh-replay').addEventListener('submit', (ev) => {
    ev.preventDefault();
    replay();
  });

  return { load, clear };
}
