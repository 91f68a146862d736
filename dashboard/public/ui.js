// Small helpers shared by the pages: safe HTML templates, number and date formats, states,
// messages and charts.

// --- HTML: every interpolated value is escaped unless wrapped in raw() --------------------
const RAW = Symbol('raw');

export function raw(text) {
  return { [RAW]: String(text) };
}

export function escape(value) {
  return String(value)
    .replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;').replaceAll("'", '&#39;');
}

function piece(v) {
  if (v === null || v === undefined || v === false) return '';
  if (Array.isArray(v)) return v.map(piece).join('');
  if (typeof v === 'object' && RAW in v) return v[RAW];
  return escape(v);
}

// html`<p>${text}</p>` -> a raw() fragment, so templates nest.
export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((v, i) => { out += piece(v) + strings[i + 1]; });
  return raw(out);
}

export function render(el, fragment) {
  el.innerHTML = piece(fragment);
}

// --- numbers for the data's currency (Indian grouping: 1,23,45,678) -------------------------
const formatters = new Map();
function formatter(key, options) {
  if (!formatters.has(key)) formatters.set(key, new Intl.NumberFormat('en-IN', options));
  return formatters.get(key);
}

export function num(value) {
  return value === null || value === undefined || value === '' ? null : Number(value);
}

// A count or quantity: 1,23,456 (up to `digits` decimals).
export function count(value, digits = 0) {
  const n = num(value);
  if (n === null || Number.isNaN(n)) return '–';
  return formatter(`n${digits}`, { maximumFractionDigits: digits }).format(n);
}

// An amount of money in the given currency (INR when the data does not say): ₹1,23,456.
export function money(value, currency = 'INR', digits = 0) {
  const n = num(value);
  if (n === null || Number.isNaN(n)) return '–';
  const code = /^[A-Z]{3}$/.test(currency || '') ? currency : 'INR';
  return formatter(`c${code}${digits}`, {
    style: 'currency', currency: code, minimumFractionDigits: digits, maximumFractionDigits: digits,
  }).format(n);
}

// A ratio 0..1 as a percentage.
export function percent(value, digits = 0) {
  const n = num(value);
  if (n === null || Number.isNaN(n)) return '–';
  return formatter(`p${digits}`, { style: 'percent', maximumFractionDigits: digits }).format(n);
}

export function day(value) {
  if (!value) return '–';
  const d = new Date(value.length === 10 ? `${value}T00:00:00` : value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toLocaleDateString('en-IN', { day: 'numeric', month: 'short', year: 'numeric' });
}

export function when(value) {
  if (!value) return '–';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value)
    : d.toLocaleString('en-IN', { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

// --- states ---------------------------------------------------------------------------
export function loading(text = 'Loading…') {
  return html`<p class="loading" role="status">${text}</p>`;
}

export function empty(text) {
  return html`<p class="empty">${text}</p>`;
}

export function errorBox(err) {
  const message = err && err.message ? err.message : String(err);
  return html`<div class="error" role="alert">${message}</div>`;
}

// Runs an async loader into a panel: loading state first, error message on failure.
export async function fill(el, loader, draw) {
  if (!el.dataset.loaded) render(el, loading());
  try {
    const data = await loader();
    draw(data);
    el.dataset.loaded = '1';
    return data;
  } catch (err) {
    render(el, errorBox(err));
    return undefined;
  }
}

// A short message at the top of the page; kind: info | ok | error.
export function toast(message, kind = 'info', ms = 5000) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const el = document.createElement('div');
  el.className = `toast ${kind}`;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  el.textContent = message;
  box.append(el);
  setTimeout(() => el.remove(), ms);
}

// --- charts (Chart.js from /vendor/, loaded as a classic script) ---------------------------
export function chartLibrary() {
  if (!window.Chart) {
    throw new Error('The chart library is missing (dashboard/public/vendor/): run `npm ci` in dashboard/ (scripts/install.sh does on a fresh checkout).');
  }
  return window.Chart;
}

// Draws (or redraws in place) a chart on the canvas; returns the Chart instance.
export function drawChart(canvas, previous, config) {
  const Chart = chartLibrary();
  if (previous && previous.canvas === canvas) {
    previous.data = config.data;
    previous.options = config.options;
    previous.update();
    return previous;
  }
  if (previous) previous.destroy();
  return new Chart(canvas, config);
}

export const PRIORITY_RANK = { high: 0, medium: 1, low: 2 };
