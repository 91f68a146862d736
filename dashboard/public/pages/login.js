// Login: email and password against POST /auth/login; the token is kept for this tab only.
import { login } from '../api.js';
import { html, render } from '../ui.js';

export const NAME = 'login';

export function mount(el, { message, onSignedIn }) {
  render(el, html`
    <section class="login panel">
      <h1>Mangalm <span>Sales</span></h1>
      <p class="muted">Sign in with the account your manager created for you.</p>
      <form id="login-form" novalidate>
        <label>Email <input id="login-email" name="email" type="email" autocomplete="username" required></label>
        <label>Password <input id="login-password" name="password" type="password" autocomplete="current-password" required></label>
        <div id="login-message">${message ? html`<div class="error" role="alert">${message}</div>` : ''}</div>
        <button id="login-submit" type="submit">Sign in</button>
      </form>
    </section>`);
  const form = el.querySelector('#login-form');
  const box = el.querySelector('#login-message');
  el.querySelector('#login-email').focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const email = form.email.value.trim();
    const password = form.password.value;
    if (!email || !password) {
      render(box, html`<div class="error" role="alert">Enter your email and password.</div>`);
      return;
    }
    const button = form.querySelector('button');
    button.disabled = true;
    render(box, html`<p class="loading" role="status">Signing in…</p>`);
    try {
      await login(email, password);
      onSignedIn();
    } catch (err) {
      const text = err.status === 401 || err.status === 400
        ? `${err.message}` : `Sign-in failed: ${err.message}`;
      render(box, html`<div class="error" role="alert">${text}</div>`);
      button.disabled = false;
    }
  });
  return {};
}
