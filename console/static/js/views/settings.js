// Settings › SMS: the add-on, the connected number (configure, enable or
// disable, disconnect), why messages are late, the segment quota, and
// custom number requests.

import {h, replace, timeEl, duration, ago, plural} from '../dom.js';
import {get, put, post, del, all, q, words, session, saveSession, APIError} from '../api.js';
import {toast, toastError, confirmDialog, banner, busy, badge, keepFocus} from '../ui.js';

export const title = 'Settings › SMS';

const STATE_WORDS = {connected: 'Connected', disabled: 'Disabled', disconnected: 'Not connected', available: 'Available'};

export function mount(main, app) {
  const body = h('div', {class: 'stack'}, h('p', {class: 'loading'}, 'Loading…'));
  main.append(
    h('nav', {class: 'crumbs', 'aria-label': 'Breadcrumb'}, h('ol', null, h('li', null, 'Settings'), h('li', {'aria-current': 'page'}, 'SMS'))),
    h('h1', null, 'SMS'),
    body);
  let state = null;
  let configuring = false;
  let alive = true;

  async function load() {
    try {
      const [sms, nums, reqs] = await Promise.all([
        get('/v1/sms'),
        get('/v1/sms/numbers'),
        all('/v1/sms/number-requests', 'requests').catch(e => (e.status === 403 || e.status === 402) ? null : Promise.reject(e)),
      ]);
      if (!alive) return;
      state = {sms, numbers: nums.numbers || [], requests: reqs};
      render();
    } catch (e) {
      if (!alive) return;
      replace(body, banner('error', 'The SMS settings could not be loaded.', words(e),
        h('button', {type: 'button', class: 'btn', onclick: load}, 'Try again')));
    }
  }

  // act runs a settings change; a token without the settings scope is
  // told so once and the actions are disabled.
  async function act(btn, fn, done) {
    await busy(btn, async () => {
      try {
        await fn();
        if (done) toast(done);
      } catch (e) {
        if (e instanceof APIError && e.code === 'forbidden' && e.missingScope === 'settings') {
          const s = session();
          saveSession({...s, scopes: {...(s.scopes || {}), settings: false}});
        }
        toastError(e);
      }
    });
    await load();
  }

  function render() {
    const {sms} = state;
    const canChange = sms.addon && session()?.scopes?.settings !== false;
    const parts = [];
    if (!sms.addon) {
      parts.push(banner('warning', 'SMS add-on required',
        'This workspace does not have the SMS add-on, so SMS cannot be used: connecting a number, sending and requesting ' +
        'numbers are disabled. Ask your Switchboard operator to add it.'));
    } else if (session()?.scopes?.settings === false) {
      parts.push(banner('info', 'Read only', 'This token lacks the “settings” scope: it can see the SMS settings but not change them.'));
    }
    const fs = h('fieldset', {class: 'plain', disabled: !canChange, id: 'sms-actions'},
      h('legend', {class: 'visually-hidden'}, 'SMS settings'),
      connection(), late(), quota(), requests());
    parts.push(fs);
    keepFocus(body, () => replace(body, ...parts));
  }

  function connection() {
    const {sms, numbers} = state;
    const conn = sms.numbers || [];
    const sec = h('section', {class: 'card', 'aria-labelledby': 'conn-h'},
      h('h2', {id: 'conn-h'}, 'Number'),
      h('p', {class: 'status-line'}, 'Status: ', badge(sms.state, STATE_WORDS[sms.state] || sms.state)));
    sec.querySelector('.badge').id = 'sms-status';
    if (!conn.length) {
      sec.append(h('p', {class: 'muted'}, sms.addon
        ? 'No number is connected: sending is blocked until you connect one.'
        : 'No number is connected.'));
    }
    for (const n of conn) sec.append(numberCard(n));
    const avail = numbers.filter(n => n.state === 'available' || n.state === 'connected' || n.state === 'disabled');
    const configure = h('button', {type: 'button', class: 'btn', id: 'configure', 'aria-expanded': String(configuring),
      'aria-controls': 'configure-form'}, 'Configure');
    configure.addEventListener('click', () => { configuring = !configuring; render(); if (configuring) document.getElementById('number-select')?.focus(); });
    sec.append(h('div', {class: 'actions'}, configure));
    if (configuring) sec.append(configureForm(avail));
    return sec;
  }

  function numberCard(n) {
    const enabled = n.state === 'connected';
    const lblId = 'toggle-' + n.number.replace(/\D/g, '');
    const toggle = h('button', {type: 'button', role: 'switch', class: 'switch', 'aria-checked': String(enabled),
      'aria-labelledby': lblId, 'data-number': n.number},
      h('span', {class: 'track', 'aria-hidden': 'true'}, h('span', {class: 'thumb'})),
      h('span', {id: lblId}, enabled ? 'Enabled' : 'Disabled'));
    toggle.addEventListener('click', () => act(toggle,
      () => post(`/v1/sms/number/${enabled ? 'disable' : 'enable'}`, {number: n.number}),
      enabled ? `Sending from ${n.number} is disabled; replies still arrive.` : `Sending from ${n.number} is enabled.`));
    const disconnect = h('button', {type: 'button', class: 'btn btn-danger disconnect', 'data-number': n.number}, 'Disconnect');
    disconnect.addEventListener('click', async () => {
      const ok = await confirmDialog({
        title: `Disconnect ${n.number}?`,
        body: 'The number is removed from this workspace. Sending is blocked until you connect a number again; ' +
          'your conversations stay.',
        confirm: 'Disconnect',
      });
      if (ok) await act(disconnect, () => del('/v1/sms/number?number=' + q(n.number)), `${n.number} is disconnected.`);
      else disconnect.focus();
    });
    return h('div', {class: 'number-card', 'data-number': n.number},
      h('div', null,
        h('p', {class: 'number'}, n.number),
        h('p', {class: 'muted'}, `${n.kind === 'dedicated' ? 'Dedicated number' : 'Shared number'} · rate class ${n.rate_class}`,
          n.connected_at ? [' · connected ', timeEl(n.connected_at, false)] : null),
        n.state === 'disabled' ? h('p', {class: 'muted'}, 'Sending is off: messages to contacts are refused, replies still arrive.') : null),
      h('div', {class: 'number-actions'}, toggle, disconnect));
  }

  function configureForm(avail) {
    const dedicated = avail.filter(n => n.kind === 'dedicated');
    const shared = avail.filter(n => n.kind === 'shared');
    const opt = n => h('option', {value: n.number, selected: n.state !== 'available'},
      n.number + (n.state === 'available' ? '' : ` (${STATE_WORDS[n.state].toLowerCase()})`));
    const select = h('select', {id: 'number-select', name: 'number', required: true, 'aria-describedby': 'number-select-hint'},
      h('option', {value: ''}, 'Choose a number…'),
      dedicated.length ? h('optgroup', {label: 'Your dedicated numbers'}, dedicated.map(opt)) : null,
      shared.length ? h('optgroup', {label: 'Shared pool'}, shared.map(opt)) : null);
    const save = h('button', {type: 'submit', class: 'btn btn-primary', id: 'save-number'}, 'Save');
    const form = h('form', {id: 'configure-form', class: 'inline-form'},
      h('div', {class: 'field'},
        h('label', {for: 'number-select'}, 'Number'),
        select,
        h('p', {id: 'number-select-hint', class: 'hint'},
          avail.length ? 'Dedicated numbers are yours alone and send faster; shared numbers come from a pool any workspace may pick.'
            : 'There is no number to choose: ask your operator for one, or request a custom number below.')),
      h('div', {class: 'actions'}, save,
        h('button', {type: 'button', class: 'btn btn-quiet', onclick: () => { configuring = false; render(); document.getElementById('configure')?.focus(); }}, 'Cancel')));
    form.addEventListener('submit', async e => {
      e.preventDefault();
      if (!select.value) { select.focus(); toast('Choose a number first.', 'error'); return; }
      const number = select.value;
      configuring = false;
      await act(save, () => put('/v1/sms/number', {number}), `${number} is connected.`);
      document.getElementById('sms-status')?.focus?.();
    });
    return form;
  }

  function late() {
    const conn = (state.sms.numbers || []).filter(n => n.sending);
    const sec = h('section', {class: 'card', 'aria-labelledby': 'late-h'}, h('h2', {id: 'late-h'}, 'Why is my SMS late?'));
    if (!conn.length) {
      sec.append(h('p', {class: 'muted'}, 'Connect a number to see how its messages go out.'));
      return sec;
    }
    for (const n of conn) sec.append(lateReport(n));
    return sec;
  }

  function lateReport(n) {
    const s = n.sending;
    const lines = [];
    lines.push(s.rate != null
      ? `${n.number} sends at most ${s.rate} ${s.rate === 1 ? 'segment' : 'segments'} per second (rate class “${s.rate_class}”${n.kind === 'shared' ? ', shared by every workspace on this number' : ''}).`
      : `${n.number} is in rate class “${s.rate_class}”.`);
    if (!s.queue.messages) {
      lines.push('Nothing is waiting to be sent.');
    } else {
      let l = `${plural(s.queue.messages, 'message')} (${plural(s.queue.segments, 'segment')}) ${s.queue.messages === 1 ? 'is' : 'are'} waiting to be sent`;
      if (s.drain_seconds != null) l += `; at this rate they need about ${duration(s.drain_seconds)}`;
      if (s.queue.oldest_queued_at) l += `. The oldest was accepted ${ago(s.queue.oldest_queued_at)}`;
      lines.push(l + '.');
    }
    const lh = s.last_hour;
    if (!lh.submitted) {
      lines.push('Nothing was sent from this number in the last hour.');
    } else {
      lines.push(`In the last hour ${plural(lh.submitted, 'message')} (${plural(lh.segments, 'segment')}) went to the carrier. ` +
        `Half of them waited less than ${duration(lh.wait_p50_seconds)} before going to the carrier, and 95% less than ${duration(lh.wait_p95_seconds)}.`);
    }
    if (lh.carrier_throttled) {
      lines.push(`The carrier answered “throttled” or “queue full” to ${plural(lh.carrier_throttled, 'message')}.`);
    }
    const verdict = {
      number_rate: ['late', 'Held back by this number’s rate'],
      account_share: ['late', 'Held back by the carrier account’s shared rate'],
      carrier: ['late', 'Held back by the carrier'],
      engine: ['late', 'Held back in the engine'],
      other: ['late', 'Late for another reason'],
    }[s.cause] || ['ok', 'On time'];
    const box = h('div', {class: 'late', 'data-number': n.number, 'data-cause': s.cause || 'none'},
      h('h3', null, n.number, ' ', badge(verdict[0], verdict[1])),
      lines.map(l => h('p', null, l)),
      s.advice ? h('p', {class: 'advice'}, s.advice) : h('p', {class: 'advice'}, 'Your messages are not being held back.'));
    if (s.cause === 'number_rate' && s.dedicated_rate && s.dedicated_rate > (s.rate || 0) && n.kind === 'shared') {
      box.append(h('p', null, h('a', {href: '#request-h'}, 'Request a dedicated local number')));
    }
    return box;
  }

  // quota shows each segment cap the operator set (docs/quotas.md): what
  // the current day or month has used of it, as a bar, and when it resets.
  function quota() {
    const q = state.sms.quota;
    const sec = h('section', {class: 'card', 'aria-labelledby': 'quota-h', id: 'quota'}, h('h2', {id: 'quota-h'}, 'Segment quota'));
    if (!q || (!q.daily && !q.monthly)) {
      sec.append(h('p', {class: 'muted'}, 'No segment cap is set for this workspace: nothing is refused for volume.'));
      return sec;
    }
    for (const [cap, u] of [['daily', q.daily], ['monthly', q.monthly]]) {
      if (!u) continue;
      const pct = Math.min(100, Math.floor(u.used * 100 / u.limit));
      const name = cap === 'daily' ? 'Today' : 'This month';
      const state = u.remaining === 0 ? ['failed', 'Cap reached'] : pct >= 80 ? ['late', `${pct} % used`] : ['ok', `${pct} % used`];
      sec.append(h('div', {class: 'quota-cap', 'data-cap': cap},
        h('h3', null, `${name} (${cap} cap)`, ' ', badge(state[0], state[1])),
        h('meter', {min: 0, max: u.limit, value: u.used, low: u.limit * 0.8, high: u.limit * 0.8, optimum: 0,
          'aria-label': `${cap} segments used, ${pct} percent`}),
        h('p', {class: 'quota-used'}, `${u.used.toLocaleString()} of ${plural(u.limit, 'segment')} used; ${plural(u.remaining, 'segment')} left.`),
        h('p', {class: 'muted'}, 'Resets ', timeEl(u.resets_at, false),
          ` (${cap === 'daily' ? 'midnight' : 'the first of the month'} in ${q.time_zone}).`)));
    }
    sec.append(h('p', {class: 'hint'}, 'Every message counts when it is accepted, a scheduled one too. ' +
      'A message that would go past a cap is refused until the cap resets. Your operator sets the caps.'));
    return sec;
  }

  function requests() {
    const sec = h('section', {class: 'card', 'aria-labelledby': 'request-h'},
      h('h2', {id: 'request-h', tabindex: '-1'}, 'Custom numbers'),
      h('p', {class: 'muted'}, 'A dedicated local number is yours alone and sends faster than a shared one. ' +
        'Request one; your operator fulfils the request with a number or declines it.'));
    const country = h('input', {id: 'req-country', name: 'country', required: true, maxlength: 2, pattern: '[A-Za-z]{2}',
      placeholder: 'US', autocomplete: 'country', 'aria-describedby': 'req-country-hint', class: 'short'});
    const area = h('input', {id: 'req-area', name: 'area_code', inputmode: 'numeric', pattern: '[0-9]{1,6}', maxlength: 6,
      placeholder: '415', class: 'short', 'aria-describedby': 'req-area-hint'});
    const note = h('textarea', {id: 'req-note', name: 'note', rows: 2, maxlength: 500, 'aria-describedby': 'req-note-hint'});
    const submit = h('button', {type: 'submit', class: 'btn btn-primary', id: 'request-number'}, 'Request a custom number');
    const form = h('form', {class: 'grid-form', id: 'request-form'},
      h('div', {class: 'field'}, h('label', {for: 'req-country'}, 'Country'), country,
        h('p', {id: 'req-country-hint', class: 'hint'}, 'Two letters, like US or GB.')),
      h('div', {class: 'field'}, h('label', {for: 'req-area'}, 'Area code (optional)'), area,
        h('p', {id: 'req-area-hint', class: 'hint'}, 'Digits only.')),
      h('div', {class: 'field wide'}, h('label', {for: 'req-note'}, 'Note (optional)'), note,
        h('p', {id: 'req-note-hint', class: 'hint'}, 'What the number is for, or how your messages are signed.')),
      h('div', {class: 'actions wide'}, submit));
    form.addEventListener('submit', async e => {
      e.preventDefault();
      if (!/^[A-Za-z]{2}$/.test(country.value.trim())) {
        country.setAttribute('aria-invalid', 'true');
        country.focus();
        toast('Write the country as two letters, like US.', 'error');
        return;
      }
      const b = {country: country.value.trim().toUpperCase()};
      if (area.value.trim()) b.area_code = area.value.trim();
      if (note.value.trim()) b.note = note.value.trim();
      await act(submit, () => post('/v1/sms/number-requests', b), 'Your request is sent to the operator.');
    });
    sec.append(form);
    const reqs = state.requests;
    if (reqs === null) {
      sec.append(h('p', {class: 'muted'}, 'Your requests cannot be shown with this token.'));
    } else if (!reqs.length) {
      sec.append(h('p', {class: 'muted'}, 'No requests yet.'));
    } else {
      sec.append(h('table', {class: 'table', id: 'requests'},
        h('caption', null, 'Your requests, newest first'),
        h('thead', null, h('tr', null, ['Requested', 'Country', 'Area code', 'Status', 'Number or reason', ''].map(t => h('th', {scope: 'col'}, t)))),
        h('tbody', null, reqs.map(requestRow))));
    }
    return sec;
  }

  function requestRow(r) {
    let cancel = null;
    if (r.status === 'open') {
      cancel = h('button', {type: 'button', class: 'btn btn-quiet'}, 'Cancel request');
      cancel.addEventListener('click', async () => {
        const ok = await confirmDialog({title: 'Cancel this request?', body: `The request for a number in ${r.country} is withdrawn.`, confirm: 'Cancel request'});
        if (ok) await act(cancel, () => post(`/v1/sms/number-requests/${r.id}/cancel`), 'The request is cancelled.');
      });
    }
    const words = {open: 'Waiting for the operator', fulfilled: 'Fulfilled', declined: 'Declined', cancelled: 'Cancelled'};
    return h('tr', {'data-request': r.id},
      h('td', null, timeEl(r.created_at)),
      h('td', null, r.country),
      h('td', null, r.area_code || '—'),
      h('td', null, badge(r.status, words[r.status] || r.status)),
      h('td', null, r.number ? [r.number, r.status === 'fulfilled' ? ' — connect it above' : ''] : r.decline_reason || (r.note ? `Note: ${r.note}` : '')),
      h('td', null, cancel));
  }

  const offReq = app.stream?.on('number_request.status', () => load());
  const offQuota = app.stream?.on('quota.threshold', () => load());
  const offResync = app.stream?.on('resync', () => load());
  load();
  return {unmount() { alive = false; offReq?.(); offQuota?.(); offResync?.(); }};
}
