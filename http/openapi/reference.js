'use strict';
// The page is served at /docs: the document and the API are relative to it,
// so it also works behind a path prefix (e.g. an API Gateway stage).
const base = new URL('.', location.href);
const KEY = 'triggers.apiKey';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
let spec;

// el builds an element; attributes starting with "on" are event listeners.
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids.flat(Infinity)) if (k != null && k !== false) e.append(k);
  return e;
}

// md renders the little Markdown the document uses: paragraphs, `code` and **bold**.
function md(text) {
  if (!text) return null;
  return el('div', { class: 'md' }, text.split(/\n\n+/).map(par => el('p', null,
    par.split(/(`[^`]+`|\*\*[^*]+\*\*)/).map(part =>
      part.startsWith('`') && part.length > 1 ? el('code', null, part.slice(1, -1))
        : part.startsWith('**') && part.length > 3 ? el('strong', null, part.slice(2, -2)) : part))));
}

function lookup(ref) {
  return ref.replace(/^#\//, '').split('/')
    .reduce((o, k) => o && o[k.replace(/~1/g, '/').replace(/~0/g, '~')], spec);
}

// deref follows $ref; keywords next to a $ref apply too (OpenAPI 3.1).
function deref(o) {
  for (let i = 0; o && o.$ref && i < 32; i++) {
    const { $ref, ...rest } = o;
    o = { ...lookup($ref), ...rest };
  }
  return o || {};
}

// flat resolves a schema and merges its allOf parts into one schema to show.
function flat(s) {
  s = deref(s);
  if (!s.allOf) return s;
  let out = { ...s };
  delete out.allOf;
  for (const part of s.allOf) out = merge(flat(part), out);
  return out;
}

function merge(a, b) {
  const out = { ...a, ...b };
  if (a.properties && b.properties) {
    out.properties = { ...a.properties };
    for (const [k, v] of Object.entries(b.properties)) {
      out.properties[k] = a.properties[k] ? merge(flat(a.properties[k]), flat(v)) : v;
    }
  }
  if (a.required || b.required) out.required = [...new Set([...(a.required || []), ...(b.required || [])])];
  return out;
}

function typeOf(s) {
  s = flat(s);
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map(v => JSON.stringify(v)).join(' | ');
  let t = s.type || (s.properties ? 'object' : 'any');
  if (Array.isArray(t)) t = t.join(' | ');
  if (t === 'array') return typeOf(s.items || {}) + '[]';
  return s.format ? `${t} (${s.format})` : t;
}

function constraints(s) {
  const c = [];
  const add = (key, label) => { if (s[key] !== undefined) c.push(label + ' ' + JSON.stringify(s[key])); };
  add('minLength', 'min length'); add('maxLength', 'max length'); add('minimum', 'min'); add('maximum', 'max');
  add('minItems', 'min items'); add('maxItems', 'max items'); add('minProperties', 'min fields');
  if (s.pattern) c.push('pattern /' + s.pattern + '/');
  add('default', 'default');
  if (s.examples && s.examples.length) c.push('e.g. ' + JSON.stringify(s.examples[0]));
  if (s.additionalProperties === false || s.unevaluatedProperties === false) c.push('no other fields');
  return c.length ? el('div', { class: 'note' }, c.join(' · ')) : null;
}

// props renders the fields of an object schema (or of an array's items) as a tree.
function props(s, depth) {
  s = flat(s);
  if (s.type === 'array' && s.items) s = flat(s.items);
  const entries = Object.entries(s.properties || {});
  if (!entries.length || depth > 5) return null;
  const required = s.required || [];
  return el('ul', { class: 'props' }, entries.map(([name, p]) => {
    const f = flat(p);
    return el('li', null, el('code', null, name), ' ', el('span', { class: 'type' }, typeOf(f)),
      required.includes(name) ? el('span', { class: 'req' }, 'required') : null,
      md(f.description), constraints(f), props(f, depth + 1));
  }));
}

function schemaView(schema) {
  const s = flat(schema);
  return el('div', null, el('span', { class: 'type' }, typeOf(s)), md(s.description), constraints(s), props(s, 0));
}

function sample(s, depth = 0) {
  s = flat(s);
  if (s.examples && s.examples.length) return s.examples[0];
  for (const k of ['example', 'const', 'default']) if (s[k] !== undefined) return s[k];
  if (s.enum) return s.enum[0];
  const t = Array.isArray(s.type) ? s.type[0] : s.type;
  if (t === 'object' || s.properties) {
    const o = {};
    for (const [k, p] of Object.entries(s.properties || {})) {
      if (depth < 4 && (s.required || []).includes(k)) o[k] = sample(p, depth + 1);
    }
    return o;
  }
  if (t === 'array') return [];
  if (t === 'integer' || t === 'number') return 0;
  if (t === 'boolean') return false;
  return 'string';
}

function bodyExample(media) {
  const ex = Object.values(media.examples || {}).map(deref)[0];
  if (ex && ex.value !== undefined) return ex.value;
  return media.example !== undefined ? media.example : sample(media.schema || {});
}

function needsKey(op) {
  return (op.security || spec.security || []).some(req => Object.keys(req).length > 0);
}

function operationView(path, method, op, pathParams) {
  const params = [...pathParams, ...(op.parameters || [])].map(deref)
    .filter((p, i, all) => all.findLastIndex(q => q.name === p.name && q.in === p.in) === i);
  const body = op.requestBody && deref(op.requestBody);
  const media = body && body.content && (body.content['application/json'] || Object.values(body.content)[0]);
  const parts = [md(op.description),
    el('p', { class: 'note' }, needsKey(op) ? 'Requires an API key (X-API-Key or Authorization: Bearer).' : 'No API key needed.')];
  if (params.length) {
    parts.push(el('h4', null, 'Parameters'), el('table', null,
      el('tr', null, el('th', null, 'Name'), el('th', null, 'In'), el('th', null, 'Type'), el('th', null, 'Description')),
      params.map(p => el('tr', null,
        el('td', null, el('code', null, p.name), p.required ? el('span', { class: 'req' }, 'required') : null),
        el('td', null, p.in), el('td', null, el('span', { class: 'type' }, typeOf(p.schema || {}))),
        el('td', null, md(p.description), constraints(flat(p.schema || {})))))));
  }
  if (media) {
    parts.push(el('h4', null, 'Request body'), schemaView(media.schema || {}));
  }
  parts.push(el('h4', null, 'Responses'));
  for (const [code, ref] of Object.entries(op.responses || {})) {
    const r = deref(ref);
    const headers = Object.entries(r.headers || {}).map(([name, h]) => [name, deref(h)]);
    const content = Object.entries(r.content || {});
    const detail = el('div', null,
      headers.length ? el('div', { class: 'note' }, 'Headers: ', headers.map(([name, h], i) =>
        [i ? ', ' : '', el('code', { title: h.description || '' }, name), h.required ? ' (always)' : ''])) : null,
      content.map(([type, m]) => el('div', null, el('div', { class: 'note' }, type), m.schema ? schemaView(m.schema) : null)));
    parts.push(el('div', { class: 'resp' },
      el('span', { class: 'status s' + code[0] }, code), md(r.description),
      code.startsWith('2') ? detail : el('details', null, el('summary', { class: 'note' }, 'Body and headers'), detail)));
  }
  parts.push(tryView(path, method, op, params, media));
  return el('details', { class: 'op', id: op.operationId || method + path },
    el('summary', null, el('span', { class: 'method ' + method }, method.toUpperCase()),
      el('span', { class: 'path' }, path), el('span', { class: 'summary' }, op.summary || '')),
    el('div', { class: 'body' }, parts));
}

// tryView is the "try it" form: it sends the request from the browser.
function tryView(path, method, op, params, media) {
  const inputs = params.filter(p => ['path', 'query', 'header'].includes(p.in)).map(p => {
    const s = flat(p.schema || {});
    const input = el('input', { required: p.required && p.in === 'path', placeholder: String(s.examples ? s.examples[0] : s.default !== undefined ? s.default : p.example !== undefined ? p.example : '') });
    if (p.in === 'query' && p.name.includes('{key}')) {
      // A parameter whose name holds a field name (metadata.{key}): one
      // input for the field name, one for the value.
      const keyInput = el('input', { placeholder: 'user_id', class: 'half', 'aria-label': 'metadata key' });
      input.className = 'half';
      input.setAttribute('aria-label', 'metadata value');
      return { p, input, keyInput, label: el('label', null, el('span', null, `${p.name} (${p.in}): key, then value`), keyInput, input) };
    }
    return { p, input, label: el('label', null, el('span', null, `${p.name} (${p.in})`), input) };
  });
  const textarea = media ? el('textarea', { spellcheck: 'false' }, JSON.stringify(bodyExample(media), null, 2)) : null;
  const out = el('div');
  async function send(ev) {
    ev.preventDefault();
    let url = path;
    const query = new URLSearchParams();
    const headers = {};
    for (const { p, input, keyInput } of inputs) {
      const v = input.value.trim();
      if (keyInput) { if (keyInput.value.trim()) query.append(p.name.replace('{key}', keyInput.value.trim()), v); continue; }
      if (p.in === 'path') url = url.replace('{' + p.name + '}', encodeURIComponent(v));
      else if (v && p.in === 'query') query.append(p.name, v);
      else if (v && p.in === 'header') headers[p.name] = v;
    }
    const key = document.getElementById('apikey').value.trim();
    if (key && needsKey(op)) headers['X-API-Key'] = key;
    const init = { method: method.toUpperCase(), headers };
    if (textarea) { headers['Content-Type'] = 'application/json'; init.body = textarea.value; }
    const target = new URL(url.replace(/^\//, '') + (query.toString() ? '?' + query : ''), base);
    out.replaceChildren(el('p', { class: 'note' }, `${init.method} ${target.pathname}${target.search} …`));
    try {
      const started = performance.now();
      const resp = await fetch(target, init);
      const text = await resp.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { if (text.length > 4000) shown = text.slice(0, 4000) + '\n…'; }
      const extra = ['X-Request-ID', 'Idempotent-Replayed', 'X-RateLimit-Remaining', 'Retry-After']
        .filter(h => resp.headers.get(h)).map(h => el('div', { class: 'note' }, h + ': ', el('code', null, resp.headers.get(h))));
      out.replaceChildren(
        el('p', null, el('span', { class: 'status s' + String(resp.status)[0] }, String(resp.status)), ' ', resp.statusText,
          el('span', { class: 'note' }, ` · ${init.method} ${target.pathname}${target.search} · ${Math.round(performance.now() - started)} ms`)),
        ...extra, el('pre', null, shown));
    } catch (e) {
      out.replaceChildren(el('p', { class: 'error' }, 'Request failed: ' + e.message));
    }
  }
  return el('form', { class: 'try', onsubmit: send }, el('strong', null, 'Try it'),
    inputs.map(i => i.label), textarea, el('p', null, el('button', { type: 'submit' }, 'Send')), out);
}

function render() {
  document.title = spec.info.title + ' reference';
  const title = document.getElementById('title');
  title.replaceChildren(spec.info.title, el('span', { class: 'version' }, 'v' + spec.info.version));
  const nav = document.getElementById('nav');
  const main = document.getElementById('main');
  main.replaceChildren(md(spec.info.description) || '');
  const groups = new Map((spec.tags || []).map(t => [t.name, { tag: t, ops: [] }]));
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const name = (op.tags && op.tags[0]) || 'Other';
      if (!groups.has(name)) groups.set(name, { tag: { name }, ops: [] });
      groups.get(name).ops.push([path, method, op, item.parameters || []]);
    }
  }
  for (const { tag, ops } of groups.values()) {
    if (!ops.length) continue;
    nav.append(el('h3', null, tag.name));
    main.append(el('h2', { id: 'tag-' + tag.name }, tag.name), md(tag.description));
    for (const [path, method, op, pathParams] of ops) {
      const view = operationView(path, method, op, pathParams);
      nav.append(el('a', { href: '#' + view.id, title: op.summary || '' },
        el('span', { class: 'method ' + method }, method.toUpperCase()), ' ', path));
      main.append(view);
    }
  }
  openHash();
}

function openHash() {
  const target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
  if (target && target.tagName === 'DETAILS') { target.open = true; target.scrollIntoView(); }
}

function setupKey() {
  const input = document.getElementById('apikey');
  try { input.value = localStorage.getItem(KEY) || ''; } catch (e) { /* storage disabled */ }
  input.addEventListener('input', () => {
    try { input.value ? localStorage.setItem(KEY, input.value) : localStorage.removeItem(KEY); } catch (e) { /* ignore */ }
  });
}

setupKey();
window.addEventListener('hashchange', openHash);
fetch(new URL('openapi.json', base))
  .then(r => { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
  .then(doc => { spec = doc; render(); })
  .catch(e => document.getElementById('main').replaceChildren(
    el('p', { class: 'error' }, 'Could not load openapi.json: ' + e.message)));
