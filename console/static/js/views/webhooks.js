// Settings › Webhooks: the workspace's endpoints (GET /v1/webhooks) with
// their state and why a disabled one is off; adding and editing one (URL,
// description, event types); enabling and disabling; rotating the signing
// secret; a test event; the delivery log with replay; deleting.
//
// A signing secret is shown once, after create and after rotate, as the
// API returns it once: it lives in this view's memory until Done (or
// until the page is left), never in storage, and no request can show it
// again.

import {h, replace, timeEl, fullTime, plural} from '../dom.js';
import {get, post, patch, del, q, words, session, saveSession, APIError} from '../api.js';
import {toast, toastError, confirmDialog, banner, busy, badge, keepFocus} from '../ui.js';

export const title = 'Settings › Webhooks';

// The event types an endpoint may subscribe to, as api/openapi.json
// documents them (read from /openapi.json; this copy only when that
// fails), with what each one means.
const FALLBACK_TYPES = ['message.status', 'message.received', 'number.*', 'number.connected', 'number.disabled',
  'number.enabled', 'number.disconnected', 'number.request_fulfilled', 'number.request_declined', 'webhook.disabled',
  'quota.threshold'];
const TYPE_WORDS = {
  'message.status': 'An outbound message was sent to the carrier, delivered, failed, expired or rejected',
  'message.received': 'A contact’s message arrived, with its conversation',
  'number.*': 'Every number event (the ones below, and any added later)',
  'number.connected': 'A number was connected to this workspace',
  'number.disabled': 'Sending from a number was disabled',
  'number.enabled': 'Sending from a number was enabled',
  'number.disconnected': 'A number was disconnected',
  'number.request_fulfilled': 'A custom number request was fulfilled',
  'number.request_declined': 'A custom number request was declined',
  'webhook.disabled': 'Another of your endpoints was disabled (it answered 410 or kept failing)',
  'quota.threshold': 'Your segments today or this month reached 80 % or 100 % of a cap',
};
// Message events carry conversations: subscribing needs the messages scope.
const MESSAGE_TYPES = new Set(['message.status', 'message.received']);
// Days of failures after which an endpoint is disabled (package webhook).
const FAILING_DAYS = 3;
const LOG_PAGE = 20;

let documentedTypes = null; // a promise of the list, once per page load

function eventTypes() {
  documentedTypes ??= get('/openapi.json')
    .then(doc => {
      const list = doc?.components?.schemas?.CreateWebhookRequest?.properties?.event_types?.items?.enum;
      return Array.isArray(list) && list.length ? list : FALLBACK_TYPES;
    })
    .catch(() => FALLBACK_TYPES);
  return documentedTypes;
}

