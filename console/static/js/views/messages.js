// Messages: the workspace's conversations, newest first, and the open
// thread's whole history, both directions, each message with its status.
// New messages and status changes arrive from the event stream.

import {h, replace, icon, timeEl, fullTime} from '../dom.js';
import {get, post, all, words, APIError} from '../api.js';
import {toast, toastError, banner, busy, keepFocus, confirmDialog} from '../ui.js';
import {messageField, send, Draft, scheduleControl} from '../composer.js';

export const title = 'Messages';

const STATUS = {
  queued: 'Queued', sending: 'Sending', submitted: 'Sent to carrier', delivered: 'Delivered',
  failed: 'Failed', expired: 'Expired', rejected: 'Rejected', received: 'Received',
  scheduled: 'Scheduled', canceled: 'Canceled',
};
const FINAL_BAD = new Set(['failed', 'expired', 'rejected']);
// Outbound statuses a message can still be canceled in.
const CANCELABLE = new Set(['scheduled', 'queued']);

// statusTime is when a message got its current status (events carry
// status_at, full messages their status history).
function statusTime(m) {
  if (m.status_at) return ms(m.status_at);
  const hist = m.status_history;
  return ms(hist?.length ? hist[hist.length - 1].at : m.created_at);
}

// ms reads an RFC 3339 time (they do not compare as strings: fractions
// of seconds have no fixed width).
function ms(iso) {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? 0 : t;
}

