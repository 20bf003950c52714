// Small DOM helpers. Text always goes in as text (never as HTML), so
// nothing a contact writes can become markup.

const SVG = 'http://www.w3.org/2000/svg';

// h builds an element: h('button', {class: 'x', onclick: fn, disabled: true}, 'Save').
// Attributes: class, text, html is not supported on purpose; on* are
// listeners; true/false set or drop boolean attributes; data-* and aria-*
// are attributes; everything else too.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  set(el, attrs);
  append(el, children);
  return el;
}

function set(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'text') {
      el.textContent = v;
    } else if (k === 'value') {
      el.value = v;
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// clear empties an element and appends children.
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// icon returns an inline SVG icon. label makes it an image with that
// accessible name; without it the icon is decorative.
export function icon(name, label) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'icon icon-' + name);
  if (label) {
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', label);
    const t = document.createElementNS(SVG, 'title');
    t.textContent = label;
    svg.append(t);
  } else {
    svg.setAttribute('aria-hidden', 'true');
  }
  for (const d of ICONS[name] || []) {
    const p = document.createElementNS(SVG, 'path');
    p.setAttribute('d', d);
    svg.append(p);
  }
  return svg;
}

const ICONS = {
  // A speech bubble with "SMS" dots: the SMS channel.
  sms: ['M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z',
    'M7.5 11h.01M12 11h.01M16.5 11h.01'],
  send: ['M3 11l18-8-8 18-2-8-8-2z'],
  plus: ['M12 5v14M5 12h14'],
  alert: ['M12 3l10 18H2L12 3z', 'M12 10v4M12 17.5v.01'],
};

// spark draws a small line chart of values (0..max) into an SVG.
export function spark(values, max, label) {
  const w = 120, ht = 28;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${ht}`);
  svg.setAttribute('class', 'spark');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  const n = values.length;
  if (n > 1 && max > 0) {
    const pts = values.map((v, i) => `${(i * w / (n - 1)).toFixed(1)},${(ht - 1 - (Math.min(v, max) / max) * (ht - 2)).toFixed(1)}`);
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', pts.join(' '));
    svg.append(line);
  }
  return svg;
}

const timeFmt = new Intl.DateTimeFormat(undefined, {hour: '2-digit', minute: '2-digit'});
const dayFmt = new Intl.DateTimeFormat(undefined, {month: 'short', day: 'numeric'});
const fullFmt = new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeStyle: 'medium'});

// when formats a time for a list: the time today, else the day.
export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const now = new Date();
  return d.toDateString() === now.toDateString() ? timeFmt.format(d) : dayFmt.format(d);
}

export function fullTime(iso) {
  return iso ? fullFmt.format(new Date(iso)) : '';
}

// timeEl is a <time> element showing when(iso), the full time as its title.
export function timeEl(iso, short = true) {
  return h('time', {datetime: iso, title: fullTime(iso)}, short ? when(iso) : fullTime(iso));
}

// ago says how long ago a time was, in words.
export function ago(iso) {
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  return duration(s) + ' ago';
}

// duration says a number of seconds in words.
export function duration(s) {
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function plural(n, one, many) {
  return `${n.toLocaleString()} ${n === 1 ? one : (many || one + 's')}`;
}

// phone formats an E.164 number for reading, grouping digits lightly.
export function phone(e164) {
  return e164 || '';
}
