// /docs: Swagger UI over PostgREST's OpenAPI (GET /api/). PostgREST lists what the caller's
// role may use, so the page logs in (POST /auth/login) and sends the token with every request,
// the spec's included. The token is kept in this tab's sessionStorage, under the same key the
// dashboard uses, so a tab that is signed in to the dashboard is signed in here too.
(function () {
  'use strict';
  const KEY = 'mangalm.session';
  const $ = (id) => document.getElementById(id);

  function session() {
    try {
      const s = JSON.parse(sessionStorage.getItem(KEY) || 'null');
      if (s && s.token && (!s.expires_at || Date.parse(s.expires_at) > Date.now())) return s;
    } catch (e) { /* a broken entry counts as signed out */ }
    return null;
  }

  function show() {
    const s = session();
    $('status').textContent = s
      ? `Logged in as ${(s.user && s.user.email) || 'a token'} (${(s.user && s.user.role) || ''}); requests carry the token.`
      : 'Not logged in: only what anyone may call is listed.';
    if (typeof SwaggerUIBundle !== 'function') {
      $('missing').style.display = 'block';
      return;
    }
    SwaggerUIBundle({
      url: '/api/',
      dom_id: '#swagger',
      deepLinking: true,
      requestInterceptor: (req) => {
        const now = session();
        if (now) req.headers.Authorization = `Bearer ${now.token}`;
        return req;
      },
    });
  }

  $('session').addEventListener('submit', async (e) => {
    e.preventDefault();
    const res = await fetch('/auth/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ email: $('email').value, password: $('password').value }),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      $('status').textContent = body.message || `Login failed (${res.status})`;
      return;
    }
    sessionStorage.setItem(KEY, JSON.stringify({ token: body.token, expires_at: body.expires_at, user: body.user }));
    $('password').value = '';
    show();
  });

  $('logout').addEventListener('click', async () => {
    const s = session();
    if (s) {
      await fetch('/auth/logout', { method: 'POST', headers: { Authorization: `Bearer ${s.token}` } }).catch(() => null);
    }
    sessionStorage.removeItem(KEY);
    show();
  });

  show();
}());
