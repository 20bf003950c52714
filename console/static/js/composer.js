// The message field with its live counter, and sending.

import {h} from './dom.js';
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

// Draft remembers the client_ref of a draft until its content changes or
// it is sent.
export class Draft {
  constructor() { this.key = ''; this.ref = ''; }
  refFor(to, text, from) {
    const key = JSON.stringify([to, text, from]);
    if (key !== this.key) { this.key = key; this.ref = clientRef(); }
    return this.ref;
  }
  sent() { this.key = ''; this.ref = ''; }
}

// send posts a message; it resolves to the API's answer.
export function send({to, text, from, ref}) {
  const body = {to, text, client_ref: ref};
  if (from) body.from = from;
  return post('/v1/messages', body);
}
