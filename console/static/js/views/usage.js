// Settings › Usage: what the workspace sent and received over a period
// (GET /v1/usage): totals of messages and segments, out and in; a bar per
// day (or per month, for a custom span longer than a daily report may
// be); per number; per final status; and the same report as CSV (the API
// answers CSV when asked with Accept: text/csv). Periods are UTC days, as
// the engine counts them, and the page says so. The report comes from
// rollups the engine brings up to date every few seconds; the page shows
// their freshness (as_of) and reads them again on Refresh.

import {h, replace, fullTime, plural} from '../dom.js';
import {get, fetchFile, q, words} from '../api.js';
import {banner, busy, toastError, toast} from '../ui.js';

export const title = 'Settings › Usage';

const SVG = 'http://www.w3.org/2000/svg';
const DAY = 86400000;
// The API's limits (inbox.MaxUsageDays, inbox.MaxUsageMonthsDays): a
// longer custom span is asked by month, and at most ten years.
const MAX_DAYS = 31;
const MAX_MONTHS_DAYS = 3660;

export const PERIODS = [['this-month', 'This month'], ['last-month', 'Last month'], ['last-30-days', 'Last 30 days'], ['custom', 'Custom']];

// The statuses a message is counted in, in the order shown, with their words.
const STATUSES = [
  ['out', 'delivered', 'Delivered'],
  ['out', 'submitted', 'Sent to the carrier, no receipt yet'],
  ['out', 'failed', 'Failed'],
  ['out', 'expired', 'Expired'],
  ['out', 'rejected', 'Rejected'],
  ['in', 'received', 'Received'],
];

const isoDay = d => d.toISOString().slice(0, 10);
const utcDate = s => {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s || '');
  if (!m) return null;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
  return isoDay(d) === s ? d : null; // not 2026-02-30
};

// span turns a period choice into the report to ask for: {from, to,
// granularity} (dates YYYY-MM-DD, UTC), or {error} in words. today is the
// UTC date now; from and to are the custom dates.
export function span(period, today, from, to) {
  const y = today.getUTCFullYear(), m = today.getUTCMonth();
  switch (period) {
  case 'this-month':
    return {from: isoDay(new Date(Date.UTC(y, m, 1))), to: isoDay(today), granularity: 'day'};
  case 'last-month':
    return {from: isoDay(new Date(Date.UTC(y, m - 1, 1))), to: isoDay(new Date(Date.UTC(y, m, 0))), granularity: 'day'};
  case 'last-30-days':
    return {from: isoDay(new Date(today.getTime() - 29 * DAY)), to: isoDay(today), granularity: 'day'};
  default: {
    const f = utcDate(from), t = utcDate(to);
    if (!f || !t) return {error: 'Choose a first and a last day.'};
    if (t < f) return {error: 'The last day is before the first.'};
    const days = (t - f) / DAY + 1;
    if (days > MAX_MONTHS_DAYS) return {error: 'A report covers at most ten years: choose a shorter span.'};
    return {from, to, granularity: days > MAX_DAYS ? 'month' : 'day'};
  }
  }
}

// periods lists the periods of a report, in order: every day (or month)
// from from to to, so that days without messages show as empty.
function periods(s) {
  const out = [];
  const f = utcDate(s.from), t = utcDate(s.to);
  if (s.granularity === 'day') {
    for (let d = f; d <= t; d = new Date(d.getTime() + DAY)) out.push(isoDay(d));
  } else {
    for (let d = new Date(Date.UTC(f.getUTCFullYear(), f.getUTCMonth(), 1)); d <= t;
      d = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1))) out.push(isoDay(d));
  }
  return out;
}

