// Lossless JSON: the API keeps every digit of a number (12345678901234567890
// stays that, 0.10 stays 0.10) and the order of object members, so the
// dashboard shows payloads exactly as stored. JSON.parse would round large
// integers to doubles and reorder integer-like keys; this parser keeps each
// number's text and each object's member order.

/** A JSON number kept as its source text. */
export class JSONNumber {
  constructor(raw) { this.raw = raw; }
  valueOf() { return Number(this.raw); }
  toString() { return this.raw; }
}

const ORDER = Symbol('member order');

/** Parses JSON text; numbers become JSONNumber, objects remember member order. */
export function parseLossless(text) {
  let i = 0;
  const fail = (msg) => { throw new SyntaxError(`${msg} at position ${i}`); };
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const stringRe = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
  const numberRe = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const string = () => {
    stringRe.lastIndex = i;
    const m = stringRe.exec(text);
    if (!m) fail('invalid string');
    i = stringRe.lastIndex;
    return JSON.parse(m[0]);
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = {};
      const order = [];
      Object.defineProperty(obj, ORDER, { value: order });
      ws();
      if (text[i] === '}') { i++; return obj; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a member name');
        const k = string();
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        const v = value();
        if (!Object.prototype.hasOwnProperty.call(obj, k)) order.push(k);
        Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return obj; }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const arr = [];
      ws();
      if (text[i] === ']') { i++; return arr; }
      for (;;) {
        arr.push(value());
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return arr; }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    if (c === '-' || (c >= '0' && c <= '9')) {
      numberRe.lastIndex = i;
      const m = numberRe.exec(text);
      if (!m) fail('invalid number');
      i = numberRe.lastIndex;
      return new JSONNumber(m[0]);
    }
    for (const [lit, v] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(lit, i)) { i += lit.length; return v; }
    }
    return fail(c === undefined ? 'unexpected end of input' : `unexpected '${c}'`);
  };
  const v = value();
  ws();
  if (i !== text.length) fail('unexpected data after the JSON value');
  return v;
}

/** Pretty-prints a value from parseLossless (or any plain JSON value) with two-space indents. */
export function stringifyPretty(v, indent = '') {
  if (v instanceof JSONNumber) return v.raw;
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const inner = indent + '  ';
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return '[\n' + v.map((x) => inner + stringifyPretty(x, inner)).join(',\n') + '\n' + indent + ']';
  }
  const keys = v[ORDER] || Object.keys(v);
  if (keys.length === 0) return '{}';
  return '{\n' + keys.map((k) => inner + JSON.stringify(k) + ': ' + stringifyPretty(v[k], inner)).join(',\n') +
    '\n' + indent + '}';
}
