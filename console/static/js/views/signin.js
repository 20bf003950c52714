// Sign in: paste a workspace token or the operator token.

import {h} from '../dom.js';
import {get, words, APIError} from '../api.js';
import {busy} from '../ui.js';

export const title = 'Sign in';

export function mount(main, app) {
  const input = h('input', {id: 'token', name: 'token', type: 'password', required: true, autocomplete: 'off',
    spellcheck: 'false', 'aria-describedby': 'token-hint'});
  const error = h('p', {id: 'signin-error', class: 'error', role: 'alert', hidden: true});
  const button = h('button', {type: 'submit', class: 'btn btn-primary'}, 'Sign in');
  const form = h('form', {class: 'card narrow', novalidate: true},
    h('h1', null, 'Sign in'),
    h('div', {class: 'field'},
      h('label', {for: 'token'}, 'Access token'),
      input,
      h('p', {id: 'token-hint', class: 'hint'},
        'Paste your workspace’s API token (it starts with sbk_), or the operator token. ' +
        'It is kept in this tab only and forgotten when you close it.')),
    error,
    h('div', {class: 'actions'}, button));
  form.addEventListener('submit', async e => {
    e.preventDefault();
    const token = input.value.trim();
    error.hidden = true;
    if (!token) {
      show('Paste a token first.');
      return;
    }
    await busy(button, async () => {
      try {
        const s = await identify(token);
        if (!s) {
          show('This token was not accepted: it is neither a workspace token nor the operator token.');
          return;
        }
        app.signIn(s);
      } catch (err) {
        show(words(err));
      }
    });
  });
  function show(text) {
    error.textContent = text;
    error.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }
  main.append(form);
  input.focus();
  return {};
}

// identify finds out what a token is: a workspace token (GET /v1/sms
// answers; threads tell whether it has the messages scope) or the
// operator token (GET /admin/v1/binds answers). null when neither.
async function identify(token) {
  try {
    await get('/v1/sms', {token});
    let messages = true;
    try {
      await get('/v1/threads?limit=1', {token});
    } catch (e) {
      if (!(e instanceof APIError) || e.status !== 403) throw e;
      messages = false;
    }
    return {role: 'workspace', token, scopes: {messages}};
  } catch (e) {
    if (!(e instanceof APIError) || e.status !== 401) throw e;
  }
  try {
    await get('/admin/v1/binds', {token});
    return {role: 'operator', token};
  } catch (e) {
    if (!(e instanceof APIError) || e.status !== 401) throw e;
  }
  return null;
}