// summarize adds up the report's rows: totals per direction, per period,
// per number and per status.
function summarize(rep, s) {
  const zero = () => ({out: {messages: 0, segments: 0}, in: {messages: 0, segments: 0}});
  const total = zero();
  const byPeriod = new Map(periods(s).map(p => [p, zero()]));
  const byNumber = new Map();
  const byStatus = new Map();
  for (const r of rep.rows || []) {
    const dir = r.direction === 'in' ? 'in' : 'out';
    const add = (o) => { o[dir].messages += r.messages; o[dir].segments += r.segments; };
    add(total);
    if (!byPeriod.has(r.period)) byPeriod.set(r.period, zero());
    add(byPeriod.get(r.period));
    if (!byNumber.has(r.number)) byNumber.set(r.number, zero());
    add(byNumber.get(r.number));
    const k = dir + ' ' + r.status;
    const st = byStatus.get(k) || {direction: dir, status: r.status, messages: 0, segments: 0};
    st.messages += r.messages;
    st.segments += r.segments;
    byStatus.set(k, st);
  }
  return {total, byPeriod, byNumber, byStatus};
}

const n = v => v.toLocaleString();
const dayFmt = new Intl.DateTimeFormat(undefined, {month: 'short', day: 'numeric', timeZone: 'UTC'});
const monthFmt = new Intl.DateTimeFormat(undefined, {month: 'short', year: 'numeric', timeZone: 'UTC'});
const longFmt = new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeZone: 'UTC'});
const periodName = (p, g) => (g === 'day' ? dayFmt : monthFmt).format(utcDate(p));

