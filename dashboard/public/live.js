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

// Opens the stream (once per session); the browser reconnects by itself after a drop.
export function connect() {
  if (source) return;
  const url = eventsUrl();
  if (!url) return;
  status('connecting');
  source = new EventSource(url);
  source.onopen = () => status('open');
  source.onerror = () => status(source && source.readyState === EventSource.CLOSED ? 'closed' : 'connecting');
  source.onmessage = (e) => deliver(e.data, 'message');
  // The service may also name its events; listen to those names too.
  for (const name of ['upload_progress', 'upload_finished', 'data_changed', 'token_expired']) {
    source.addEventListener(name, (e) => deliver(e.data, name));
  }
}

export function disconnect() {
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
