// The console's only way to the engine: the HTTP API, with the session's
// bearer token. Errors come back as APIError with the API's code, and
// words() says them in plain language.

const KEY = 'switchboard.session';

// session is {role: 'workspace'|'operator', token} or null. It lives in
// the tab's sessionStorage: closing the tab signs out.
export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || 'null');
  } catch {
    return null;
  }
}

export function saveSession(s) {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
}

export class APIError extends Error {
  constructor(status, code, message, missingScope) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.missingScope = missingScope || '';
  }
}

// Listeners of unauthorized answers (the app signs out).
const unauthorized = new Set();
export function onUnauthorized(fn) { unauthorized.add(fn); }

// call makes one API request and returns the decoded answer (null for 204).
export async function call(method, path, body, {token, signal} = {}) {
  const tok = token ?? session()?.token;
  const headers = {Accept: 'application/json'};
  if (tok) headers.Authorization = 'Bearer ' + tok;
  const init = {method, headers, signal, cache: 'no-store', credentials: 'omit'};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError(0, 'network', 'The engine cannot be reached.');
  }
  if (resp.status === 204) return null;
  let data = null;
  const text = await resp.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!resp.ok) throw failure(resp, data, token);
  return data;
}

// failure is the APIError of an answer that is not a success (data: its
// decoded body, if JSON); a 401 to the session's token tells the
// listeners.
function failure(resp, data, token) {
  const e = data?.error || {};
  const err = new APIError(resp.status, e.code || 'http_' + resp.status, e.message || resp.statusText, e.missing_scope);
  if (resp.status === 401 && token === undefined) unauthorized.forEach(fn => fn(err));
  return err;
}

// fetchFile GETs path asking for the type accept (as "text/csv") and
// resolves to {blob, filename}: the answer's body, typed as it came, and
// the name its Content-Disposition suggests ('' when none). Errors are
// APIErrors, as call's.
export async function fetchFile(path, accept, {signal} = {}) {
  const tok = session()?.token;
  const headers = {Accept: accept};
  if (tok) headers.Authorization = 'Bearer ' + tok;
  let resp;
  try {
    resp = await fetch(path, {method: 'GET', headers, signal, cache: 'no-store', credentials: 'omit'});
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError(0, 'network', 'The engine cannot be reached.');
  }
  if (!resp.ok) {
    let data = null;
    try { data = JSON.parse(await resp.text()); } catch { data = null; }
    throw failure(resp, data, undefined);
  }
  const m = /filename="([^"\\/]+)"/.exec(resp.headers.get('Content-Disposition') || '');
  return {blob: await resp.blob(), filename: m ? m[1] : ''};
}

export const get = (p, o) => call('GET', p, undefined, o);
export const post = (p, b, o) => call('POST', p, b ?? {}, o);
export const put = (p, b, o) => call('PUT', p, b, o);
export const del = (p, b, o) => call('DELETE', p, b, o);
export const patch = (p, b, o) => call('PATCH', p, b, o);

// all follows next_cursor and returns every item of a list.
export async function all(path, key, {limit = 100, max = 50} = {}) {
  const out = [];
  let cursor = '';
  for (let i = 0; i < max; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(`${path}${sep}limit=${limit}${cursor ? '&cursor=' + encodeURIComponent(cursor) : ''}`);
    out.push(...(page[key] || []));
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return out;
}

// q encodes a path segment or query value.
export const q = encodeURIComponent;

// Plain words for the API's error codes, as a person using the console
// should read them.
const WORDS = {
  network: 'The engine cannot be reached. Check your connection and try again.',
  unauthorized: 'Your token was not accepted. Sign in again.',
  forbidden: 'This token may not do that.',
  sms_addon_required: 'Your workspace needs the SMS add-on to use SMS.',
  no_number_connected: 'No number is connected, so sending is blocked. Connect a number in Settings → SMS.',
  number_disabled: 'Sending is disabled for this number. Turn it back on in Settings → SMS.',
  recipient_opted_out: 'This contact opted out (they replied STOP). They must text START before you can message them again.',
  invalid_recipient: 'That is not a valid phone number. Write it in international format, with + and the country code, like +14155552671.',
  message_too_long: 'The message is too long: it would need more than 10 parts. Shorten it.',
  invalid_text: 'The message contains characters that cannot be sent.',
  invalid_number: 'That is not a valid phone number. Write it in international format, like +14155552671.',
  number_required: 'Several numbers are connected: choose one.',
  not_found: 'It no longer exists.',
  number_request_closed: 'That request is no longer open.',
  number_request_limit: 'You have as many open requests as allowed. Wait for one to be answered or cancel one.',
  number_in_use: 'Other workspaces have this number connected.',
  number_exists: 'That number exists already.',
  number_retired: 'That number is retired.',
  number_already_dedicated: 'That number is already dedicated to a workspace.',
  unknown_number: 'Switchboard does not have that number.',
  unknown_carrier: 'No carrier of that name is configured.',
  unknown_rate_class: 'No rate class of that name is configured.',
  no_probe_number: 'There is no number to send the self-test from: add a shared number, or name one in “From”.',
  unavailable: 'The engine’s database is unavailable right now. Try again in a moment.',
  payload_too_large: 'That is too large to send.',
  rate_limited: 'Your workspace is sending requests or messages faster than its limit allows. Wait a moment and try again.',
  message_not_cancelable: 'This message can no longer be canceled: it is already being sent, was sent, or is final.',
  webhook_disabled: 'This endpoint is disabled, so nothing is sent to it. Enable it first.',
  webhook_target_refused: 'Webhooks may not be sent to that address: it is a loopback, private or reserved address. Use a public URL (your operator can allow private addresses).',
  internal: 'Something went wrong in the engine. Try again.',
};

const SCOPE_WORDS = {
  messages: 'This token can’t send or read messages: it lacks the “messages” scope.',
  settings: 'This token can’t change the settings (SMS, webhooks): it lacks the “settings” scope.',
};

// words returns what to tell the user about an error.
export function words(err) {
  if (!(err instanceof APIError)) return String(err?.message || err);
  if (err.code === 'forbidden' && SCOPE_WORDS[err.missingScope]) return SCOPE_WORDS[err.missingScope];
  if (err.code === 'invalid_request' || err.code === 'invalid_cursor') return capital(err.message) + '.';
  return WORDS[err.code] || capital(err.message || err.code) + '.';
}

function capital(s) {
  s = String(s || '').replace(/\.$/, '');
  return s.charAt(0).toUpperCase() + s.slice(1);
}
