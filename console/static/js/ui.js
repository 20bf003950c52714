// Toasts, the confirmation dialog and small pieces every view uses.

import {h, icon} from './dom.js';
import {words} from './api.js';

// toast shows a short message; kind 'error' is announced at once
// (role=alert), others politely.
export function toast(text, kind = 'info') {
  const box = document.getElementById('toasts');
  const t = h('div', {class: 'toast toast-' + kind, role: kind === 'error' ? 'alert' : 'status'}, text);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 9000 : 5000);
  return t;
}

export function toastError(err) {
  return toast(words(err), 'error');
}

// confirmDialog asks before a destructive action; it resolves to true
// when confirmed. Escape and Cancel (or cancelText) say no; focus starts
// there.
export function confirmDialog({title, body, confirm, danger = true, cancelText = 'Cancel'}) {
  return new Promise(resolve => {
    const id = 'dlg-' + Math.random().toString(36).slice(2);
    const cancelBtn = h('button', {type: 'button', class: 'btn', value: 'cancel'}, cancelText);
    const okBtn = h('button', {type: 'button', class: danger ? 'btn btn-danger' : 'btn btn-primary', value: 'ok'}, confirm);
    const dlg = h('dialog', {class: 'dialog', 'aria-labelledby': id + '-t', 'aria-describedby': id + '-b'},
      h('h2', {id: id + '-t'}, title),
      h('p', {id: id + '-b'}, body),
      h('div', {class: 'actions'}, cancelBtn, okBtn));
    let answer = false;
    cancelBtn.addEventListener('click', () => dlg.close());
    okBtn.addEventListener('click', () => { answer = true; dlg.close(); });
    dlg.addEventListener('close', () => { dlg.remove(); resolve(answer); });
    document.body.append(dlg);
    dlg.showModal();
    cancelBtn.focus();
  });
}

// promptDialog asks for a few values; it resolves to an object of them or
// null. fields: [{name, label, required, placeholder, pattern, hint}].
export function promptDialog({title, body, fields, confirm}) {
  return new Promise(resolve => {
    const id = 'dlg-' + Math.random().toString(36).slice(2);
    const inputs = fields.map(f => {
      const fid = id + '-' + f.name;
      const input = h('input', {id: fid, name: f.name, required: f.required, placeholder: f.placeholder, pattern: f.pattern,
        autocomplete: 'off', 'aria-describedby': f.hint ? fid + '-h' : null, value: f.value});
      return {f, input, el: h('div', {class: 'field'}, h('label', {for: fid}, f.label), input,
        f.hint ? h('p', {id: fid + '-h', class: 'hint'}, f.hint) : null)};
    });
    const form = h('form', {method: 'dialog'},
      h('h2', {id: id + '-t'}, title),
      body ? h('p', null, body) : null,
      inputs.map(i => i.el),
      h('div', {class: 'actions'},
        h('button', {type: 'button', class: 'btn', onclick: () => dlg.close()}, 'Cancel'),
        h('button', {type: 'submit', class: 'btn btn-primary'}, confirm)));
    const dlg = h('dialog', {class: 'dialog', 'aria-labelledby': id + '-t'}, form);
    let answer = null;
    form.addEventListener('submit', e => {
      e.preventDefault();
      answer = Object.fromEntries(inputs.map(i => [i.f.name, i.input.value.trim()]));
      dlg.close();
    });
    dlg.addEventListener('close', () => { dlg.remove(); resolve(answer); });
    document.body.append(dlg);
    dlg.showModal();
    inputs[0]?.input.focus();
  });
}

// banner is a notice at the top of a view.
export function banner(kind, title, text, ...extra) {
  return h('div', {class: 'banner banner-' + kind, role: kind === 'warning' || kind === 'error' ? 'alert' : 'status'},
    icon('alert'), h('div', null, h('strong', null, title), text ? h('p', null, text) : null, ...extra));
}

// busy marks a button busy while fn runs and ignores it meanwhile. It
// stays focusable (a disabled button would drop the keyboard focus).
const running = new WeakSet();
export async function busy(btn, fn) {
  if (running.has(btn)) return undefined;
  running.add(btn);
  btn.setAttribute('aria-disabled', 'true');
  btn.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } finally {
    running.delete(btn);
    btn.removeAttribute('aria-disabled');
    btn.removeAttribute('aria-busy');
  }
}

// badge shows a state.
export function badge(state, text) {
  return h('span', {class: 'badge badge-' + state, 'data-state': state}, text || state);
}

// link is an in-app link the router handles.
export function link(href, ...children) {
  return h('a', {href, 'data-nav': true}, ...children);
}

// keepFocus runs fn, which re-renders part of container, and puts the
// focus back on the element that had it (found again by id, or by role,
// class and data-number) so keyboard users keep their place.
export function keepFocus(container, fn) {
  const a = document.activeElement;
  let sel = null;
  if (a && a !== document.body && container.contains(a)) {
    if (a.id) sel = '#' + CSS.escape(a.id);
    else {
      sel = a.tagName.toLowerCase();
      if (a.getAttribute('role')) sel += `[role="${a.getAttribute('role')}"]`;
      if (a.classList[0]) sel += '.' + CSS.escape(a.classList[a.classList.length - 1]);
      for (const k of ['number', 'request', 'to']) {
        if (a.dataset[k]) sel += `[data-${k}="${CSS.escape(a.dataset[k])}"]`;
      }
    }
  }
  fn();
  if (sel) container.querySelector(sel)?.focus({preventScroll: true});
}
