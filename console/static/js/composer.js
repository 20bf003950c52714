// The message field with its live counter, and sending.

import {h, fullTime} from './dom.js';
import {loadCounter, describe, encodingName} from './counter.js';
import {get, post} from './api.js';

let seq = 0;

// The workspace's smart encoding default (GET /v1/sms), read once per page
// load, so the counter counts the text as the API will send it. Unknown
// (the read failed): off, as the counter counted before.
let smartDefault = null;
function loadSmartDefault() {
  if (!smartDefault) smartDefault = get('/v1/sms').then(s => !!s.smart_encoding, () => false);
  return smartDefault;
}

// messageField is a labelled textarea with the counter under it. The
// visible counter follows every keystroke; a quieter live region tells
// screen readers the count once typing pauses.
export function messageField({label = 'Message', rows = 4, placeholder = ''} = {}) {
  const id = 'msg-' + (++seq);
  const textarea = h('textarea', {id, name: 'text', rows, placeholder, 'aria-describedby': id + '-count', required: true, autocomplete: 'off'});
  const count = h('p', {id: id + '-count', class: 'counter', 'data-state': 'loading'}, 'Counting…');
  const spoken = h('p', {class: 'visually-hidden', 'aria-live': 'polite'});
  const hint = h('p', {class: 'counter-hint', hidden: true});
  let result = null;
  let speakTimer = 0;
  let countFn = null;
  let smart = false;

  function update() {
    if (!countFn) return;
    const r = countFn(textarea.value, smart);
    result = r;
    count.textContent = describe(r);
    count.dataset.state = r.error ? 'error' : r.too_long ? 'too-long' : 'ok';
    count.dataset.encoding = r.encoding;
    count.dataset.segments = r.segments;
    count.dataset.units = r.units;
    count.dataset.chars = r.chars;
    count.dataset.free = r.free;
    count.dataset.tooLong = r.too_long;
    count.dataset.smartApplied = r.smart_applied;
    count.dataset.segmentsSaved = r.segments_saved;
    if (r.smart_applied) {
      hint.hidden = false;
      const n = r.replaced === 1 ? '1 look-alike character' : `${r.replaced} look-alike characters`;
      hint.textContent = `Smart encoding: ${n} (such as curly quotes or dashes) will be sent as ${encodingName('gsm7')} equivalents` +
        (r.segments_saved > 0 ? `, saving ${r.segments_saved === 1 ? '1 part' : r.segments_saved + ' parts'}.` : '.');
    } else if (r.encoding === 'ucs2' && textarea.value) {
      hint.hidden = false;
      hint.textContent = `${encodingName('ucs2')}: the text has characters outside the GSM alphabet (such as emoji), so each part holds ${r.segments > 1 ? 67 : 70} instead of ${r.segments > 1 ? 153 : 160}.`;
    } else {
      hint.hidden = true;
    }
    clearTimeout(speakTimer);
    speakTimer = setTimeout(() => { spoken.textContent = count.textContent; }, 900);
    el.dispatchEvent(new CustomEvent('count', {detail: r}));
  }

  textarea.addEventListener('input', update);
  loadSmartDefault().then(on => { smart = on; update(); });
  loadCounter().then(fn => { countFn = fn; update(); }).catch(() => {
    count.textContent = 'The counter could not start; the engine still checks the length when you send.';
    count.dataset.state = 'unavailable';
  });

  const el = h('div', {class: 'field message-field'},
    h('label', {for: id}, label), textarea, count, hint, spoken);
  return {
    el, textarea,
    get result() { return result; },
    get smart() { return smart; },
    clear() { textarea.value = ''; update(); },
    set(text) { textarea.value = text; update(); },
  };
}

// clientRef makes an idempotency key: a retried send of the same draft is
// one message.
export function clientRef() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return 'console-' + Array.from(b, x => x.toString(16).padStart(2, '0')).join('');
}

// Draft remembers the client_ref of a draft until its content (or its
// send time and validity) changes or it is sent.
export class Draft {
  constructor() { this.key = ''; this.ref = ''; }
  refFor(to, text, from, ...more) {
    const key = JSON.stringify([to, text, from, ...more]);
    if (key !== this.key) { this.key = key; this.ref = clientRef(); }
    return this.ref;
  }
  sent() { this.key = ''; this.ref = ''; }
}

// send posts a message; it resolves to the API's answer. sendAt (RFC
// 3339) schedules it; validity (seconds) bounds how late it may go out.
export function send({to, text, from, ref, sendAt, validity}) {
  const body = {to, text, client_ref: ref};
  if (from) body.from = from;
  if (sendAt) body.send_at = sendAt;
  if (validity) body.validity = validity;
  return post('/v1/messages', body);
}

// MAX_AHEAD_MS is how far ahead a message may be scheduled (the API's
// 35 days).
export const MAX_AHEAD_MS = 35 * 24 * 3600 * 1000;

const p2 = n => String(n).padStart(2, '0');

