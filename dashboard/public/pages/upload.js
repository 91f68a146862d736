// Upload (managers and admins): drop a CSV export, watch it go through the pipeline live
// (upload_progress / upload_finished events from /events), see the result and download the
// rejected lines. Recent jobs below.
import { downloadRejects, get, uploadCsv, uploadJob } from '../api.js';
import * as live from '../live.js';
import { count, empty, errorBox, fill, html, render, toast, when } from '../ui.js';

export const NAME = 'upload';

const DONE = ['succeeded', 'failed'];

// One bar for the whole trip: the file arriving (receiving, reported by the service as bytes
// are copied in) fills the first half, the database's processing the second.
function overall(phase, percent) {
  const p = Math.max(0, Math.min(100, Number(percent) || 0));
  if (phase === 'sending' || phase === 'receiving') return p / 2;
  if (phase === 'queued') return 50;
  if (phase === 'processing' || phase === 'running') return 50 + p / 2;
  return p;
}

function resultPanel(r) {
  const ok = r.status === 'succeeded';
  const rejected = Number(r.rejected || 0);
  return html`<div id="upload-result" class="${ok ? 'ok-box' : 'error'}" data-status="${r.status}" role="${ok ? 'status' : 'alert'}">
    <p><strong>${ok ? 'Upload finished' : 'Upload failed'}</strong> — job ${r.job_id}${r.error || r.last_error || r.message ? html`: ${r.error || r.last_error || r.message}` : ''}</p>
    <dl class="figures">
      <div><dt>Lines</dt><dd data-field="lines">${count(r.lines)}</dd></div>
      <div><dt>Loaded</dt><dd data-field="loaded">${count(r.loaded)}</dd></div>
      <div><dt>Rejected</dt><dd data-field="rejected">${count(r.rejected)}</dd></div>
      <div><dt>New stores</dt><dd data-field="new_stores">${count(r.new_stores)}</dd></div>
      <div><dt>New products</dt><dd data-field="new_products">${count(r.new_products)}</dd></div>
    </dl>
    ${rejected > 0 ? html`<p><a id="rejects-link" href="/uploads/${encodeURIComponent(r.job_id)}/rejects.csv">Download the ${count(rejected)} rejected lines (CSV, with line numbers and reasons)</a></p>` : ''}
  </div>`;
}

