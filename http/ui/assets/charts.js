// The overview's charts (DESIGN §12), drawn as inline SVG by the page itself:
// no library, nothing from another origin. The CSP allows no inline style,
// so sizes are SVG attributes and colours are classes of style.css. Every
// bar keeps its numbers in data- attributes; the page shows the same numbers
// in a table for screen readers (docs/DASHBOARD.md).
//
// The SVG namespace is taken from an <svg> of the page (the HTML parser puts
// it there), so no namespace URL appears in the page's code.

export const MINUTE_WIDTH = 10; // viewBox units per minute
export const PLOT_HEIGHT = 100; // viewBox units of the per-minute chart's height

/** Creates an SVG element in namespace ns: svgEl(ns, 'rect', {x: 1}, child, ...). */
function svgEl(ns, tag, attrs = {}, ...children) {
  const node = document.createElementNS(ns, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  node.append(...children);
  return node;
}

/**
 * The top of a scale for values up to max: the smallest of 2, 4, 6, 8, 10,
 * 20, 40, ... that holds it, so that its middle gridline is a whole number too.
 */
export function scaleTop(max) {
  for (let p = 1; ; p *= 10) {
    for (const m of [2, 4, 6, 8, 10]) if (m * p >= max) return m * p;
  }
}

/**
 * Draws created vs acknowledged per minute into root (an <svg>): one group
 * per minute (data-minute, data-created, data-acknowledged, and a tooltip
 * from label(minute)), two bars each, and gridlines at 0, half and the top
 * of the scale. The viewBox is stretched to the chart's width by CSS
 * (preserveAspectRatio="none"), so it fits a phone as well as a desktop;
 * text stays outside it, in HTML. Returns the top of the scale.
 */
export function drawPerMinute(root, minutes, label) {
  const ns = root.namespaceURI;
  const top = scaleTop(Math.max(0, ...minutes.map((m) => Math.max(m.created, m.acknowledged))));
  const width = minutes.length * MINUTE_WIDTH;
  const h = (n) => (n / top) * PLOT_HEIGHT;
  const bar = (cls, x, n) => svgEl(ns, 'rect', { class: cls, x, y: PLOT_HEIGHT - h(n), width: 4, height: h(n) });
  const grid = [PLOT_HEIGHT, PLOT_HEIGHT / 2, 0].map((y) =>
    svgEl(ns, 'line', { class: 'grid', x1: 0, x2: width, y1: y, y2: y, 'vector-effect': 'non-scaling-stroke' }));
  const groups = minutes.map((m, i) => svgEl(ns, 'g',
    { 'data-minute': m.minute, 'data-created': m.created, 'data-acknowledged': m.acknowledged },
    svgEl(ns, 'title', {}, label(m)),
    bar('created', i * MINUTE_WIDTH + 1, m.created),
    bar('acknowledged', i * MINUTE_WIDTH + 5, m.acknowledged)));
  root.setAttribute('viewBox', `0 0 ${width} ${PLOT_HEIGHT}`);
  root.dataset.top = String(top);
  root.replaceChildren(...grid, ...groups);
  return top;
}

/**
 * The rows of the pending-by-source chart: each the source's name, a bar
 * (its own small <svg>, stretched to the row's width, as long as the
 * source's share of the largest count) and the count. ns is the SVG
 * namespace (an <svg> of the page's namespaceURI).
 */
export function sourceRows(ns, sources) {
  const max = Math.max(1, ...sources.map((s) => s.pending));
  return sources.map((s) => {
    const row = document.createElement('div');
    row.className = 'source-row';
    row.dataset.source = s.source;
    row.dataset.pending = String(s.pending);
    const name = document.createElement('span');
    name.className = 'source-name';
    name.textContent = s.source;
    name.title = s.source;
    const count = document.createElement('span');
    count.className = 'source-count';
    count.textContent = String(s.pending);
    const bar = svgEl(ns, 'svg', { class: 'bar', viewBox: '0 0 100 10', preserveAspectRatio: 'none', 'aria-hidden': 'true', focusable: 'false' },
      svgEl(ns, 'rect', { class: 'pending', x: 0, y: 0, width: (s.pending / max) * 100, height: 10 }));
    row.append(name, bar, count);
    return row;
  });
}
