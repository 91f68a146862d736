// The shell: session, navigation (hash routes, so nginx needs nothing but static files),
// the live event stream, and the page currently shown.
import { clearSession, logout, session } from './api.js';
import * as live from './live.js';
import { toast } from './ui.js';
import * as loginPage from './pages/login.js';
import * as overviewPage from './pages/overview.js';
import * as predictionsPage from './pages/predictions.js';
import * as storesPage from './pages/stores.js';
import * as storePage from './pages/store.js';
import * as uploadPage from './pages/upload.js';

const UPLOAD_ROLES = ['manager', 'admin'];

// Routes: the path shown in the navigation (with a label), its pattern, the page, the roles
// allowed (all signed-in roles when absent).
const ROUTES = [
  { path: '/overview', re: /^\/overview$/, page: overviewPage, label: 'Overview' },
  { path: '/predictions', re: /^\/predictions$/, page: predictionsPage, label: 'Predictions' },
  { path: '/stores', re: /^\/stores$/, page: storesPage, label: 'Stores' },
  { path: '/stores/', re: /^\/stores\/(.+)$/, page: storePage },
  { path: '/upload', re: /^\/upload$/, page: uploadPage, label: 'Upload', roles: UPLOAD_ROLES },
];

// Lets the browser test tell a live update from a page reload.
window.mangalmBootId = window.mangalmBootId || Math.random().toString(36).slice(2);

let current = null; // {page, instance, path}
let refreshTimer = null;
let pendingEvents = [];

const main = document.getElementById('main');

export function navigate(path) {
  if (location.hash === `#${path}`) route();
  else location.hash = path;
}

function allowed(roles, user) {
  return !roles || roles.includes(user.role);
}

function drawShell(user) {
  document.getElementById('topbar').hidden = false;
  document.getElementById('user-name').textContent =
    `${user.full_name || user.email || 'Signed in'} · ${(user.role || '').replace('_', ' ')}`;
  const nav = document.getElementById('nav');
  nav.innerHTML = '';
  for (const { path, label, roles } of ROUTES) {
    if (!label || !allowed(roles, user)) continue;
    const a = document.createElement('a');
    a.href = `#${path}`;
    a.textContent = label;
    a.dataset.path = path;
    nav.append(a);
  }
}

function markNav(path) {
  for (const a of document.querySelectorAll('#nav a')) {
    const on = path === a.dataset.path || path.startsWith(`${a.dataset.path}/`);
    a.classList.toggle('active', on);
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

function unmountCurrent() {
  if (current && current.instance && current.instance.unmount) current.instance.unmount();
  current = null;
}

function showLogin(message) {
  unmountCurrent();
  live.disconnect();
  document.getElementById('topbar').hidden = true;
  main.dataset.page = 'login';
  const instance = loginPage.mount(main, {
    message,
    onSignedIn: () => {
      const back = sessionStorage.getItem('mangalm.after-login');
      sessionStorage.removeItem('mangalm.after-login');
      start();
      navigate(back && back !== '/login' ? back : '/overview');
    },
  });
  current = { page: loginPage, instance, path: '/login' };
}

function route() {
  const s = session();
  const path = location.hash.replace(/^#/, '') || '/overview';
  if (!s) {
    if (path !== '/login') sessionStorage.setItem('mangalm.after-login', path);
    if (location.hash !== '#/login') {
      location.hash = '/login';
      return;
    }
    showLogin();
    return;
  }
  if (path === '/login') {
    navigate('/overview');
    return;
  }
  const user = s.user || {};
  const found = ROUTES.map((r) => ({ ...r, m: path.match(r.re) })).find((r) => r.m);
  unmountCurrent();
  markNav(path);
  if (!found) {
    main.dataset.page = 'not-found';
    main.innerHTML = '<section class="panel"><h1>Page not found</h1><p><a href="#/overview">Back to the overview</a></p></section>';
    return;
  }
  main.dataset.page = found.page.NAME;
  if (!allowed(found.roles, user)) {
    main.innerHTML = '<section class="panel"><h1>Not available</h1><div class="error" role="alert">This page is for managers and admins.</div></section>';
    return;
  }
  const params = found.m.slice(1).map(decodeURIComponent);
  const instance = found.page.mount(main, { user, params, navigate });
  current = { page: found.page, instance, path };
}

// Coalesces a burst of events (an upload sends data_changed and upload_finished together)
// into one refresh of the page on screen.
function onLiveEvent(event) {
  if (event.type === 'token_expired') {
    window.dispatchEvent(new CustomEvent('mangalm:signed-out', {
      detail: { message: 'Your session has expired; sign in again.' },
    }));
    return;
  }
  if (!live.changesData(event)) return;
  pendingEvents.push(event);
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    const events = pendingEvents;
    pendingEvents = [];
    if (current && current.instance && current.instance.refresh) current.instance.refresh(events);
    const upload = events.find((e) => e.type === 'upload_finished' && e.status === 'succeeded');
    if (upload && current && current.page !== uploadPage) {
      toast(`New data from upload ${upload.job_id}: the figures on this page are updated.`, 'info');
    }
    const stamp = document.getElementById('live');
    if (stamp) stamp.dataset.updated = new Date().toISOString();
  }, 300);
}

let subscribed = false;
function start() {
  const s = session();
  if (!s) return;
  drawShell(s.user || {});
  live.connect();
  if (!subscribed) {
    live.subscribe(onLiveEvent);
    subscribed = true;
  }
}

document.getElementById('logout').addEventListener('click', async () => {
  const button = document.getElementById('logout');
  button.disabled = true;
  try {
    await logout();
    toast('Signed out.', 'ok');
  } catch (err) {
    // The token is forgotten here even when the server could not revoke it.
    toast(`Signed out here, but the server said: ${err.message}`, 'error');
  } finally {
    button.disabled = false;
    live.disconnect();
    location.hash = '/login';
  }
});

window.addEventListener('mangalm:signed-out', (e) => {
  clearSession();
  live.disconnect();
  showLogin(e.detail && e.detail.message);
  if (location.hash !== '#/login') history.replaceState(null, '', '#/login');
});

window.addEventListener('hashchange', route);
start();
route();
