// Live events: one EventSource on /events for the whole app. The service turns the database's
// NOTIFY messages into server-sent events; pages subscribe here. No polling anywhere.
import { eventsUrl } from './api.js';

const bus = new EventTarget();
let source = null;
// Recent events by job, so an upload that finishes before POST /uploads has answered (a small
// file on a fast worker) is not missed by the page waiting for it.
const recentByJob = new Map();

function status(state) {
  const dot = document.getElementById('live');
  if (!dot) return;
  dot.dataset.state = state;
  dot.title = { open: 'Live updates on', connecting: 'Connecting to live updates…', closed: 'Live updates off' }[state];
}

function deliver(raw, name) {
  let event;
  try {
    event = JSON.parse(raw);
  } catch {
    return;
  }
  if (!event || typeof event !== 'object') return;
  if (!event.type && name && name !== 'message') event.type = name;
  if (event.job_id !== undefined && event.job_id !== null) {
    const key = String(event.job_id);
    const list = recentByJob.get(key) || [];
    list.push(event);
    recentByJob.set(key, list.slice(-50));
    if (recentByJob.size > 20) recentByJob.delete(recentByJob.keys().next().value);
  }
  bus.dispatchEvent(new CustomEvent('event', { detail: event }));
}

// Opens the stream (once per session). A ticket is good once, so the browser's own reconnect
// (same URL) would be refused: on any error, or when the service ends the stream because the
// token is no longer good (token_ended), close it and connect again with a fresh ticket. If
// the token has ended, asking for the ticket answers 401 and the app signs out.
let wanted = false;
let retryTimer = null;
let generation = 0;

export function connect() {
  wanted = true;
  if (source || retryTimer) return;
  open();
}

function reconnectSoon(delay = 3000) {
  if (source) source.close();
  source = null;
  if (!wanted || retryTimer) return;
  status('connecting');
  retryTimer = setTimeout(() => {
    retryTimer = null;
    open();
  }, delay);
}

async function open() {
  const mine = ++generation;
  status('connecting');
  let url;
  try {
    url = await eventsUrl();
  } catch {
    url = undefined;  // the service is away (or the session ended: the app handles that)
  }
  if (!wanted || mine !== generation) return;
  if (url === null) return status('closed');
  if (url === undefined) return reconnectSoon();
  source = new EventSource(url);
  source.onopen = () => status('open');
  source.onerror = () => reconnectSoon();
  source.onmessage = (e) => deliver(e.data, 'message');
  // The service names its events; listen to those names too.
  for (const name of ['upload_progress', 'upload_finished', 'data_changed']) {
    source.addEventListener(name, (e) => deliver(e.data, name));
  }
  source.addEventListener('token_ended', () => reconnectSoon(0));
}

export function disconnect() {
  wanted = false;
  generation += 1;
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
  if (source) source.close();
  source = null;
  recentByJob.clear();
  status('closed');
}

// Calls fn(event) for every event; returns the function that unsubscribes.
export function subscribe(fn) {
  const handler = (e) => fn(e.detail);
  bus.addEventListener('event', handler);
  return () => bus.removeEventListener('event', handler);
}

// Events already received for a job (oldest first).
export function eventsForJob(jobId) {
  return recentByJob.get(String(jobId)) || [];
}

// True when an event changes numbers the pages show.
export function changesData(event) {
  return event.type === 'data_changed' || event.type === 'upload_finished';
}
