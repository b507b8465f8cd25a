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

/**
 * Parses JSON text; numbers become JSONNumber, objects remember member order.
 * It keeps its own stack rather than recursing, so that no nesting depth
 * overflows the browser's call stack.
 */
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
  // A member name and its colon, at the name's opening quote or before it.
  const memberName = () => {
    ws();
    if (text[i] !== '"') fail('expected a member name');
    const k = string();
    ws();
    if (text[i] !== ':') fail("expected ':'");
    i++;
    return k;
  };
  // The objects and arrays open around the value being read, innermost
  // last: { obj, order, key } for an object (key: the member being read),
  // { arr } for an array.
  const open = [];
  for (;;) {
    // Read a value; an object or array that is not empty is opened instead.
    let v;
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = {};
      const order = [];
      Object.defineProperty(obj, ORDER, { value: order });
      ws();
      if (text[i] === '}') {
        i++;
        v = obj;
      } else {
        open.push({ obj, order, key: memberName() });
        continue;
      }
    } else if (c === '[') {
      i++;
      const arr = [];
      ws();
      if (text[i] === ']') {
        i++;
        v = arr;
      } else {
        open.push({ arr });
        continue;
      }
    } else if (c === '"') {
      v = string();
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      numberRe.lastIndex = i;
      const m = numberRe.exec(text);
      if (!m) fail('invalid number');
      i = numberRe.lastIndex;
      v = new JSONNumber(m[0]);
    } else {
      const lit = [['true', true], ['false', false], ['null', null]].find(([l]) => text.startsWith(l, i));
      if (!lit) fail(c === undefined ? 'unexpected end of input' : `unexpected '${c}'`);
      i += lit[0].length;
      v = lit[1];
    }
    // Put v in the innermost open object or array; each one that ends
    // there is in turn the value to put in the one around it.
    for (;;) {
      const top = open[open.length - 1];
      if (!top) {
        ws();
        if (i !== text.length) fail('unexpected data after the JSON value');
        return v;
      }
      ws();
      if (top.arr) {
        top.arr.push(v);
        if (text[i] === ',') { i++; break; }
        if (text[i] !== ']') fail("expected ',' or ']'");
        i++;
        v = top.arr;
      } else {
        if (!Object.prototype.hasOwnProperty.call(top.obj, top.key)) top.order.push(top.key);
        Object.defineProperty(top.obj, top.key, { value: v, enumerable: true, writable: true, configurable: true });
        if (text[i] === ',') { i++; top.key = memberName(); break; }
        if (text[i] !== '}') fail("expected ',' or '}'");
        i++;
        v = top.obj;
      }
      open.pop();
    }
  }
}

/** How many levels of objects and arrays stringifyPretty indents; deeper ones are written on one line. */
export const PRETTY_DEPTH = 64;

/**
 * Pretty-prints a value from parseLossless (or any plain JSON value) with
 * two-space indents. Objects and arrays nested deeper than PRETTY_DEPTH
 * levels (more than the API accepts: only events stored before it had a
 * limit) are written compactly, so that the text grows with the value, not
 * with the square of its depth. Like parseLossless it keeps its own stack.
 */
export function stringifyPretty(v, indent = '') {
  const out = [];
  // The objects and arrays being written, innermost last.
  const open = [];
  let depth = 0; // of the value to write next: 1 for v itself
  let ind = indent; // the indent of the line the value to write next starts on
  for (;;) {
    depth++;
    if (v instanceof JSONNumber) out.push(v.raw);
    else if (v === null || typeof v !== 'object') out.push(JSON.stringify(v));
    else {
      const keys = Array.isArray(v) ? null : (v[ORDER] || Object.keys(v));
      const n = keys ? keys.length : v.length;
      if (n === 0) out.push(keys ? '{}' : '[]');
      else {
        const pretty = depth <= PRETTY_DEPTH;
        out.push(keys ? '{' : '[');
        open.push({ v, keys, n, next: 0, indent: ind, pretty, depth });
      }
    }
    // The next member of the innermost open object or array, closing
    // those that are done.
    let more = false;
    while (open.length) {
      const f = open[open.length - 1];
      if (f.next < f.n) {
        const inner = f.pretty ? f.indent + '  ' : f.indent;
        if (f.next > 0) out.push(',');
        if (f.pretty) out.push('\n' + inner);
        if (f.keys) {
          const k = f.keys[f.next];
          out.push(JSON.stringify(k) + (f.pretty ? ': ' : ':'));
          v = f.v[k];
        } else {
          v = f.v[f.next];
        }
        f.next++;
        ind = inner;
        depth = f.depth;
        more = true;
        break;
      }
      if (f.pretty) out.push('\n' + f.indent);
      out.push(f.keys ? '}' : ']');
      open.pop();
    }
    if (!more) return out.join('');
  }
}