export function mount(main) {
  const params = new URLSearchParams(location.search);
  let period = PERIODS.some(([v]) => v === params.get('period')) ? params.get('period') : 'this-month';
  const today = () => { const d = new Date(); return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())); };
  const t0 = today();
  const choice = h('select', {id: 'usage-period', name: 'period', 'aria-describedby': 'usage-utc'},
    PERIODS.map(([v, label]) => h('option', {value: v, selected: v === period}, label)));
  const from = h('input', {id: 'usage-from', name: 'from', type: 'date', class: 'date', max: isoDay(t0),
    value: params.get('from') || isoDay(new Date(Date.UTC(t0.getUTCFullYear(), t0.getUTCMonth(), 1)))});
  const to = h('input', {id: 'usage-to', name: 'to', type: 'date', class: 'date', max: isoDay(t0), value: params.get('to') || isoDay(t0)});
  const custom = h('div', {class: 'usage-custom', id: 'usage-custom', hidden: period !== 'custom'},
    h('div', {class: 'field'}, h('label', {for: 'usage-from'}, 'First day'), from),
    h('div', {class: 'field'}, h('label', {for: 'usage-to'}, 'Last day'), to),
    h('div', {class: 'field'}, h('button', {type: 'submit', class: 'btn', id: 'usage-apply'}, 'Show')));
  const refresh = h('button', {type: 'button', class: 'btn btn-quiet', id: 'usage-refresh'}, 'Refresh');
  const csv = h('button', {type: 'button', class: 'btn', id: 'usage-csv'}, 'Download CSV');
  const formError = h('p', {class: 'error', role: 'alert', id: 'usage-error', hidden: true});
  const form = h('form', {class: 'usage-picker', id: 'usage-form', novalidate: true},
    h('div', {class: 'field'}, h('label', {for: 'usage-period'}, 'Period'), choice), custom,
    h('div', {class: 'actions usage-tools'}, refresh, csv));
  const status = h('p', {class: 'muted', id: 'usage-status', role: 'status'});
  const body = h('div', {class: 'stack', id: 'usage-body'}, h('p', {class: 'loading'}, 'Loading…'));
  main.append(
    h('nav', {class: 'crumbs', 'aria-label': 'Breadcrumb'}, h('ol', null, h('li', null, 'Settings'), h('li', {'aria-current': 'page'}, 'Usage'))),
    h('h1', null, 'Usage'),
    h('p', {class: 'muted intro', id: 'usage-utc'}, 'Messages and segments this workspace sent and received. ' +
      'Days are UTC days, as Switchboard counts them; a message counts on the day it was created, in its status now.'),
    h('div', {class: 'stack'}, h('section', {class: 'card'}, form, formError, status), body));
  let alive = true;
  let seq = 0;
  let shown = null; // the span on the page

  function current() {
    return span(period, today(), from.value, to.value);
  }

  function remember(s) {
    const p = new URLSearchParams({period});
    if (period === 'custom') { p.set('from', from.value); p.set('to', to.value); }
    history.replaceState(history.state, '', location.pathname + '?' + p);
    return s;
  }

  async function load() {
    const s = current();
    formError.hidden = true;
    from.removeAttribute('aria-invalid');
    to.removeAttribute('aria-invalid');
    if (s.error) {
      formError.textContent = s.error;
      formError.hidden = false;
      (utcDate(from.value) ? to : from).setAttribute('aria-invalid', 'true');
      return;
    }
    remember(s);
    const mine = ++seq;
    body.setAttribute('aria-busy', 'true');
    try {
      const rep = await get(`/v1/usage?from=${q(s.from)}&to=${q(s.to)}&granularity=${q(s.granularity)}`);
      if (!alive || mine !== seq) return;
      shown = s;
      render(rep, s);
    } catch (e) {
      if (!alive || mine !== seq) return;
      replace(body, banner('error', 'The usage could not be loaded.', words(e),
        h('button', {type: 'button', class: 'btn', onclick: load}, 'Try again')));
      status.textContent = '';
    } finally {
      if (mine === seq) body.removeAttribute('aria-busy');
    }
  }

  function render(rep, s) {
    const sum = summarize(rep, s);
    const range = s.from === s.to ? longFmt.format(utcDate(s.from)) : longFmt.formatRange(utcDate(s.from), utcDate(s.to));
    status.textContent = `${range} (UTC)${s.granularity === 'month' ? ', by month' : ''}. Counted up to ${fullTime(rep.as_of)}.`;
    status.dataset.from = s.from;
    status.dataset.to = s.to;
    status.dataset.granularity = s.granularity;
    const empty = !(rep.rows || []).length;
    replace(body,
      h('div', {class: 'usage-top'},
        h('div', {class: 'stack'},
          totals(sum.total),
          // Where the workspace's daily and monthly segment caps will show
          // (quotas are not part of this page yet): empty and hidden until
          // then.
          h('section', {id: 'usage-quota', class: 'card usage-quota', 'aria-label': 'Quota', hidden: true})),
        empty ? h('p', {class: 'card muted', id: 'usage-empty'}, 'Nothing was sent or received in this period.')
          : chartCard(sum.byPeriod, s.granularity)),
      empty ? null : h('div', {class: 'usage-tables'}, numbersCard(sum.byNumber), statusCard(sum.byStatus, sum.total)));
  }

  function totals(t) {
    const tile = (dir, label) => h('div', {class: 'tile', id: 'usage-total-' + dir, 'data-messages': t[dir].messages, 'data-segments': t[dir].segments},
      h('h3', null, label),
      h('p', {class: 'big'}, n(t[dir].messages), ' ', h('span', {class: 'unit'}, t[dir].messages === 1 ? 'message' : 'messages')),
      h('p', {class: 'muted'}, plural(t[dir].segments, 'segment')));
    return h('section', {class: 'card', 'aria-labelledby': 'usage-totals-h'},
      h('h2', {id: 'usage-totals-h'}, 'Totals'),
      h('div', {class: 'tiles'}, tile('out', 'Sent'), tile('in', 'Received')));
  }

  function chartCard(byPeriod, g) {
    const list = [...byPeriod.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const unit = g === 'day' ? 'day' : 'month';
    const table = h('table', {class: 'table', id: 'usage-periods'},
      h('caption', null, `Messages per ${unit}`),
      h('thead', null, h('tr', null, [unit === 'day' ? 'Day' : 'Month', 'Sent', 'Segments sent', 'Received', 'Segments received']
        .map((c, i) => h('th', {scope: 'col', class: i ? 'num' : null}, c)))),
      h('tbody', null, list.map(([p, v]) => h('tr', {'data-period': p},
        h('th', {scope: 'row'}, periodName(p, g)),
        h('td', {class: 'num'}, n(v.out.messages)), h('td', {class: 'num'}, n(v.out.segments)),
        h('td', {class: 'num'}, n(v.in.messages)), h('td', {class: 'num'}, n(v.in.segments))))));
    return h('section', {class: 'card', 'aria-labelledby': 'usage-chart-h'},
      h('h2', {id: 'usage-chart-h'}, `Per ${unit}`),
      h('p', {class: 'legend', 'aria-hidden': 'true'},
        h('span', {class: 'key key-out'}), ' Sent ', h('span', {class: 'key key-in'}), ' Received'),
      barChart(list, g),
      h('details', {class: 'usage-details'}, h('summary', null, `Per ${unit} as a table`), h('div', {class: 'table-wrap'}, table)));
  }

  function numbersCard(byNumber) {
    const list = [...byNumber.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    return h('section', {class: 'card', 'aria-labelledby': 'usage-numbers-h'},
      h('h2', {id: 'usage-numbers-h'}, 'Per number'),
      h('div', {class: 'table-wrap'}, h('table', {class: 'table', id: 'usage-numbers'},
        h('thead', null, h('tr', null, ['Number', 'Sent', 'Segments sent', 'Received', 'Segments received']
          .map((c, i) => h('th', {scope: 'col', class: i ? 'num' : null}, c)))),
        h('tbody', null, list.map(([num, v]) => h('tr', {'data-number': num, 'data-out-messages': v.out.messages,
          'data-out-segments': v.out.segments, 'data-in-messages': v.in.messages, 'data-in-segments': v.in.segments},
        h('th', {scope: 'row', class: 'number-cell'}, num),
        h('td', {class: 'num'}, n(v.out.messages)), h('td', {class: 'num'}, n(v.out.segments)),
        h('td', {class: 'num'}, n(v.in.messages)), h('td', {class: 'num'}, n(v.in.segments))))))));
  }

  function statusCard(byStatus, total) {
    const known = STATUSES.map(([dir, st, label]) => ({...(byStatus.get(dir + ' ' + st) || {direction: dir, status: st, messages: 0, segments: 0}), label}));
    // A status this page has no words for yet still shows, as the API names it.
    for (const [k, v] of byStatus) if (!STATUSES.some(([d, st]) => d + ' ' + st === k)) known.push({...v, label: v.status});
    const share = v => {
      const all = total[v.direction].messages;
      return all ? `${(100 * v.messages / all).toFixed(all >= 1000 ? 1 : 0)}%` : '—';
    };
    return h('section', {class: 'card', 'aria-labelledby': 'usage-status-h'},
      h('h2', {id: 'usage-status-h'}, 'Per final status'),
      h('p', {class: 'muted'}, 'Sent messages are counted in their status now: one without a delivery receipt yet moves to delivered or failed when it comes.'),
      h('div', {class: 'table-wrap'}, h('table', {class: 'table', id: 'usage-statuses'},
        h('thead', null, h('tr', null, ['Status', 'Direction', 'Messages', 'Segments', 'Share'].map((c, i) => h('th', {scope: 'col', class: i > 1 ? 'num' : null}, c)))),
        h('tbody', null, known.map(v => h('tr', {'data-status': v.status, 'data-direction': v.direction, 'data-messages': v.messages, 'data-segments': v.segments},
          h('th', {scope: 'row'}, v.label),
          h('td', null, v.direction === 'in' ? 'Received' : 'Sent'),
          h('td', {class: 'num'}, n(v.messages)), h('td', {class: 'num'}, n(v.segments)),
          h('td', {class: 'num'}, share(v))))))));
  }

  choice.addEventListener('change', () => {
    period = choice.value;
    custom.hidden = period !== 'custom';
    if (period === 'custom') from.focus();
    else load();
  });
  form.addEventListener('submit', e => { e.preventDefault(); load(); });
  refresh.addEventListener('click', () => busy(refresh, load));
  csv.addEventListener('click', () => busy(csv, async () => {
    const s = shown || current();
    if (s.error) { toast(s.error, 'error'); return; }
    try {
      const f = await fetchFile(`/v1/usage?from=${q(s.from)}&to=${q(s.to)}&granularity=${q(s.granularity)}`, 'text/csv');
      save(f.blob, f.filename || `usage-${s.from}-${s.to}.csv`);
    } catch (e) {
      toastError(e);
    }
  }));

  load();
  return {unmount() { alive = false; }};
}

// save hands a file to the browser's downloads.
function save(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', {href: url, download: filename, hidden: true});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten.
function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map(k => k * p).find(x => x >= v);
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

// barChart draws the messages per period as stacked bars (sent below,
// received above) in plain SVG; each bar's title gives its numbers. The
// chart is an image with a summary for screen readers: the table under
// it has every number.
function barChart(list, g) {
  const W = 720, H = 200, left = 44, right = 16, bottom = 22, top = 8;
  const plotW = W - left - right, plotH = H - top - bottom;
  const max = niceMax(Math.max(0, ...list.map(([, v]) => v.out.messages + v.in.messages)));
  const step = plotW / Math.max(1, list.length);
  const bw = Math.max(2, Math.min(28, step * 0.7));
  const y = v => top + plotH - (v / max) * plotH;
  const busiest = list.reduce((a, b) => (b[1].out.messages + b[1].in.messages > a[1].out.messages + a[1].in.messages ? b : a), list[0]);
  const label = `Messages per ${g === 'day' ? 'day' : 'month'}, ${list.length ? periodName(list[0][0], g) + ' to ' + periodName(list[list.length - 1][0], g) : ''}` +
    (busiest ? `; the busiest was ${periodName(busiest[0], g)} with ${busiest[1].out.messages} sent and ${busiest[1].in.messages} received.` : '.');
  const chart = svg('svg', {viewBox: `0 0 ${W} ${H}`, class: 'bars', id: 'usage-chart', role: 'img', 'aria-label': label});
  for (const v of [0, max / 2, max]) {
    chart.append(svg('line', {x1: left, x2: W - right, y1: y(v), y2: y(v), class: 'grid'}));
    chart.append(svg('text', {x: left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis'}, document.createTextNode(n(v))));
  }
  // Period labels: at most 8, evenly spaced, counted back from the last
  // (the period the reader looks for first).
  const every = Math.max(1, Math.ceil(list.length / 8));
  list.forEach(([p, v], i) => {
    const x = left + i * step + (step - bw) / 2;
    const out = v.out.messages, inn = v.in.messages;
    const gEl = svg('g', {class: 'bar', 'data-period': p, 'data-out': out, 'data-in': inn},
      svg('title', null, document.createTextNode(`${periodName(p, g)}: ${plural(out, 'message')} sent (${plural(v.out.segments, 'segment')}), ` +
        `${plural(inn, 'message')} received (${plural(v.in.segments, 'segment')})`)));
    // A transparent column as wide as the period: its title shows on hover anywhere above the day.
    gEl.append(svg('rect', {x: left + i * step, y: top, width: step, height: plotH, class: 'hit'}));
    if (out) gEl.append(svg('rect', {x, y: y(out), width: bw, height: y(0) - y(out), class: 'out'}));
    if (inn) gEl.append(svg('rect', {x, y: y(out + inn), width: bw, height: y(out) - y(out + inn), class: 'in'}));
    chart.append(gEl);
    if ((list.length - 1 - i) % every === 0) {
      chart.append(svg('text', {x: left + i * step + step / 2, y: H - 6, 'text-anchor': 'middle', class: 'axis'},
        document.createTextNode(periodName(p, g))));
    }
  });
  return chart;
}
