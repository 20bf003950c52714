// The console's shell: the session, the client-side router, the
// navigation and the workspace's live event stream.

import {h, replace} from './dom.js';
import {session, saveSession, onUnauthorized} from './api.js';
import {EventStream} from './events.js';
import {toast} from './ui.js';
import {loadCounter} from './counter.js';
import * as signin from './views/signin.js';
import * as messages from './views/messages.js';
import * as compose from './views/compose.js';
import * as settings from './views/settings.js';
import * as webhooks from './views/webhooks.js';
import * as usage from './views/usage.js';
import * as binds from './views/binds.js';
import * as numbers from './views/numbers.js';

const BASE = '/console';

const routes = [
  {re: /^\/signin$/, view: signin, role: null},
  {re: /^\/messages(?:\/(\d+))?$/, view: messages, role: 'workspace', nav: '/messages'},
  {re: /^\/compose$/, view: compose, role: 'workspace', nav: '/compose'},
  {re: /^\/settings\/sms$/, view: settings, role: 'workspace', nav: '/settings/sms'},
  {re: /^\/settings\/webhooks$/, view: webhooks, role: 'workspace', nav: '/settings/webhooks'},
  {re: /^\/settings\/usage$/, view: usage, role: 'workspace', nav: '/settings/usage'},
  {re: /^\/binds$/, view: binds, role: 'operator', nav: '/binds'},
  {re: /^\/numbers$/, view: numbers, role: 'operator', nav: '/numbers'},
];

const NAV = {
  workspace: [['/messages', 'Messages'], ['/compose', 'New message'], ['/settings/sms', 'Settings › SMS'],
    ['/settings/webhooks', 'Settings › Webhooks'], ['/settings/usage', 'Settings › Usage']],
  operator: [['/binds', 'Binds'], ['/numbers', 'Numbers']],
};

const home = {workspace: '/messages', operator: '/binds'};

const app = {
  stream: null,
  current: null, // {route, view, cleanup}
  navigate,
  signIn,
  signOut,
  get session() { return session(); },
};

// navigate goes to a console path ("/messages/12") without a reload.
function navigate(path, {replace: rep = false} = {}) {
  const url = BASE + path;
  if (rep) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
}

function signIn(s) {
  saveSession(s);
  startStream();
  if (s.role === 'workspace') loadCounter().catch(() => {});
  navigate(home[s.role], {replace: true});
}

function signOut(message) {
  stopStream();
  saveSession(null);
  if (message) toast(message, 'error');
  navigate('/signin', {replace: true});
}

function startStream() {
  stopStream();
  const s = session();
  if (s?.role !== 'workspace') return;
  app.stream = new EventStream(s.token);
  const live = document.getElementById('live');
  app.stream.on('state', st => {
    live.dataset.state = st;
    live.textContent = {live: 'Live', retrying: 'Reconnecting…', connecting: 'Connecting…', closed: 'Offline'}[st] || st;
  });
  app.stream.on('unauthorized', () => signOut('Your token is no longer accepted. Sign in again.'));
  app.stream.start();
  live.hidden = false;
}

function stopStream() {
  app.stream?.stop();
  app.stream = null;
  const live = document.getElementById('live');
  if (live) { live.hidden = true; live.textContent = ''; }
}

function renderNav(s, active) {
  const nav = document.getElementById('nav');
  const items = s ? NAV[s.role] : [];
  replace(nav, items.length ? h('ul', null, items.map(([path, label]) =>
    h('li', null, h('a', {href: BASE + path, 'data-nav': true, 'aria-current': path === active ? 'page' : null}, label)))) : null);
  const who = document.getElementById('who');
  who.textContent = s ? (s.role === 'operator' ? 'Operator' : 'Workspace') : '';
  document.getElementById('signout').hidden = !s;
}

// render mounts the view of the current location.
function render() {
  let path = location.pathname.slice(BASE.length).replace(/\/+$/, '') || '/';
  const s = session();
  if (path === '/') return navigate(s ? home[s.role] : '/signin', {replace: true});
  if (path === '/settings') return navigate('/settings/sms', {replace: true});
  let route = null, params = null;
  for (const r of routes) {
    const m = r.re.exec(path);
    if (m) { route = r; params = m.slice(1); break; }
  }
  if (!route) {
    return navigate(s ? home[s.role] : '/signin', {replace: true});
  }
  if (route.role && s?.role !== route.role) {
    return navigate(s ? home[s.role] : '/signin', {replace: true});
  }
  if (!route.role && s && route.view === signin) {
    return navigate(home[s.role], {replace: true});
  }
  renderNav(s, route.nav);
  const main = document.getElementById('main');
  const cur = app.current;
  if (cur && cur.route === route && cur.handle?.update) {
    cur.handle.update(params);
    return;
  }
  try { cur?.handle?.unmount?.(); } catch (e) { console.warn(e); }
  main.replaceChildren();
  const handle = route.view.mount(main, app, params) || {};
  app.current = {route, handle};
  document.title = (route.view.title || 'Console') + ' · Switchboard';
  const h1 = main.querySelector('h1');
  if (h1 && app.focusOnRender) {
    h1.setAttribute('tabindex', '-1');
    h1.focus({preventScroll: true});
  }
  app.focusOnRender = true;
}

// Links with data-nav go through the router.
document.addEventListener('click', e => {
  const a = e.target.closest('a[data-nav]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(BASE)) return;
  e.preventDefault();
  history.pushState(null, '', url.pathname + url.search);
  render();
});
window.addEventListener('popstate', render);
document.getElementById('signout').addEventListener('click', () => signOut());
onUnauthorized(() => { if (session()) signOut('Your token is no longer accepted. Sign in again.'); });

if (session()) startStream();
if (session()?.role === 'workspace') loadCounter().catch(() => {});
app.focusOnRender = false;
render();
// For tests and curious operators: the page was loaded this many times
// (a live update must not need a reload).
window.switchboardConsole = {loadedAt: Date.now()};