// cmpID orders decimal id strings numerically.
function cmpID(a, b) {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

export function mount(main, app, params) {
  const threads = new Map(); // id → thread
  let nextCursor = null;
  let openID = params[0] || null;
  let open = null; // {id, contact, number, messages: Map}
  let alive = true;
  const seenInbound = new Set();

  const list = h('ul', {id: 'thread-list', class: 'thread-list', 'aria-labelledby': 'threads-h'});
  const more = h('div', {class: 'more'});
  const listState = h('p', {class: 'muted', id: 'threads-state'}, 'Loading…');
  const pane = h('section', {class: 'thread-pane', 'aria-label': 'Conversation'});
  const announce = h('p', {class: 'visually-hidden', 'aria-live': 'polite', id: 'announce'});
  main.append(h('div', {class: 'inbox'},
    h('section', {class: 'threads'},
      h('div', {class: 'threads-head'},
        h('h1', {id: 'threads-h'}, 'Messages'),
        h('a', {href: '/console/compose', 'data-nav': true, class: 'btn btn-primary', id: 'new'}, icon('plus'), ' New')),
      listState, list, more),
    pane, announce));

  // ---- the list of threads

  function sorted() {
    return [...threads.values()].sort((a, b) => ms(b.last_message_at) - ms(a.last_message_at) || cmpID(b.id, a.id));
  }

  function renderList() {
    const ts = sorted();
    listState.hidden = ts.length > 0;
    listState.textContent = 'No conversations yet. Start one with New.';
    keepFocus(list, () => replace(list, ts.map(threadItem)));
    replace(more, nextCursor ? h('button', {type: 'button', class: 'btn btn-quiet', onclick: loadMore}, 'Show older conversations') : null);
  }

  function threadItem(t) {
    const last = t.last_message;
    return h('li', null, h('a', {href: '/console/messages/' + t.id, 'data-nav': true, class: 'thread', 'data-thread': t.id,
      'aria-current': t.id === openID ? 'page' : null},
      h('span', {class: 'channel'}, icon('sms', t.channel === 'sms' ? 'SMS' : t.channel)),
      h('span', {class: 'who'}, t.contact),
      h('span', {class: 'when'}, timeEl(t.last_message_at)),
      t.unread_count > 0 ? h('span', {class: 'unread', 'data-unread': t.unread_count}, String(t.unread_count), h('span', {class: 'visually-hidden'}, ' unread')) : null,
      h('span', {class: 'last'}, last ? [last.direction === 'out' ? 'You: ' : '', last.text] : '')));
  }

  async function loadList() {
    try {
      const page = await get('/v1/threads?limit=100');
      if (!alive) return;
      threads.clear();
      for (const t of page.threads) threads.set(t.id, t);
      nextCursor = page.next_cursor;
      // The open thread is being read: a list fetched before its read was
      // stored must not bring its unread count back.
      if (open && open.id === openID && threads.get(openID)?.unread_count > 0) markRead(openID);
      else renderList();
    } catch (e) {
      if (!alive) return;
      listState.hidden = false;
      replace(listState, words(e), ' ', h('button', {type: 'button', class: 'btn btn-quiet', onclick: loadList}, 'Try again'));
    }
  }

  async function loadMore() {
    try {
      const page = await get('/v1/threads?limit=100&cursor=' + encodeURIComponent(nextCursor));
      for (const t of page.threads) if (!threads.has(t.id)) threads.set(t.id, t);
      nextCursor = page.next_cursor;
      renderList();
    } catch (e) {
      toast(words(e), 'error');
    }
  }

  let reloadTimer = 0;
  function reloadListSoon() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(loadList, 150);
  }

  // ---- the open thread

  function renderPane() {
    if (!openID) {
      replace(pane, h('div', {class: 'empty'}, h('p', null, 'Choose a conversation, or start one with New.')));
      return;
    }
    if (!open || open.id !== openID) {
      replace(pane, h('p', {class: 'muted'}, 'Loading…'));
      return;
    }
    if (open.error) {
      replace(pane, banner('error', 'This conversation could not be loaded.', open.error));
      return;
    }
    const t = threads.get(openID) || open;
    const ol = h('ol', {class: 'messages', id: 'messages', 'aria-label': `Messages with ${t.contact}, oldest first`});
    for (const m of orderedMessages()) ol.append(messageItem(m));
    const reply = replyForm(t);
    replace(pane,
      h('header', {class: 'thread-head'},
        h('h2', {id: 'thread-h', tabindex: '-1'}, icon('sms', 'SMS'), ' ', t.contact),
        h('p', {class: 'muted'}, 'Text message · your number ', t.number || ''),
        optOutNote(open.optOut)),
      h('div', {class: 'scroller', id: 'scroller'}, ol),
      reply);
    scrollDown(true);
  }

  // optOutNote says when the contact opted out (nothing is sent to them
  // until they text START or the opt-out is removed), and how.
  function optOutNote(st) {
    if (!st?.opted_out) return null;
    const how = st.source === 'keyword' ? `by texting ${st.keyword || 'a keyword'}`
      : st.source === 'operator' ? 'by the operator' : st.source === 'api' ? 'through the API' : '';
    return h('p', {class: 'opted-out', id: 'opted-out', role: 'status', 'data-source': st.source || ''},
      'Opted out', how ? ' ' + how : '', st.changed_at ? [' · ', timeEl(st.changed_at)] : '',
      ': messages to this contact are refused until they text START.');
  }

  function orderedMessages() {
    return [...open.messages.values()].sort((a, b) => ms(a.created_at) - ms(b.created_at) || cmpID(a.id, b.id));
  }

  function messageItem(m) {
    const out = m.direction === 'out';
    let status = STATUS[m.status] || m.status;
    if (FINAL_BAD.has(m.status)) {
      const err = m.error;
      if (err?.reason) status += ': ' + err.reason;
      const code = err?.carrier_code || m.carrier_error;
      if (code) status += ` (carrier error 0x${code.toString(16).toUpperCase().padStart(8, '0')})`;
    }
    let when = null;
    if (m.status === 'scheduled' && m.send_at) {
      when = [' for ', h('time', {class: 'send-at', datetime: m.send_at, title: fullTime(m.send_at)}, fullTime(m.send_at))];
    }
    return h('li', {class: 'msg ' + (out ? 'msg-out' : 'msg-in') + ' msg-' + m.status, 'data-message-id': m.id, 'data-direction': m.direction, 'data-status': m.status},
      h('div', {class: 'bubble'}, h('span', {class: 'visually-hidden'}, out ? 'You: ' : 'They: '), m.text),
      h('div', {class: 'meta'},
        timeEl(m.created_at),
        out && m.segments > 1 ? ` · ${m.segments} parts` : '',
        ' · ',
        h('span', {class: 'status status-' + m.status, title: m.status_at ? `${STATUS[m.status] || m.status} ${fullTime(m.status_at)}` : null}, status, when),
        out && CANCELABLE.has(m.status) ? cancelButton(m) : null));
  }

  // cancelButton cancels a scheduled or queued message after asking; the
  // answer (canceled, or 409 when it already went out) updates the thread.
  function cancelButton(m) {
    const btn = h('button', {type: 'button', class: 'btn btn-quiet cancel-msg', 'data-message-id': m.id,
      'aria-label': `Cancel the message “${m.text.length > 40 ? m.text.slice(0, 40) + '…' : m.text}”`}, 'Cancel');
    btn.addEventListener('click', async () => {
      const ok = await confirmDialog({
        title: 'Cancel this message?',
        body: m.status === 'scheduled' && m.send_at ? `It was to be sent ${fullTime(m.send_at)}. Once canceled it is never sent.`
          : 'It has not gone out yet. Once canceled it is never sent.',
        confirm: 'Cancel message', cancelText: 'Keep it',
      });
      if (!ok) { btn.focus(); return; }
      await busy(btn, async () => {
        try {
          upsert(await post(`/v1/messages/${m.id}/cancel`));
          toast('The message is canceled: it will not be sent.');
        } catch (e) {
          toastError(e);
          if (e instanceof APIError && e.code === 'message_not_cancelable') {
            get('/v1/messages/' + m.id).then(full => upsert(full)).catch(() => {});
          }
        }
      });
      if (!btn.isConnected) pane.querySelector('#thread-h')?.focus({preventScroll: true});
    });
    return btn;
  }

  // replyForm is the reply box: the message field with its counter, and
  // Send; "Schedule…" opens compose's schedule control (a send time and a
  // validity) in the box, and Send becomes Schedule once a time is set.
  // Closing the control ("Send now instead") clears it, so a reply never
  // goes out later than the box shows. A scheduled reply appears in the
  // thread as scheduled, with its send time and Cancel.
  function replyForm(t) {
    const field = messageField({label: 'Reply', rows: 3});
    const btn = h('button', {type: 'submit', class: 'btn btn-primary', id: 'reply-send'}, icon('send'), ' Send');
    const err = h('p', {class: 'error', role: 'alert', hidden: true, id: 'reply-error'});
    const schedule = scheduleControl({prefix: 'reply-', legend: 'Schedule this reply',
      onChange: when => { err.hidden = true; replace(btn, icon('send'), when ? ' Schedule' : ' Send'); }});
    const panel = h('div', {id: 'reply-schedule', class: 'reply-schedule', hidden: true}, schedule.el);
    const toggle = h('button', {type: 'button', class: 'btn btn-quiet', id: 'reply-schedule-toggle',
      'aria-expanded': 'false', 'aria-controls': 'reply-schedule'});
    // showSchedule opens or closes the control; the toggle says what
    // clicking it does next.
    function showSchedule(on) {
      panel.hidden = !on;
      toggle.setAttribute('aria-expanded', String(on));
      toggle.textContent = on ? 'Send now instead' : 'Schedule…';
      if (!on) schedule.reset();
    }
    showSchedule(false);
    toggle.addEventListener('click', () => {
      showSchedule(panel.hidden);
      (panel.hidden ? field.textarea : schedule.sendAt).focus();
    });
    const draft = new Draft();
    const form = h('form', {class: 'reply', novalidate: true}, field.el, panel, err, h('div', {class: 'actions'}, toggle, btn));
    field.textarea.addEventListener('input', () => { err.hidden = true; });
    function showError(text, code, el) {
      err.textContent = text;
      err.dataset.code = code || '';
      err.hidden = false;
      if (el) { el.setAttribute('aria-invalid', 'true'); el.focus(); }
    }
    form.addEventListener('submit', async e => {
      e.preventDefault();
      const text = field.textarea.value;
      if (!text.trim()) { field.textarea.focus(); return; }
      if (field.result?.too_long) {
        return showError(`The message is too long: ${field.result.segments} parts, at most ${field.result.max_segments}.`, 'message_too_long');
      }
      const sched = panel.hidden ? {when: null} : schedule.read();
      if (sched.error) return showError(sched.error, 'invalid_request', sched.field);
      const {when, validity} = sched;
      await busy(btn, async () => {
        try {
          const res = await send({to: t.contact, text, sendAt: when?.rfc3339, validity,
            ref: draft.refFor(t.contact, text, '', when?.rfc3339 || '', validity || 0)});
          draft.sent();
          field.clear();
          if (when) {
            toast(`Reply scheduled for ${fullTime(res.send_at || when.date.toISOString())}.`);
            showSchedule(false);
          }
          if (res.thread_id !== openID) { app.navigate('/messages/' + res.thread_id); return; }
          upsert({id: res.id, thread_id: res.thread_id, direction: 'out', from: res.from, to: res.to, text: res.text ?? text,
            encoding: res.encoding, segments: res.segments, status: res.status, send_at: res.send_at,
            created_at: new Date().toISOString()});
          field.textarea.focus();
        } catch (e2) {
          showError(words(e2), e2.code);
        }
      });
    });
    return form;
  }

  function scrollDown(force) {
    const sc = pane.querySelector('#scroller');
    if (!sc) return;
    if (force || sc.scrollHeight - sc.scrollTop - sc.clientHeight < 120) sc.scrollTop = sc.scrollHeight;
  }

  // upsert adds or updates a message of the open thread in place.
  function upsert(m) {
    if (!open || open.id !== m.thread_id) return;
    const had = open.messages.get(m.id);
    if (had && statusTime(m) < statusTime(had)) return; // an older state than the one shown
    open.messages.set(m.id, had ? {...had, ...m, text: m.text ?? had.text, error: m.error ?? had.error} : m);
    const ol = pane.querySelector('#messages');
    if (!ol) return;
    const el = messageItem(open.messages.get(m.id));
    const old = ol.querySelector(`li[data-message-id="${m.id}"]`);
    if (old) {
      old.replaceWith(el);
    } else {
      const nearBottom = isNearBottom();
      // Keep the order: insert before the first later message.
      const later = orderedMessages().findIndex(x => x.id === m.id) + 1;
      const next = orderedMessages()[later];
      const nextEl = next && ol.querySelector(`li[data-message-id="${next.id}"]`);
      ol.insertBefore(el, nextEl || null);
      if (nearBottom) scrollDown(true);
    }
  }

  function isNearBottom() {
    const sc = pane.querySelector('#scroller');
    return !sc || sc.scrollHeight - sc.scrollTop - sc.clientHeight < 120;
  }

  let pending = []; // events for the thread being loaded
  async function loadThread(id, {focus = false} = {}) {
    open = null;
    pending = [];
    renderPane();
    try {
      const msgs = await all(`/v1/threads/${id}/messages`, 'messages');
      if (!alive || openID !== id) return;
      const t = threads.get(id);
      const first = msgs[0];
      open = {
        id,
        contact: t?.contact || (first ? (first.direction === 'out' ? first.to : first.from) : ''),
        number: t?.number || (first ? (first.direction === 'out' ? first.from : first.to) : ''),
        channel: t?.channel || 'sms',
        messages: new Map(msgs.map(m => [m.id, m])),
      };
      for (const m of msgs) if (m.direction === 'in') seenInbound.add(m.id);
      try {
        open.optOut = await get(`/v1/opt-outs/${encodeURIComponent(open.contact)}`);
      } catch { /* the state is a hint: the thread shows without it */ }
      if (!alive || openID !== id) return;
      renderPane();
      for (const d of pending) upsert(d);
      pending = [];
      markRead(id);
      if (focus) pane.querySelector('#thread-h')?.focus({preventScroll: true});
    } catch (e) {
      if (!alive || openID !== id) return;
      open = {id, error: words(e), messages: new Map()};
      renderPane();
    }
  }

  let readTimer = 0;
  function markRead(id) {
    const t = threads.get(id);
    if (t) { t.unread_count = 0; renderList(); }
    clearTimeout(readTimer);
    readTimer = setTimeout(() => post(`/v1/threads/${id}/read`).catch(() => {}), 300);
  }

  // ---- live events

  function onMessage(kind, d) {
    const t = threads.get(d.thread_id);
    const isNewInbound = kind === 'message.received' && !seenInbound.has(d.id);
    if (kind === 'message.received') seenInbound.add(d.id);
    if (!t) {
      reloadListSoon(); // a conversation this list does not have yet
    } else {
      if (!t.last_message || t.last_message.id === d.id || ms(d.created_at) >= ms(t.last_message.created_at)) {
        t.last_message = d;
      }
      if (ms(d.created_at) > ms(t.last_message_at)) t.last_message_at = d.created_at;
      if (isNewInbound && d.thread_id !== openID) t.unread_count = (t.unread_count || 0) + 1;
      renderList();
    }
    if (!open && d.thread_id === openID) pending.push(d);
    if (open && d.thread_id === open.id) {
      upsert(d);
      if (isNewInbound) {
        announce.textContent = `New message from ${d.from}: ${d.text}`;
        markRead(open.id);
      }
      // Events carry no error or send time: read the message for them.
      if (FINAL_BAD.has(d.status) || (d.status === 'scheduled' && !open.messages.get(d.id)?.send_at)) {
        get('/v1/messages/' + d.id).then(full => upsert(full)).catch(() => {});
      }
    } else if (isNewInbound) {
      announce.textContent = `New message from ${d.from}`;
    }
  }

  const offs = [];
  if (app.stream) {
    offs.push(app.stream.on('message.received', d => onMessage('message.received', d)));
    offs.push(app.stream.on('message.status', d => onMessage('message.status', d)));
    offs.push(app.stream.on('resync', () => { loadList(); if (openID) loadThread(openID); }));
  }

  renderPane();
  loadList().then(() => { if (openID) loadThread(openID); });

  return {
    update(p) {
      const id = p[0] || null;
      if (id === openID) return;
      openID = id;
      renderList();
      if (id) loadThread(id, {focus: true});
      else { open = null; renderPane(); }
    },
    unmount() {
      alive = false;
      offs.forEach(f => f());
      clearTimeout(reloadTimer);
      clearTimeout(readTimer);
    },
  };
}