// localInputValue formats a time as a datetime-local input holds it: the
// browser's local time, to the second.
export function localInputValue(d) {
  return `${String(d.getFullYear()).padStart(4, '0')}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}T${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
}

// scheduleTime reads a datetime-local value ("2030-01-02T09:00" or with
// seconds) as the browser's local time and returns {date, rfc3339}, the
// RFC 3339 form carrying the browser's UTC offset at that date (daylight
// saving included), or null when the value is not a time. A local time
// that does not exist (skipped by a daylight-saving change) moves forward
// as the clock did; one that happens twice is the first.
export function scheduleTime(value) {
  const m = /^(\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/.exec(value || '');
  if (!m) return null;
  const d = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  if (Number.isNaN(d.getTime())) return null;
  const off = -d.getTimezoneOffset();
  const abs = Math.abs(off);
  const zone = off === 0 ? 'Z' : `${off < 0 ? '-' : '+'}${p2(Math.floor(abs / 60))}:${p2(abs % 60)}`;
  return {date: d, rfc3339: localInputValue(d) + zone};
}

// VALIDITY are the validity choices (the API takes 60 to 36000 seconds).
export const VALIDITY = [['', 'The engine’s default'], [300, '5 minutes'], [900, '15 minutes'], [1800, '30 minutes'],
  [3600, '1 hour'], [7200, '2 hours'], [14400, '4 hours'], [36000, '10 hours']];

// zoneName says the browser's time zone: its name and its offset now.
export function zoneName() {
  const name = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
  const off = -new Date().getTimezoneOffset();
  const abs = Math.abs(off);
  return `${name}, UTC${off < 0 ? '−' : '+'}${p2(Math.floor(abs / 60))}:${p2(abs % 60)}`;
}

// scheduleControl is the "when" of a message, as compose and the thread's
// reply box both offer it: a send time typed in the browser's time zone
// (with a preview of the time it reads as, in RFC 3339 with the offset)
// and a validity. Element ids start with prefix ('' in compose, so its
// fields are #send-at, #send-at-preview and #validity). onChange(when) is
// called as the send time is edited, with scheduleTime's answer or null.
//
// read() checks the fields against the clock and returns {when, validity}
// (when null: send now; validity in seconds or undefined), or {error,
// field} with the words to show and the field to mark. reset() empties
// both fields.
export function scheduleControl({prefix = '', legend = 'When (optional)', onChange} = {}) {
  const id = s => prefix + s;
  const sendAt = h('input', {id: id('send-at'), name: 'send_at', type: 'datetime-local', step: 1,
    'aria-describedby': `${id('send-at-hint')} ${id('send-at-preview')}`});
  const preview = h('p', {id: id('send-at-preview'), class: 'hint', 'aria-live': 'polite'});
  const validity = h('select', {id: id('validity'), name: 'validity', 'aria-describedby': id('validity-hint')},
    VALIDITY.map(([v, label]) => h('option', {value: String(v)}, label)));
  const el = h('fieldset', {class: 'schedule'}, h('legend', null, legend),
    h('div', {class: 'field'}, h('label', {for: id('send-at')}, 'Send at'), sendAt,
      h('p', {id: id('send-at-hint'), class: 'hint'}, `Leave empty to send now. In your time zone (${zoneName()}), at most 35 days ahead.`),
      preview),
    h('div', {class: 'field'}, h('label', {for: id('validity')}, 'Valid for'), validity,
      h('p', {id: id('validity-hint'), class: 'hint'}, 'How long after its send time the message may still go out; ' +
        'if the carrier has not taken it by then, it expires instead of arriving late.')));

  // The send time's bounds follow the clock; the preview says when it sends.
  function bounds() {
    const now = Date.now();
    sendAt.min = localInputValue(new Date(now - now % 1000));
    sendAt.max = localInputValue(new Date(now + MAX_AHEAD_MS));
  }
  function show() {
    sendAt.removeAttribute('aria-invalid');
    const t = scheduleTime(sendAt.value);
    preview.dataset.rfc3339 = t ? t.rfc3339 : '';
    preview.textContent = t ? `Sends ${fullTime(t.date.toISOString())} (${t.rfc3339}).` : '';
    onChange?.(t);
  }
  sendAt.addEventListener('focus', bounds);
  sendAt.addEventListener('input', show);
  sendAt.addEventListener('change', show);
  bounds();

  return {
    el, sendAt, validity,
    read() {
      const valid = validity.value ? Number(validity.value) : undefined;
      if (!sendAt.value) return {when: null, validity: valid};
      const when = scheduleTime(sendAt.value);
      if (!when) return {error: 'Write the send time as a date and a time, or clear it to send now.', field: sendAt};
      if (when.date.getTime() < Date.now() - 60000) return {error: 'That send time has passed: choose a later one, or clear it to send now.', field: sendAt};
      if (when.date.getTime() > Date.now() + MAX_AHEAD_MS) return {error: 'A message can be scheduled at most 35 days ahead.', field: sendAt};
      return {when, validity: valid};
    },
    reset() { sendAt.value = ''; validity.value = ''; show(); },
  };
}
