// Every call the dashboard makes: /auth/, POST /uploads and the rejects CSV (the Python service),
// /api/ (PostgREST, also for reading upload jobs).
// Plain fetch: PostgREST's URL grammar is the API, and a client library would add weight
// without removing a line here. The session (token, expiry, user) lives in sessionStorage, so
// it ends with the tab and never outlives the token.

const SESSION_KEY = 'mangalm.session';

// An error a person can read: the message of the JSON error body when there is one.
export class ApiError extends Error {
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

// The current session {token, expires_at, user}, or null when signed out or expired.
export function session() {
  let s = null;
  try {
    s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
  } catch {
    s = null;
  }
  if (!s || !s.token) return null;
  if (s.expires_at && Date.parse(s.expires_at) <= Date.now()) {
    sessionStorage.removeItem(SESSION_KEY);
    return null;
  }
  return s;
}

function saveSession(s) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
}

export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

// Fired on window when a call comes back 401: the app shows the login page again.
function sessionEnded(message) {
  clearSession();
  window.dispatchEvent(new CustomEvent('mangalm:signed-out', { detail: { message } }));
}

// The readable message of an error body: PostgREST {message, details, hint}, the service's
// {message} or {error}, or the status line.
function messageOf(body, res) {
  if (body && typeof body === 'object') {
    const main = body.message || body.error || body.detail || body.msg;
    if (main) {
      const extra = body.hint || (typeof body.details === 'string' ? body.details : '');
      return extra ? `${main} (${extra})` : String(main);
    }
  }
  if (typeof body === 'string' && body.trim() && body.length < 300) return body.trim();
  if (res.status === 503 || res.status === 502) return 'The server is not reachable right now; retry in a moment.';
  if (res.status === 429) return 'Too many requests; wait a moment and retry.';
  return `The server answered ${res.status} ${res.statusText || ''}`.trim();
}

async function readBody(res) {
  const text = await res.text();
  if (!text) return null;
  const type = res.headers.get('content-type') || '';
  if (type.includes('json')) {
    try { return JSON.parse(text); } catch { return text; }
  }
  return text;
}