export function mount(el) {
  let alive = true;
  let jobId = null;
  let busy = false;
  let finished = false;

  render(el, html`
    <div class="page-head"><h1>Upload an export</h1>
      <p class="muted">A CSV of invoice lines (the Zoho Books invoice export, or one with the same columns). Every line is either loaded or rejected with a reason; loading the same file twice changes nothing.</p></div>
    <section class="panel">
      <label id="drop-zone" class="drop-zone" tabindex="0">
        <input id="upload-input" type="file" accept=".csv,text/csv,text/plain">
        <strong>Drop a CSV file here</strong> <span class="muted">or click to choose one</span>
      </label>
      <div id="upload-status" class="upload-status" hidden>
        <p><span id="upload-file"></span> · <span id="upload-phase">sending</span> · <span id="upload-lines"></span></p>
        <div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0" id="upload-progress" data-percent="0">
          <div class="bar-fill" style="width:0%"></div><span class="bar-text">0%</span></div>
      </div>
      <div id="upload-message"></div>
      <div id="upload-result-box"></div>
    </section>
    <section class="panel"><h2>Recent uploads</h2><div id="jobs-box" class="scroll-x"></div></section>`);
  const $ = (s) => el.querySelector(s);

  // The bar never moves back during one upload (events and the sender's progress interleave).
  let shownPercent = 0;
  function setProgress(percent, phase, lines) {
    const p = Math.max(shownPercent, Math.min(100, Math.round(Number(percent) || 0)));
    shownPercent = p;
    const bar = $('#upload-progress');
    bar.dataset.percent = String(p);
    bar.setAttribute('aria-valuenow', String(p));
    bar.querySelector('.bar-fill').style.width = `${p}%`;
    bar.querySelector('.bar-text').textContent = `${p}%`;
    if (phase) $('#upload-phase').textContent = phase;
    if (lines !== undefined && lines !== null) $('#upload-lines').textContent = `${count(lines)} lines`;
  }

  function finish(r) {
    if (finished) return;
    finished = true;
    busy = false;
    $('#upload-input').disabled = false;
    $('#drop-zone').classList.remove('busy');
    if (r.status === 'succeeded') setProgress(100, 'finished', r.lines);
    else $('#upload-phase').textContent = 'failed';
    render($('#upload-result-box'), resultPanel(r));
    toast(r.status === 'succeeded' ? `Upload ${r.job_id}: ${count(r.loaded)} lines loaded, ${count(r.rejected)} rejected.`
      : `Upload ${r.job_id} failed.`, r.status === 'succeeded' ? 'ok' : 'error');
    loadJobs();
  }

  function onEvent(e) {
    if (jobId === null || String(e.job_id) !== String(jobId) || finished) return;
    if (e.type === 'upload_progress') setProgress(overall(e.phase, e.percent), e.phase, e.lines);
    if (e.type === 'upload_finished') finish({ ...e, job_id: e.job_id });
  }
  const unsubscribe = live.subscribe(onEvent);

  function loadJobs() {
    return fill($('#jobs-box'), () => get('upload_jobs', {
      select: 'id,filename,status,lines,loaded,rejected,new_stores,new_products,created_at,finished_at,last_error',
      order: 'id.desc', limit: 10,
    }), (rows) => render($('#jobs-box'), rows.length ? html`<table class="table compact" id="jobs-table"><thead><tr>
        <th>Job</th><th>File</th><th>Status</th><th class="num">Lines</th><th class="num">Loaded</th><th class="num">Rejected</th><th class="num">New stores</th><th class="num">New products</th><th>Finished</th></tr></thead><tbody>
      ${rows.map((j) => html`<tr data-job-id="${j.id}"><td>${j.id}</td><td>${j.filename || '–'}</td><td title="${j.last_error || ''}">${j.status}</td>
        <td class="num">${count(j.lines)}</td><td class="num">${count(j.loaded)}</td>
        <td class="num">${Number(j.rejected) > 0 ? html`<a href="/uploads/${j.id}/rejects.csv" data-rejects="${j.id}">${count(j.rejected)}</a>` : count(j.rejected)}</td>
        <td class="num">${count(j.new_stores)}</td><td class="num">${count(j.new_products)}</td><td>${when(j.finished_at)}</td></tr>`)}
      </tbody></table>` : empty('No uploads yet.')));
  }

  async function start(file) {
    if (busy) return;
    render($('#upload-message'), '');
    render($('#upload-result-box'), '');
    if (!file) return;
    if (file.size === 0) {
      render($('#upload-message'), errorBox(new Error(`${file.name} is empty: choose the exported CSV file.`)));
      return;
    }
    busy = true;
    finished = false;
    jobId = null;
    $('#upload-input').disabled = true;
    $('#drop-zone').classList.add('busy');
    $('#upload-status').hidden = false;
    $('#upload-file').textContent = `${file.name} (${count(file.size / 1024, 1)} KB)`;
    $('#upload-lines').textContent = '';
    shownPercent = 0;
    setProgress(0, 'sending');
    try {
      const job = await uploadCsv(file, (f) => setProgress(overall('sending', f * 100), 'sending'));
      if (!alive) return;
      jobId = job.id;
      setProgress(overall(job.status || 'queued', 0), job.status || 'queued', job.lines);
      // Events that arrived before the answer did (a small file can be done already).
      for (const e of live.eventsForJob(jobId)) onEvent(e);
      if (!finished && DONE.includes(job.status)) finish({ ...job, job_id: jobId });
      if (!finished) {
        // One look at the job's state, in case it ended before this page listened.
        const now = await uploadJob(jobId).catch(() => null);
        if (now && DONE.includes(now.status) && !finished) finish({ ...now, job_id: jobId });
      }
    } catch (err) {
      busy = false;
      $('#upload-input').disabled = false;
      $('#drop-zone').classList.remove('busy');
      $('#upload-status').hidden = true;
      render($('#upload-message'), errorBox(err));
    }
  }

  const zone = $('#drop-zone');
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const files = e.dataTransfer && e.dataTransfer.files;
    if (files && files.length > 1) toast('One file at a time: uploading the first.', 'info');
    if (files && files.length) start(files[0]);
  });
  $('#upload-input').addEventListener('change', (e) => {
    start(e.target.files[0]);
    e.target.value = '';
  });
  el.addEventListener('click', async (e) => {
    const a = e.target.closest('#rejects-link, [data-rejects]');
    if (!a) return;
    e.preventDefault();
    const id = a.dataset.rejects || jobId;
    try {
      await downloadRejects(id);
    } catch (err) {
      toast(`The rejected lines could not be downloaded: ${err.message}`, 'error');
    }
  });

  loadJobs();
  return {
    refresh: loadJobs,
    unmount() { alive = false; unsubscribe(); },
  };
}
