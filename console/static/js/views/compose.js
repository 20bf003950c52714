// New message: channel, recipient, text with the live counter; sent from
// the workspace's configured number, now or at a chosen time (in the
// browser's time zone), with an optional validity.

import {h, replace, icon, fullTime} from '../dom.js';
import {get, words} from '../api.js';
import {banner, busy, toast, link} from '../ui.js';
import {messageField, send, Draft, scheduleControl} from '../composer.js';

export const title = 'New message';

export function mount(main, app) {
  const params = new URLSearchParams(location.search);
  const notice = h('div', {id: 'compose-notice'});
  const to = h('input', {id: 'to', name: 'to', type: 'tel', required: true, autocomplete: 'off', inputmode: 'tel',
    placeholder: '+14155552671', 'aria-describedby': 'to-hint', value: params.get('to') || ''});
  const channel = h('select', {id: 'channel', name: 'channel'}, h('option', {value: 'sms', selected: true}, 'Text message (SMS)'));
  const fromBox = h('div', {class: 'field'});
  const msg = messageField({rows: 6});
  const error = h('p', {id: 'send-error', class: 'error', role: 'alert', hidden: true});
  const sendBtn = h('button', {type: 'submit', class: 'btn btn-primary', id: 'send'}, icon('send'), ' Send');
  // The button says what it does: send now, or schedule.
  const schedule = scheduleControl({onChange: t => { error.hidden = true; replace(sendBtn, icon('send'), t ? ' Schedule' : ' Send'); }});
  const draft = new Draft();
  let fromSelect = null;
  let sms = null;
  const fs = h('fieldset', {class: 'plain'},
    h('legend', {class: 'visually-hidden'}, 'Message'),
    h('div', {class: 'field'}, h('label', {for: 'channel'}, 'Channel'), channel),
    fromBox,
    h('div', {class: 'field'}, h('label', {for: 'to'}, 'To'), to,
      h('p', {id: 'to-hint', class: 'hint'}, 'The contact’s mobile number in international format: + and the country code.')),
    msg.el,
    schedule.el,
    error,
    h('div', {class: 'actions'}, sendBtn));
  const form = h('form', {class: 'card compose', novalidate: true}, fs);
  main.append(h('h1', null, 'New message'), notice, form);

  msg.el.addEventListener('count', e => { sendBtn.toggleAttribute('data-too-long', !!e.detail.too_long); });
  to.addEventListener('input', () => { error.hidden = true; to.removeAttribute('aria-invalid'); });
  msg.textarea.addEventListener('input', () => { error.hidden = true; });

  function showError(text, code, field) {
    error.textContent = text;
    error.dataset.code = code || '';
    error.hidden = false;
    if (field) { field.setAttribute('aria-invalid', 'true'); field.focus(); }
  }

  form.addEventListener('submit', async e => {
    e.preventDefault();
    error.hidden = true;
    const recipient = to.value.trim();
    const text = msg.textarea.value;
    if (!recipient) return showError('Write the contact’s number.', 'invalid_request', to);
    if (!text.trim()) return showError('Write a message.', 'invalid_request', msg.textarea);
    const r = msg.result;
    if (r?.too_long) return showError(`The message is too long: ${r.segments} parts, at most ${r.max_segments}. Shorten it.`, 'message_too_long', msg.textarea);
    const sched = schedule.read();
    if (sched.error) return showError(sched.error, 'invalid_request', sched.field);
    const {when, validity: valid} = sched;
    const from = fromSelect?.value || undefined;
    await busy(sendBtn, async () => {
      try {
        const res = await send({to: recipient, text, from, sendAt: when?.rfc3339, validity: valid,
          ref: draft.refFor(recipient, text, from, when?.rfc3339 || '', valid || 0)});
        draft.sent();
        const parts = `${res.segments} ${res.segments === 1 ? 'part' : 'parts'}`;
        toast(res.status === 'scheduled' ? `Message to ${res.to} scheduled for ${fullTime(res.send_at)} (${parts}).`
          : `Message to ${res.to} queued (${parts}).`);
        app.navigate('/messages/' + res.thread_id);
      } catch (err) {
        const field = err.code === 'invalid_recipient' || err.code === 'recipient_opted_out' ? to
          : err.code === 'message_too_long' || err.code === 'invalid_text' ? msg.textarea : null;
        showError(words(err), err.code, field);
      }
    });
  });

  async function load() {
    try {
      sms = await get('/v1/sms');
    } catch (e) {
      replace(notice, banner('error', 'The SMS settings could not be loaded.', words(e)));
      return;
    }
    const conn = (sms.numbers || []);
    replace(fromBox);
    fromSelect = null;
    if (!sms.addon) {
      fs.disabled = true;
      replace(notice, banner('warning', 'SMS add-on required',
        'This workspace does not have the SMS add-on, so messages cannot be sent. Ask your Switchboard operator to add it.'));
      return;
    }
    if (!conn.length) {
      replace(notice, banner('warning', 'No number is connected',
        'Sending is blocked until a number is connected. ', link('/settings/sms', 'Connect one in Settings › SMS.')));
    } else if (!conn.some(n => n.state === 'connected')) {
      replace(notice, banner('warning', 'Sending is disabled',
        'Your number is disabled: messages are refused until you enable it. ', link('/settings/sms', 'Enable it in Settings › SMS.')));
    } else {
      replace(notice);
    }
    if (conn.length > 1) {
      fromSelect = h('select', {id: 'from', name: 'from', 'aria-describedby': 'from-hint'},
        h('option', {value: ''}, 'Automatic (the number already used with this contact, else the least busy)'),
        conn.map(n => h('option', {value: n.number}, `${n.number} (${n.kind}${n.state === 'disabled' ? ', disabled' : ''})`)));
      fromBox.append(h('label', {for: 'from'}, 'From'), fromSelect,
        h('p', {id: 'from-hint', class: 'hint'}, 'Which of your numbers sends it.'));
    } else if (conn.length === 1) {
      fromBox.append(h('span', {class: 'label', id: 'from-label'}, 'From'),
        h('p', {class: 'from', 'aria-labelledby': 'from-label'}, conn[0].number, ' ',
          h('span', {class: 'muted'}, `(${conn[0].kind === 'dedicated' ? 'dedicated' : 'shared'} number${conn[0].state === 'disabled' ? ', disabled' : ''})`)));
    }
  }
  load();
  (params.get('to') ? msg.textarea : to).focus();
  return {};
}