// One HTTP call with the session's token; resolves to the parsed body, throws ApiError.
export async function request(path, { method = 'GET', body, headers = {}, auth = true } = {}) {
  const h = { Accept: 'application/json', ...headers };
  const s = session();
  if (auth && s) h.Authorization = `Bearer ${s.token}`;
  let payload = body;
  if (body !== undefined && !(body instanceof Blob) && typeof body !== 'string') {
    h['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: payload });
  } catch (err) {
    throw new ApiError('The server cannot be reached; check the connection and retry.', 0, null);
  }
  const data = await readBody(res);
  if (!res.ok) {
    const message = messageOf(data, res);
    if (res.status === 401 && auth && s) sessionEnded('Your session has ended; sign in again.');
    throw new ApiError(message, res.status, data);
  }
  return data;
}

// Query string from an object; arrays repeat the key (PostgREST ANDs repeated filters).
function qs(params = {}) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    for (const one of Array.isArray(v) ? v : [v]) {
      parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(one)}`);
    }
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

// --- /auth -----------------------------------------------------------------------------
export async function login(email, password) {
  const data = await request('/auth/login', { method: 'POST', body: { email, password }, auth: false });
  if (!data || !data.token) throw new ApiError('The login answer had no token.', 500, data);
  saveSession({ token: data.token, expires_at: data.expires_at, user: data.user || {} });
  return session();
}

// Revokes the token on the server, then forgets it here (also when the server is away).
export async function logout() {
  try {
    if (session()) await request('/auth/logout', { method: 'POST' });
  } finally {
    clearSession();
  }
}

// --- /api (PostgREST) ------------------------------------------------------------------
export function get(resource, params) {
  return request(`/api/${resource}${qs(params)}`);
}

// The first row of a read, or null.
export async function getOne(resource, params) {
  const rows = await get(resource, { ...params, limit: 1 });
  return Array.isArray(rows) ? (rows[0] ?? null) : rows;
}

export function rpc(name, args = {}, { read = false } = {}) {
  if (read) return request(`/api/rpc/${name}${qs(args)}`);
  return request(`/api/rpc/${name}`, { method: 'POST', body: args });
}

// Insert or update by the given key (PostgREST upsert).
export function upsert(resource, key, values) {
  return request(`/api/${resource}${qs({ on_conflict: key })}`, {
    method: 'POST', body: values,
    headers: { Prefer: 'resolution=merge-duplicates,return=representation' },
  });
}

// --- the dashboard's domain calls (one place to adapt if a contract moves) ---------------
// The KPI summary. Managers and admins read the materialized api.dashboard_summary (every
// store); a rep reads api.my_summary, the same figures computed live over their stores.
export async function dashboardSummary() {
  const s = session();
  const rep = s && s.user && s.user.role === 'sales_rep';
  const rows = await get(rep ? 'my_summary' : 'dashboard_summary');
  const summary = Array.isArray(rows) ? (rows[0] ?? null) : rows;
  if (summary && summary.latest_backtest === undefined) {
    // my_summary has no track record: it is the same for everyone, in api.latest_backtest.
    summary.latest_backtest = await getOne('latest_backtest').catch(() => null);
  }
  return summary;
}

export function salesTrends(range, grain) {
  return rpc('sales_trends', { range, grain });
}

// Approve or dismiss a prediction (a rep for their stores, managers for all); resolves to the
// prediction as it is now. The RPCs refuse with a readable message what may not change.
export function decidePrediction(id, status) {
  return rpc(status === 'approved' ? 'approve_prediction' : 'dismiss_prediction', { id });
}

// Turns a prediction into a draft order; returns what generate_order returns.
export function orderFromPrediction(id) {
  return rpc('generate_order', { prediction_id: id });
}

// --- /uploads ----------------------------------------------------------------------------
// Streams a CSV file to POST /uploads; onSent(fraction) reports the bytes sent. Resolves to
// the job the service answered 202 with. XMLHttpRequest because fetch cannot report upload
// progress.
export function uploadCsv(file, onSent) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/uploads${qs({ filename: file.name })}`);
    const s = session();
    if (s) xhr.setRequestHeader('Authorization', `Bearer ${s.token}`);
    xhr.setRequestHeader('Content-Type', 'text/csv');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => { if (e.lengthComputable && onSent) onSent(e.loaded / e.total); };
    xhr.onerror = () => reject(new ApiError('The upload could not reach the server; retry.', 0, null));
    xhr.onload = () => {
      let body = xhr.responseText;
      try { body = JSON.parse(body); } catch { /* keep text */ }
      if (xhr.status >= 200 && xhr.status < 300) {
        const job = (body && body.job) || body || {};
        resolve({ ...job, id: job.id ?? job.job_id });
      } else {
        const res = { status: xhr.status, statusText: xhr.statusText };
        if (xhr.status === 401) sessionEnded('Your session has ended; sign in again.');
        reject(new ApiError(messageOf(body, res), xhr.status, body));
      }
    };
    xhr.send(file);
  });
}

// A job's state, read from PostgREST (api.upload_jobs: row-level security decides who sees it).
export async function uploadJob(id) {
  const job = (await getOne('upload_jobs', { id: `eq.${id}` })) || {};
  return { ...job, id: job.id ?? id };
}

// Downloads the rejected lines of a job as a file (the link needs the bearer token, which a
// plain <a href> cannot send).
export async function downloadRejects(id) {
  const s = session();
  const res = await fetch(`/uploads/${encodeURIComponent(id)}/rejects.csv`, {
    headers: s ? { Authorization: `Bearer ${s.token}` } : {},
  });
  if (!res.ok) throw new ApiError(messageOf(await readBody(res), res), res.status, null);
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `upload-${id}-rejects.csv`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// The URL of the server-sent event stream with a fresh ticket (POST /auth/ticket: single use,
// 30 s). EventSource cannot send headers, and a token in a URL would end up in logs, so every
// (re)connect asks for a new ticket. Null when signed out; a 401 here ends the session.
export async function eventsUrl() {
  if (!session()) return null;
  const { ticket } = await request('/auth/ticket', { method: 'POST' });
  return `/events${qs({ ticket })}`;
}