export function mount(main, app) {
  const body = h('div', {class: 'stack'}, h('p', {class: 'loading'}, 'Loading…'));
  main.append(
    h('nav', {class: 'crumbs', 'aria-label': 'Breadcrumb'}, h('ol', null, h('li', null, 'Settings'), h('li', {'aria-current': 'page'}, 'Webhooks'))),
    h('h1', null, 'Webhooks'),
    h('p', {class: 'muted intro'}, 'Switchboard POSTs the events you choose to your endpoints as JSON, signed with the endpoint’s secret ' +
      '(Standard Webhooks: check the webhook-signature header). Delivery is at least once: deduplicate on webhook-id.'),
    body);
  let hooks = null;
  let types = FALLBACK_TYPES;
  let alive = true;
  let editing = null; // the id whose edit form is open
  // The forms outlive a redraw (a log refreshing, an action elsewhere), so
  // what is being typed into them stays.
  let addForm = null, editForm = null;
  let reveal = null; // {id, url, secret, rotated, previousUntil}: shown until Done
  const logs = new Map(); // id → {attempts, next, loading, error, awaiting: Set of event ids}
  let pollTimer = 0;

  async function load() {
    try {
      const [list, t] = await Promise.all([get('/v1/webhooks'), eventTypes()]);
      if (!alive) return;
      hooks = list.webhooks || [];
      types = t;
      for (const id of logs.keys()) if (!hooks.some(w => w.id === id)) logs.delete(id);
      render();
    } catch (e) {
      if (!alive) return;
      replace(body, banner('error', 'The webhooks could not be loaded.', words(e),
        h('button', {type: 'button', class: 'btn', onclick: load}, 'Try again')));
    }
  }

  const readOnly = () => session()?.scopes?.settings === false;
  const noMessages = () => session()?.scopes?.messages === false;

  // act runs a change; a token without the settings scope is told so and
  // the page turns read only. It resolves to fn's answer, or undefined.
  async function act(btn, fn, done) {
    let out;
    await busy(btn, async () => {
      try {
        out = await fn();
        if (done) toast(typeof done === 'function' ? done(out) : done);
      } catch (e) {
        if (e instanceof APIError && e.code === 'forbidden' && e.missingScope) {
          const s = session();
          saveSession({...s, scopes: {...(s.scopes || {}), [e.missingScope]: false}});
        }
        toastError(e);
      }
    });
    await load();
    return out;
  }

  function render() {
    const parts = [];
    if (readOnly()) {
      parts.push(banner('info', 'Read only', 'This token lacks the “settings” scope: it can see the webhooks and their delivery logs but not change them.'));
    }
    if (reveal) parts.push(secretCard());
    parts.push(h('section', {class: 'card', 'aria-labelledby': 'endpoints-h'},
      h('h2', {id: 'endpoints-h', tabindex: '-1'}, 'Endpoints'),
      hooks.length ? h('ul', {class: 'webhooks', id: 'webhooks'}, hooks.map(endpoint))
        : h('p', {class: 'muted', id: 'no-webhooks'}, 'No endpoints yet: add one below.')));
    parts.push(h('section', {class: 'card', 'aria-labelledby': 'add-h'},
      h('h2', {id: 'add-h'}, 'Add an endpoint'),
      h('fieldset', {class: 'plain', disabled: readOnly()}, h('legend', {class: 'visually-hidden'}, 'Add an endpoint'),
        addForm ??= endpointForm(null))));
    keepFocus(body, () => replace(body, ...parts));
  }

  // ---- the secret, once

  function secretCard() {
    const r = reveal;
    const value = h('input', {id: 'secret-value', class: 'secret', readonly: true, value: r.secret, spellcheck: 'false',
      autocomplete: 'off', 'aria-describedby': 'secret-hint', onfocus: e => e.target.select()});
    const copy = h('button', {type: 'button', class: 'btn btn-primary', id: 'copy-secret'}, 'Copy');
    copy.addEventListener('click', async () => {
      if (await copyText(value)) toast('The secret is copied.');
      else toast('Copying is not allowed here: select the secret and copy it.', 'error');
    });
    const done = h('button', {type: 'button', class: 'btn', id: 'secret-done'}, 'Done, I saved it');
    done.addEventListener('click', () => {
      reveal = null;
      render();
      document.getElementById('endpoints-h')?.focus();
    });
    return h('section', {class: 'card secret-card', id: 'secret-reveal', 'aria-labelledby': 'secret-h', 'data-webhook': r.id},
      h('h2', {id: 'secret-h', tabindex: '-1'}, r.rotated ? 'New signing secret' : 'Signing secret'),
      h('p', null, 'For ', h('span', {class: 'url'}, r.url), '.'),
      h('div', {class: 'field'}, h('label', {for: 'secret-value'}, 'Secret'),
        h('div', {class: 'secret-row'}, value, copy)),
      h('p', {id: 'secret-hint', class: 'hint'},
        'Copy it now and keep it with your receiver: it is shown this once and cannot be shown again ' +
        '(if it is lost, rotate the secret).'),
      r.rotated ? h('p', {class: 'rotated'}, 'The previous secret keeps signing too for 24 hours, ',
        r.previousUntil ? ['until ', timeEl(r.previousUntil, false), ', '] : null,
        'so your receiver can switch over without missing an event: each delivery carries a signature from both.') : null,
      h('div', {class: 'actions'}, done));
  }

  function showSecret(w, rotated) {
    reveal = {id: w.id, url: w.url, secret: w.secret, rotated, previousUntil: w.previous_secret_expires_at};
    render();
    document.getElementById('secret-h')?.focus();
  }

  // ---- one endpoint

  function endpoint(w) {
    const lblId = 'wh-toggle-' + w.id;
    const toggle = h('button', {type: 'button', role: 'switch', class: 'switch wh-toggle', 'aria-checked': String(w.enabled),
      'aria-labelledby': lblId, 'data-webhook': w.id, disabled: readOnly()},
      h('span', {class: 'track', 'aria-hidden': 'true'}, h('span', {class: 'thumb'})),
      h('span', {id: lblId}, w.enabled ? 'Enabled' : 'Disabled'));
    toggle.addEventListener('click', () => act(toggle, () => patch(`/v1/webhooks/${q(w.id)}`, {enabled: !w.enabled}),
      w.enabled ? `${w.url} is disabled: nothing is sent to it.` : `${w.url} is enabled: events from now on are sent to it.`));
    const btn = (cls, text, onclick, needsSettings = true) => {
      const b = h('button', {type: 'button', class: 'btn ' + cls, 'data-webhook': w.id, disabled: needsSettings && readOnly()}, text);
      b.addEventListener('click', () => onclick(b));
      return b;
    };
    const log = logs.get(w.id);
    const logBtn = btn('btn-quiet wh-log', log ? 'Hide delivery log' : 'Delivery log', () => toggleLog(w.id), false);
    logBtn.setAttribute('aria-expanded', String(!!log));
    logBtn.setAttribute('aria-controls', 'log-' + w.id);
    return h('li', {class: 'webhook', 'data-webhook': w.id},
      h('div', {class: 'webhook-head'},
        h('div', {class: 'webhook-what'},
          h('p', {class: 'url'}, w.url),
          w.description ? h('p', {class: 'muted'}, w.description) : null,
          h('p', {class: 'status-line'}, stateBadge(w)),
          stateWords(w),
          h('p', {class: 'types'}, h('span', {class: 'label'}, 'Events: '), w.event_types.join(', ')),
          w.previous_secret_expires_at ? h('p', {class: 'muted'}, 'The previous secret signs too until ', timeEl(w.previous_secret_expires_at, false), '.') : null),
        h('div', {class: 'number-actions'}, toggle)),
      h('div', {class: 'actions webhook-actions'},
        btn('wh-test', 'Send test event', b => sendTest(b, w)),
        logBtn,
        btn('wh-edit', editing === w.id ? 'Cancel edit' : 'Edit', () => { editing = editing === w.id ? null : w.id; editForm = null; render(); focusEdit(w.id); }),
        btn('wh-rotate', 'Rotate secret', b => rotate(b, w)),
        btn('btn-danger wh-delete', 'Delete', b => remove(b, w))),
      editing === w.id ? h('div', {class: 'inline-form'}, editForm ??= endpointForm(w)) : null,
      log ? logPanel(w, log) : null);
  }

  function stateBadge(w) {
    const b = w.enabled ? badge(w.failing_since ? 'late' : 'active', w.failing_since ? 'Enabled, failing' : 'Enabled')
      : badge(w.disabled_reason === 'manual' ? 'disabled' : 'failed', {gone: 'Disabled: gone', failing: 'Disabled: kept failing'}[w.disabled_reason] || 'Disabled');
    b.classList.add('wh-state');
    b.dataset.reason = w.disabled_reason || '';
    return b;
  }

  // stateWords says why a disabled endpoint is off, or that an enabled one
  // is failing, and what to do.
  function stateWords(w) {
    let text = null;
    if (!w.enabled && w.disabled_reason === 'gone') {
      text = ['Switchboard stopped sending to it because it answered 410 Gone. Enable it again once it accepts events; ' +
        'events of the time it was disabled are not sent.'];
    } else if (!w.enabled && w.disabled_reason === 'failing') {
      text = [`Switchboard stopped sending to it because every delivery failed for ${FAILING_DAYS} days`,
        w.failing_since ? [' (since ', timeEl(w.failing_since, false), ')'] : null,
        '. Fix the receiver (the delivery log shows the errors), then enable it; events of the time it was disabled are not sent.'];
    } else if (!w.enabled) {
      text = ['Disabled by hand: nothing is sent to it until it is enabled.'];
    } else if (w.failing_since) {
      text = ['Every delivery has failed since ', timeEl(w.failing_since, false), `: events are retried for 24 hours, and after ${FAILING_DAYS} days of failures the endpoint is disabled. The delivery log shows the errors.`];
    }
    return text ? h('p', {class: 'why', 'data-reason': w.disabled_reason || (w.failing_since ? 'failing_now' : '')}, text) : null;
  }

  function focusEdit(id) {
    document.querySelector(`li.webhook[data-webhook="${CSS.escape(id)}"] .inline-form input[name=url]`)?.focus();
  }

  // ---- create and edit

  // endpointForm is the form that adds an endpoint (w null) or edits w.
  function endpointForm(w) {
    const p = w ? 'edit-' + w.id + '-' : 'new-';
    const url = h('input', {id: p + 'url', name: 'url', type: 'url', required: true, maxlength: 2000, autocomplete: 'off',
      spellcheck: 'false', placeholder: 'https://example.com/switchboard/events', 'aria-describedby': p + 'url-hint', value: w?.url});
    const desc = h('input', {id: p + 'description', name: 'description', maxlength: 500, autocomplete: 'off', value: w?.description});
    const chosen = new Set(w ? w.event_types : []);
    const boxes = types.map(t => {
      const id = p + 'type-' + t.replace(/[^a-z0-9]/gi, '_');
      const blocked = MESSAGE_TYPES.has(t) && noMessages() && !chosen.has(t);
      return h('div', {class: 'check'},
        h('input', {type: 'checkbox', id, name: 'event_types', value: t, checked: chosen.has(t), disabled: blocked,
          'aria-describedby': id + '-h'}),
        h('label', {for: id}, h('code', null, t)),
        h('p', {id: id + '-h', class: 'hint'}, TYPE_WORDS[t] || '',
          blocked ? ' (this token lacks the “messages” scope these events need)' : ''));
    });
    const save = h('button', {type: 'submit', class: 'btn btn-primary', id: p + 'save'}, w ? 'Save' : 'Add endpoint');
    const error = h('p', {class: 'error', role: 'alert', hidden: true, id: p + 'error'});
    const form = h('form', {class: 'webhook-form', id: p + 'form', novalidate: true},
      h('div', {class: 'field'}, h('label', {for: p + 'url'}, 'URL'), url,
        h('p', {id: p + 'url-hint', class: 'hint'}, 'Where the events are POSTed: https (or http) with a public address.')),
      h('div', {class: 'field'}, h('label', {for: p + 'description'}, 'Description (optional)'), desc),
      h('fieldset', {class: 'types-field'}, h('legend', null, 'Events'), boxes),
      error,
      h('div', {class: 'actions'}, save,
        w ? h('button', {type: 'button', class: 'btn btn-quiet', onclick: () => { editing = null; editForm = null; render(); }}, 'Cancel') : null));
    form.addEventListener('submit', async e => {
      e.preventDefault();
      error.hidden = true;
      url.removeAttribute('aria-invalid');
      const u = url.value.trim();
      const picked = [...form.querySelectorAll('input[name=event_types]:checked')].map(i => i.value);
      if (!/^https?:\/\/[^\s/]+/i.test(u)) return fail('Write the endpoint’s URL, starting with https://.', url);
      if (!picked.length) return fail('Choose at least one kind of event.', form.querySelector('input[name=event_types]:not(:disabled)'));
      const b = {url: u, description: desc.value.trim(), event_types: picked};
      if (w) {
        const out = await act(save, () => patch(`/v1/webhooks/${q(w.id)}`, b), 'The endpoint is saved.');
        if (out) { editing = null; editForm = null; render(); }
      } else {
        const out = await act(save, () => post('/v1/webhooks', b));
        if (out?.secret) { addForm = null; showSecret(out, false); }
      }
    });
    function fail(text, field) {
      error.textContent = text;
      error.hidden = false;
      if (field) { field.setAttribute('aria-invalid', 'true'); field.focus(); }
    }
    return form;
  }

  // ---- actions

  async function sendTest(btn, w) {
    const out = await act(btn, () => post(`/v1/webhooks/${q(w.id)}/test`), 'A test event is queued: watch the delivery log.');
    if (out?.event_id) await awaitEvent(w.id, out.event_id);
  }

  async function rotate(btn, w) {
    const ok = await confirmDialog({
      title: 'Rotate the signing secret?',
      body: 'A new secret is made and shown once. The current one keeps signing too for 24 hours, so update your receiver within a day.',
      confirm: 'Rotate', danger: false,
    });
    if (!ok) { btn.focus(); return; }
    const out = await act(btn, () => post(`/v1/webhooks/${q(w.id)}/rotate-secret`));
    if (out?.secret) showSecret(out, true);
  }

  async function remove(btn, w) {
    const ok = await confirmDialog({
      title: 'Delete this endpoint?',
      body: `Nothing more is sent to ${w.url}, and its delivery log is deleted. This cannot be undone.`,
      confirm: 'Delete',
    });
    if (!ok) { btn.focus(); return; }
    logs.delete(w.id);
    if (reveal?.id === w.id) reveal = null;
    await act(btn, () => del(`/v1/webhooks/${q(w.id)}`), 'The endpoint is deleted.');
    document.getElementById('endpoints-h')?.focus();
  }

  // ---- the delivery log

  const newLog = () => ({attempts: [], next: null, loading: true, error: null, awaiting: new Map(), awaitUntil: 0});

  function toggleLog(id) {
    if (logs.has(id)) {
      logs.delete(id);
      render();
      return;
    }
    logs.set(id, newLog());
    render();
    loadLog(id);
  }

  // loadLog reads the log's newest page (more: adds the next older page).
  // Only the log is redrawn, so a form being filled in elsewhere on the
  // page keeps what was typed.
  async function loadLog(id, more = false) {
    const log = logs.get(id);
    if (!log) return;
    log.loading = true;
    try {
      const cur = more && log.next ? '&cursor=' + q(log.next) : '';
      const page = await get(`/v1/webhooks/${q(id)}/attempts?limit=${LOG_PAGE}${cur}`);
      if (!alive || logs.get(id) !== log) return;
      const got = page.attempts || [];
      if (more) {
        const seen = new Set(log.attempts.map(a => a.id));
        log.attempts.push(...got.filter(a => !seen.has(a.id)));
      } else {
        log.attempts = got;
      }
      log.next = page.next_cursor;
      log.error = null;
      // An awaited event is seen once an attempt newer than those known
      // when it was queued shows; the endpoint's state may have changed
      // with it (failing, disabled): read the endpoints again.
      let seen = false;
      for (const a of got) {
        const after = log.awaiting.get(a.event_id);
        if (after !== undefined && cmpID(a.id, after) > 0) { log.awaiting.delete(a.event_id); seen = true; }
      }
      if (seen) recheck(id, got[0]?.http_status === 410 ? 5 : 0);
    } catch (e) {
      if (!alive || logs.get(id) !== log) return;
      log.error = words(e);
    }
    log.loading = false;
    redrawLog(id);
  }

  // recheck reads the endpoints again; while the newest attempt was a 410
  // and the endpoint still shows enabled (the deliverer disables it just
  // after recording the attempt), again a second later, tries times more.
  async function recheck(id, tries) {
    await load();
    if (tries > 0 && alive && hooks?.find(w => w.id === id)?.enabled) {
      setTimeout(() => recheck(id, tries - 1), 1000);
    }
  }

  function redrawLog(id) {
    const w = hooks?.find(x => x.id === id);
    const log = logs.get(id);
    const el = document.getElementById('log-' + id);
    if (!w || !log || !el) return;
    keepFocus(el.parentElement, () => el.replaceWith(logPanel(w, log)));
  }

  // awaitEvent opens an endpoint's log and reads it again every second
  // until a new attempt of the event shows (at most 30 s).
  async function awaitEvent(id, eventID) {
    if (!logs.has(id)) logs.set(id, newLog());
    const log = logs.get(id);
    const known = log.attempts.filter(a => a.event_id === eventID).map(a => a.id).sort(cmpID);
    log.awaiting.set(eventID, known.length ? known[known.length - 1] : '0');
    log.awaitUntil = Date.now() + 30000;
    render();
    await loadLog(id);
    schedulePoll();
  }

  function schedulePoll() {
    clearTimeout(pollTimer);
    if (!alive) return;
    const due = [...logs.entries()].filter(([, l]) => l.awaiting.size && Date.now() < l.awaitUntil);
    for (const [id, l] of logs) {
      if (l.awaiting.size && Date.now() >= l.awaitUntil) { l.awaiting.clear(); redrawLog(id); }
    }
    if (!due.length) return;
    pollTimer = setTimeout(async () => {
      await Promise.all(due.map(([id]) => loadLog(id)));
      schedulePoll();
    }, 1000);
  }

  function logPanel(w, log) {
    const refresh = h('button', {type: 'button', class: 'btn btn-quiet wh-log-refresh', 'data-webhook': w.id}, 'Refresh');
    refresh.addEventListener('click', () => busy(refresh, () => loadLog(w.id)));
    let content;
    if (log.error) {
      content = banner('error', 'The delivery log could not be loaded.', log.error);
    } else if (!log.attempts.length) {
      content = h('p', {class: 'muted'}, log.loading ? 'Loading…' : 'No deliveries yet. Send a test event to try the endpoint.');
    } else {
      content = h('div', {class: 'table-wrap'}, h('table', {class: 'table attempts', 'data-webhook': w.id},
        h('caption', null, `Delivery attempts to ${w.url}, newest first`),
        h('thead', null, h('tr', null, ['Time', 'Event', 'HTTP status', 'Latency', 'Error', ''].map(t => h('th', {scope: 'col'}, t)))),
        h('tbody', null, log.attempts.map(a => attemptRow(w, a)))));
    }
    const older = log.next ? h('button', {type: 'button', class: 'btn btn-quiet older', 'data-webhook': w.id,
      onclick: e => busy(e.currentTarget, () => loadLog(w.id, true))}, 'Show older attempts') : null;
    return h('div', {class: 'delivery-log', id: 'log-' + w.id, 'aria-busy': String(!!log.loading)},
      h('div', {class: 'section-head'}, h('h3', null, 'Delivery log'), refresh),
      log.awaiting.size ? h('p', {class: 'muted'}, `Waiting for ${plural(log.awaiting.size, 'event')} to be attempted…`) : null,
      content, older);
  }

  function attemptRow(w, a) {
    const ok = a.error === null;
    const replay = h('button', {type: 'button', class: 'btn btn-quiet replay', 'data-event': a.event_id, disabled: readOnly()}, 'Replay');
    replay.addEventListener('click', async () => {
      const out = await act(replay, () => post(`/v1/webhooks/${q(w.id)}/events/${q(a.event_id)}/replay`),
        `Event ${a.event_id} is queued again.`);
      if (out?.event_id) await awaitEvent(w.id, out.event_id);
    });
    return h('tr', {'data-attempt': a.id, 'data-event': a.event_id, 'data-ok': String(ok)},
      h('td', null, h('time', {datetime: a.at, title: fullTime(a.at)}, fullTime(a.at))),
      h('td', {class: 'note'}, h('code', null, a.event_id)),
      h('td', {class: 'num http-status'}, a.http_status == null ? 'No answer' : String(a.http_status)),
      h('td', {class: 'num latency'}, `${a.latency_ms < 10 ? a.latency_ms.toFixed(1) : Math.round(a.latency_ms).toLocaleString()} ms`),
      h('td', {class: 'note attempt-error'}, ok ? badge('ok', 'Delivered') : a.error),
      h('td', {class: 'row-actions'}, replay));
  }

  load();
  return {unmount() { alive = false; reveal = null; clearTimeout(pollTimer); }};
}

// copyText copies an input's value: the Clipboard API, else the older
// copy command on the selected text. It resolves to whether it worked.
async function copyText(input) {
  try {
    await navigator.clipboard.writeText(input.value);
    return true;
  } catch {
    input.focus();
    input.select();
    try { return document.execCommand('copy'); } catch { return false; }
  }
}

// cmpID orders decimal id strings numerically.
function cmpID(a, b) {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
