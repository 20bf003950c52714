// Numbers (operator): the numbers Switchboard has, adding one, custom
// number requests to fulfil or decline, unrouted inbound grouped by
// destination (assign it to a workspace), and the number self-test.

import {h, replace, timeEl, duration, plural} from '../dom.js';
import {post, all, q, words} from '../api.js';
import {toast, toastError, promptDialog, busy, badge, keepFocus} from '../ui.js';

export const title = 'Numbers';

const REASONS = {
  unknown_number: 'Switchboard does not have this number',
  no_writer: 'A shared number, and no workspace wrote to this contact from it',
};

export function mount(main) {
  let alive = true;
  const listSec = h('section', {class: 'card', 'aria-labelledby': 'numbers-h'});
  const reqSec = h('section', {class: 'card', 'aria-labelledby': 'requests-h'});
  const unroutedSec = h('section', {class: 'card', 'aria-labelledby': 'unrouted-h'});
  const testSec = h('section', {class: 'card', 'aria-labelledby': 'selftest-h'});
  main.append(h('h1', null, 'Numbers'), h('div', {class: 'stack'}, reqSec, unroutedSec, testSec, listSec));

  let reqFilter = 'open';

  // ---- numbers: the list when the API has one, and adding

  const addForm = (() => {
    const f = {};
    const field = (name, label, attrs = {}, hint) => {
      const id = 'add-' + name;
      f[name] = attrs.tag === 'select'
        ? h('select', {id, name}, attrs.options.map(([v, t]) => h('option', {value: v}, t)))
        : h('input', {id, name, autocomplete: 'off', ...attrs, 'aria-describedby': hint ? id + '-h' : null});
      return h('div', {class: 'field'}, h('label', {for: id}, label), f[name], hint ? h('p', {id: id + '-h', class: 'hint'}, hint) : null);
    };
    const submit = h('button', {type: 'submit', class: 'btn btn-primary'}, 'Add number');
    const form = h('form', {class: 'grid-form', id: 'add-number-form', 'aria-labelledby': 'add-number-title'},
      field('number', 'Number', {required: true, placeholder: '+14155552600', inputmode: 'tel'}, 'E.164: + and the country code.'),
      field('kind', 'Kind', {tag: 'select', options: [['shared', 'Shared (pool)'], ['dedicated', 'Dedicated to a workspace']]}),
      field('workspace', 'Workspace id (dedicated only)', {inputmode: 'numeric', pattern: '[0-9]*'}),
      field('carrier', 'Carrier', {required: true, placeholder: 'sim'}, 'A carrier of the engine’s configuration.'),
      field('class', 'Rate class (optional)', {placeholder: 'shared or dedicated'}),
      h('div', {class: 'actions wide'}, submit));
    form.addEventListener('submit', async e => {
      e.preventDefault();
      const b = {number: f.number.value.trim(), kind: f.kind.value, carrier: f.carrier.value.trim()};
      if (f.kind.value === 'dedicated') b.workspace = f.workspace.value.trim();
      if (f.class.value.trim()) b.class = f.class.value.trim();
      await busy(submit, async () => {
        try {
          const n = await post('/admin/v1/numbers', b);
          toast(`${n.number} is added (${n.kind}).`);
          form.reset();
          loadList();
          loadUnrouted();
        } catch (err) { toastError(err); }
      });
    });
    return {form, f};
  })();

  async function loadList() {
    const parts = [h('h2', {id: 'numbers-h'}, 'Numbers')];
    try {
      const nums = await all('/admin/v1/numbers?status=active', 'numbers');
      parts.push(numbersTable(nums));
    } catch (e) {
      parts.push(h('p', {class: 'error'}, words(e)));
    }
    parts.push(h('h3', {id: 'add-number-title'}, 'Add a number'), addForm.form);
    if (alive) keepFocus(listSec, () => replace(listSec, ...parts));
  }

  function numbersTable(nums) {
    if (!nums.length) return h('p', {class: 'muted'}, 'No numbers yet.');
    const uses = n => (n.connected_by || []).map(u => u.state === 'disabled' ? `${u.workspace} (disabled)` : u.workspace);
    return h('div', {class: 'table-wrap'}, h('table', {class: 'table', id: 'numbers'},
      h('caption', {class: 'visually-hidden'}, 'Numbers'),
      h('thead', null, h('tr', null, ['Number', 'Kind', 'Rate class', 'Carrier', 'Workspace', 'Connected by', 'State']
        .map(t => h('th', {scope: 'col'}, t)))),
      h('tbody', null, nums.map(n => h('tr', {'data-number': n.number},
        h('th', {scope: 'row'}, n.number),
        h('td', null, n.kind),
        h('td', null, n.rate_class),
        h('td', null, n.carrier),
        h('td', null, n.workspace || '—'),
        h('td', null, uses(n).join(', ') || 'nobody'),
        h('td', null, badge(n.status, n.status)))))));
  }

  // ---- custom number requests

  async function loadRequests() {
    const filter = h('select', {id: 'req-filter'},
      [['open', 'Open'], ['all', 'All'], ['fulfilled', 'Fulfilled'], ['declined', 'Declined'], ['cancelled', 'Cancelled']]
        .map(([v, t]) => h('option', {value: v, selected: v === reqFilter}, t)));
    filter.addEventListener('change', () => { reqFilter = filter.value; loadRequests(); });
    const parts = [
      h('div', {class: 'section-head'}, h('h2', {id: 'requests-h'}, 'Custom number requests'),
        h('div', {class: 'field inline'}, h('label', {for: 'req-filter'}, 'Show'), filter)),
    ];
    try {
      const reqs = await all('/admin/v1/number-requests?status=' + reqFilter, 'requests');
      if (!reqs.length) {
        parts.push(h('p', {class: 'muted'}, reqFilter === 'open' ? 'No open requests.' : 'No requests.'));
      } else {
        parts.push(h('div', {class: 'table-wrap'}, h('table', {class: 'table', id: 'number-requests'},
          h('caption', {class: 'visually-hidden'}, 'Custom number requests, oldest first'),
          h('thead', null, h('tr', null, ['Requested', 'Workspace', 'Country', 'Area code', 'Note', 'Status', ''].map(t => h('th', {scope: 'col'}, t)))),
          h('tbody', null, reqs.map(requestRow)))));
      }
    } catch (e) {
      parts.push(h('p', {class: 'error'}, words(e)));
    }
    if (alive) keepFocus(reqSec, () => replace(reqSec, ...parts));
  }

  function requestRow(r) {
    const actions = [];
    if (r.status === 'open') {
      const fulfil = h('button', {type: 'button', class: 'btn btn-primary fulfil', 'data-request': r.id}, 'Fulfil');
      fulfil.addEventListener('click', async () => {
        const v = await promptDialog({
          title: `Fulfil the request of workspace ${r.workspace}`,
          body: `A number in ${r.country}${r.area_code ? ', area code ' + r.area_code : ''}. Name the number to dedicate to the workspace.`,
          fields: [
            {name: 'number', label: 'Number', required: true, placeholder: '+14155552671',
              hint: 'A shared number (it becomes dedicated), or a new one (then name its carrier).'},
            {name: 'carrier', label: 'Carrier (for a new number)'},
            {name: 'class', label: 'Rate class (optional)', placeholder: 'dedicated'},
          ],
          confirm: 'Fulfil',
        });
        if (!v) return fulfil.focus();
        const b = {number: v.number};
        if (v.carrier) b.carrier = v.carrier;
        if (v.class) b.class = v.class;
        await busy(fulfil, async () => {
          try {
            const res = await post(`/admin/v1/number-requests/${r.id}/fulfil`, b);
            toast(`${res.number.number} is dedicated to workspace ${r.workspace}.`);
          } catch (e) { toastError(e); }
        });
        loadRequests();
      });
      const decline = h('button', {type: 'button', class: 'btn btn-danger decline', 'data-request': r.id}, 'Decline');
      decline.addEventListener('click', async () => {
        const v = await promptDialog({
          title: `Decline the request of workspace ${r.workspace}`,
          fields: [{name: 'reason', label: 'Reason (the workspace sees it)', required: true}],
          confirm: 'Decline',
        });
        if (!v) return decline.focus();
        await busy(decline, async () => {
          try {
            await post(`/admin/v1/number-requests/${r.id}/decline`, {reason: v.reason});
            toast('The request is declined.');
          } catch (e) { toastError(e); }
        });
        loadRequests();
      });
      actions.push(fulfil, ' ', decline);
    } else if (r.number) {
      actions.push(r.number);
    } else if (r.decline_reason) {
      actions.push(r.decline_reason);
    }
    return h('tr', {'data-request': r.id},
      h('td', null, timeEl(r.created_at)),
      h('td', null, r.workspace),
      h('td', null, r.country),
      h('td', null, r.area_code || '—'),
      h('td', {class: 'note'}, r.note || ''),
      h('td', null, badge(r.status, r.status)),
      h('td', {class: 'row-actions'}, actions));
  }

  // ---- unrouted inbound

  async function loadUnrouted() {
    const parts = [h('h2', {id: 'unrouted-h'}, 'Unrouted inbound'),
      h('p', {class: 'muted'}, 'Replies Switchboard could not file into a workspace, by the number they were sent to. ' +
        'Many to one number usually means it is set up at the carrier but not here: add it, then assign its messages.')];
    try {
      const groups = await all('/admin/v1/unrouted', 'destinations', {max: 5});
      if (!groups.length) {
        parts.push(h('p', {class: 'muted'}, 'Nothing unrouted.'));
      } else {
        parts.push(h('div', {class: 'table-wrap'}, h('table', {class: 'table', id: 'unrouted'},
          h('caption', {class: 'visually-hidden'}, 'Unrouted inbound by destination, latest first'),
          h('thead', null, h('tr', null, ['To', 'Messages', 'Why', 'Latest', 'Number', ''].map(t => h('th', {scope: 'col'}, t)))),
          h('tbody', null, groups.map(unroutedRow)))));
      }
    } catch (e) {
      parts.push(h('p', {class: 'error'}, words(e)));
    }
    if (alive) keepFocus(unroutedSec, () => replace(unroutedSec, ...parts));
  }

  function unroutedRow(g) {
    const actions = [];
    if (g.number) {
      const assign = h('button', {type: 'button', class: 'btn btn-primary', 'data-number': g.to}, 'Assign');
      assign.addEventListener('click', async () => {
        const v = await promptDialog({
          title: `Assign the messages to ${g.to}`,
          body: `${plural(g.messages, 'message')} from ${plural(g.contacts, 'contact')} go into the workspace’s threads.`,
          fields: [{name: 'workspace', label: 'Workspace id', required: true, value: g.number.workspace || '', pattern: '[0-9]+'}],
          confirm: 'Assign',
        });
        if (!v) return assign.focus();
        await busy(assign, async () => {
          try {
            const res = await post('/admin/v1/unrouted/assign', {workspace: v.workspace, to: g.to});
            toast(`${plural(res.messages.length, 'message')} filed into ${plural(res.threads.length, 'thread')} of workspace ${res.workspace}.`);
          } catch (e) { toastError(e); }
        });
        loadUnrouted();
      });
      actions.push(assign);
    } else {
      const add = h('button', {type: 'button', class: 'btn', 'data-number': g.to}, 'Add this number');
      add.addEventListener('click', () => {
        addForm.f.number.value = g.to;
        addForm.f.carrier.value = g.latest.carrier || '';
        addForm.f.number.focus();
        addForm.f.number.scrollIntoView({block: 'center'});
      });
      actions.push(add);
    }
    return h('tr', {'data-to': g.to},
      h('th', {scope: 'row'}, g.to),
      h('td', null, `${plural(g.messages, 'message')} from ${plural(g.contacts, 'contact')}`, h('br'),
        h('span', {class: 'muted'}, 'first ', timeEl(g.first_received_at), ', last ', timeEl(g.last_received_at))),
      h('td', null, (g.reasons || []).map(r => REASONS[r] || r).join('; ')),
      h('td', {class: 'note'}, h('span', {class: 'muted'}, g.latest.from, ': '), g.latest.text),
      h('td', null, g.number ? `${g.number.kind}${g.number.workspace ? ', workspace ' + g.number.workspace : ''}` : 'Not in Switchboard'),
      h('td', {class: 'row-actions'}, actions));
  }

  // ---- the self-test

  function selfTest() {
    const number = h('input', {id: 'st-number', required: true, inputmode: 'tel', placeholder: '+14155552671', autocomplete: 'off', 'aria-describedby': 'st-number-h'});
    const from = h('input', {id: 'st-from', inputmode: 'tel', autocomplete: 'off', 'aria-describedby': 'st-from-h'});
    const timeout = h('input', {id: 'st-timeout', type: 'number', min: 1, max: 120, value: 20, class: 'short'});
    const run = h('button', {type: 'submit', class: 'btn btn-primary', id: 'st-run'}, 'Run self-test');
    const out = h('div', {id: 'st-result', 'aria-live': 'polite'});
    const form = h('form', {class: 'grid-form'},
      h('div', {class: 'field'}, h('label', {for: 'st-number'}, 'Number to test'), number,
        h('p', {id: 'st-number-h', class: 'hint'}, 'Does the carrier route this number’s replies to Switchboard?')),
      h('div', {class: 'field'}, h('label', {for: 'st-from'}, 'From (optional)'), from,
        h('p', {id: 'st-from-h', class: 'hint'}, 'One of our numbers to send the probe from.')),
      h('div', {class: 'field'}, h('label', {for: 'st-timeout'}, 'Wait up to (seconds)'), timeout),
      h('div', {class: 'actions wide'}, run));
    form.addEventListener('submit', async e => {
      e.preventDefault();
      const n = number.value.trim();
      if (!n) { number.focus(); return; }
      const b = {timeout_ms: Math.round(Math.min(120, Math.max(1, Number(timeout.value) || 20)) * 1000)};
      if (from.value.trim()) b.from = from.value.trim();
      replace(out, h('p', {class: 'muted'}, `Sending a probe to ${n} and waiting up to ${b.timeout_ms / 1000} s for it to come back…`));
      await busy(run, async () => {
        try {
          const r = await post(`/admin/v1/numbers/${q(n)}/self-test`, b);
          replace(out, selfTestResult(r));
        } catch (err) {
          replace(out, h('p', {class: 'error'}, words(err)));
        }
      });
    });
    replace(testSec, h('h2', {id: 'selftest-h'}, 'Number self-test'),
      h('p', {class: 'muted'}, 'Sends a probe message to the number and waits for the carrier to deliver it back to our binds.'),
      form, out);
  }

  function selfTestResult(r) {
    const verdict = {returned: ['ok', 'Came back'], timed_out: ['late', 'Did not come back'], send_failed: ['failed', 'Could not be sent']}[r.result] || ['late', r.result];
    return h('div', {class: 'selftest', 'data-result': r.result},
      h('h3', null, `${r.number} `, badge(verdict[0], verdict[1])),
      h('p', null, `Probe from ${r.from} on carrier ${r.carrier}: ${r.probe.status}` +
        (r.latency_ms != null ? `, back after ${duration(r.latency_ms / 1000)}` : '') + '.'),
      h('p', null, r.hint));
  }

  selfTest();
  loadRequests();
  loadUnrouted();
  loadList();
  const timer = setInterval(() => { if (!document.hidden) { loadRequests(); loadUnrouted(); } }, 15000);
  return {unmount() { alive = false; clearInterval(timer); }};
}
