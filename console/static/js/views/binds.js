// Binds: every SMPP bind of the engine, per carrier: state, window in
// use of its size, response times, throttled answers, reconnects, and the
// sending rate; polled every second.

import {h, replace, spark} from '../dom.js';
import {get, words} from '../api.js';
import {badge} from '../ui.js';

export const title = 'Binds';

const POLL = 1000;
const HISTORY = 60;

const STATE_WORDS = {connecting: 'Connecting', bound: 'Bound', backoff: 'Waiting to reconnect', refused: 'Refused by the carrier', closing: 'Closing', closed: 'Closed'};

export function mount(main) {
  main.classList.add('wide');
  const status = h('p', {class: 'muted poll-status', id: 'binds-updated'}, 'Loading…');
  const version = h('p', {class: 'muted', id: 'binds-config'});
  const problem = h('div', {role: 'alert'});
  const body = h('div', {class: 'stack', id: 'binds'});
  main.append(
    h('div', {class: 'page-head'}, h('h1', null, 'Binds'), status),
    h('p', {class: 'muted'}, 'Each SMPP bind this engine process holds, updated every second. ' +
      'The window is how many requests may await the carrier’s answer at once; the rate is measured from what was submitted.'),
    version,
    problem, body);

  const hist = new Map(); // bind key → {window: [], submitted, at, rate}
  let timer = 0;
  let alive = true;
  let failing = false;

  async function poll() {
    if (!alive) return;
    if (document.hidden) { timer = setTimeout(poll, POLL); return; }
    try {
      const res = await get('/admin/v1/binds');
      if (!alive) return;
      if (failing) { failing = false; replace(problem); }
      record(res.binds || []);
      render(res.binds || []);
      showConfig(res.config);
      status.textContent = 'Live · updated ' + new Date().toLocaleTimeString();
    } catch (e) {
      if (!alive) return;
      failing = true;
      replace(problem, h('p', {class: 'error'}, 'The binds cannot be read: ', words(e), ' Retrying…'));
    }
    timer = setTimeout(poll, POLL);
  }

  // showConfig says which configuration is in force (a reload changes it).
  function showConfig(c) {
    if (!c) { version.textContent = ''; return; }
    let t = `Configuration version ${c.version} (${c.hash}), loaded ${new Date(c.loaded_at).toLocaleString()}.`;
    if (c.restart_pending && c.restart_pending.length) t += ` Changed, in force after a restart: ${c.restart_pending.join(', ')}.`;
    version.textContent = t;
  }

  function key(b) { return `${b.carrier}/${b.slot}/${b.type}`; }

  function record(binds) {
    const now = performance.now();
    const live = new Set();
    for (const b of binds) {
      const k = key(b);
      live.add(k);
      let x = hist.get(k);
      if (!x) { x = {window: [], submitted: b.submitted, at: now, rate: null}; hist.set(k, x); }
      x.window.push(b.window_in_use || 0);
      if (x.window.length > HISTORY) x.window.shift();
      const dt = (now - x.at) / 1000;
      if (dt >= 0.5) {
        const d = (b.submitted || 0) - x.submitted;
        x.rate = d >= 0 ? d / dt : null; // a reconnect resets the counter
        x.submitted = b.submitted || 0;
        x.at = now;
      }
    }
    for (const k of hist.keys()) if (!live.has(k)) hist.delete(k);
  }

  function render(binds) {
    if (!binds.length) {
      replace(body, h('p', {class: 'muted'}, 'This engine process holds no bind right now.'));
      return;
    }
    const carriers = new Map();
    for (const b of binds) {
      if (!carriers.has(b.carrier)) carriers.set(b.carrier, []);
      carriers.get(b.carrier).push(b);
    }
    replace(body, [...carriers].map(([name, bs]) => carrierTable(name, bs)));
  }

  // accountRate says the carrier account's TPS and, when the adaptive
  // slow-down has cut it after throttled answers, what is left of it.
  function accountRate(b) {
    if (!b.account_rate) return null;
    const eff = b.effective_rate;
    if (eff == null) return h('span', {class: 'account-rate'}, `account ${fmtRate(b.account_rate)}`);
    const slowed = eff < b.account_rate * 0.999;
    return h('span', {class: 'account-rate' + (slowed ? ' slowed' : ''), 'data-effective': eff, 'data-account': b.account_rate},
      slowed ? `account ${fmtRate(b.account_rate)}, slowed to ${fmtRate(eff)} after throttling` : `account ${fmtRate(b.account_rate)}, full rate`);
  }

  function carrierTable(name, bs) {
    const up = bs.filter(b => b.state === 'bound').length;
    const inUse = bs.reduce((s, b) => s + (b.window_in_use || 0), 0);
    const size = bs.reduce((s, b) => s + (b.window_size || 0), 0);
    const rate = bs.reduce((s, b) => s + (hist.get(key(b))?.rate || 0), 0);
    const errors = bs.some(b => b.last_error);
    const head = ['Bind', 'State', 'Window in use', 'Last minute', 'Response p50 / p99', 'Throttled', 'Reconnects', 'Submitted', 'Rate (measured)'];
    if (errors) head.push('Last error');
    return h('section', {class: 'card', 'data-carrier': name, 'aria-labelledby': 'carrier-' + name},
      h('h2', {id: 'carrier-' + name}, 'Carrier ', name),
      h('p', {class: 'muted summary'},
        `${up} of ${bs.length} ${bs.length === 1 ? 'bind' : 'binds'} bound · window ${inUse} of ${size} in use · ${fmtRate(rate)} submitted`,
        ...(accountRate(bs[0]) ? [' · ', accountRate(bs[0])] : [])),
      h('div', {class: 'table-wrap'}, h('table', {class: 'table binds'},
        h('caption', {class: 'visually-hidden'}, `Binds of carrier ${name}`),
        h('thead', null, h('tr', null, head.map(t => h('th', {scope: 'col'}, t)))),
        h('tbody', null, bs.map(b => bindRow(b, errors))))));
  }

  function bindRow(b, errors) {
    const x = hist.get(key(b));
    const size = b.window_size || 0, use = b.window_in_use || 0;
    const label = `slot ${b.slot} ${b.type}`;
    const cells = [
      h('th', {scope: 'row', class: 'nowrap'}, `#${b.slot} `, h('span', {class: 'muted'}, b.type)),
      h('td', null, badge(b.state === 'bound' ? 'ok' : 'late', STATE_WORDS[b.state] || b.state)),
      h('td', {class: 'window', 'data-in-use': use, 'data-size': size},
        h('meter', {min: 0, max: Math.max(size, 1), value: use, high: size * 0.8, optimum: 0, 'aria-label': `Window in use, ${label}`}),
        ` ${use} of ${size}`),
      h('td', null, spark(x?.window || [], size, `Window in use over the last minute, ${label}`)),
      h('td', {class: 'num'}, `${fmtMs(b.response_p50_ms)} / ${fmtMs(b.response_p99_ms)}`),
      h('td', {class: 'num'}, (b.throttled || 0).toLocaleString()),
      h('td', {class: 'num'}, (b.reconnects || 0).toLocaleString()),
      h('td', {class: 'num'}, (b.submitted || 0).toLocaleString()),
      h('td', {class: 'num rate'}, x?.rate == null ? '—' : fmtRate(x.rate)),
    ];
    if (errors) cells.push(h('td', {class: 'last-error'}, b.last_error || ''));
    return h('tr', {'data-bind': key(b), 'data-state': b.state}, cells);
  }

  poll();
  return {unmount() { alive = false; clearTimeout(timer); main.classList.remove('wide'); }};
}

function fmtMs(v) {
  if (v == null || !v) return '—';
  return v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
}

function fmtRate(r) {
  return `${r < 10 ? r.toFixed(1) : Math.round(r)}/s`;
}
