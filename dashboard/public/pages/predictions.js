// Predictions: each store's predicted next order, highest priority and soonest first, with
// confidence and the one-line justification; approve, dismiss, or turn into a draft order.
// Filters by segment and sales rep run in PostgREST (embedded inner-join filters); row-level
// security already narrows a rep's list to their stores.
import { decidePrediction, get, orderFromPrediction } from '../api.js';
import {
  count, day, empty, errorBox, html, loading, money, percent, PRIORITY_RANK, render, toast,
} from '../ui.js';

export const NAME = 'predictions';

const STATUSES = ['pending', 'approved', 'converted', 'dismissed', 'all'];

function distinct(rows, field) {
  return [...new Set(rows.map((r) => r[field]).filter(Boolean))].sort((a, b) => a.localeCompare(b));
}

// The PostgREST query for the list with the current filters.
export function predictionQuery({ status, segment, rep }) {
  const segmentEmbed = `segment:customer_segments${segment ? '!inner' : ''}(segment_name,segment_value,churn_risk)`;
  const params = {
    select: `*,store:stores!inner(id,name,city,sales_person,currency_code,${segmentEmbed}),`
      + 'items:predicted_order_items(id,quantity,unit_price,line_amount,frequency,item_rank,item_probability,in_basket,product:products(id,name,sku))',
    order: 'predicted_date.asc,confidence.desc',
    limit: 500,
  };
  if (status && status !== 'all') params.status = `eq.${status}`;
  if (rep) params['store.sales_person'] = `eq.${rep}`;
  if (segment) params['store.segment.segment_name'] = `eq.${segment}`;
  return params;
}

function sortByPriority(rows) {
  return rows.slice().sort((a, b) => (PRIORITY_RANK[a.priority] ?? 9) - (PRIORITY_RANK[b.priority] ?? 9)
    || String(a.predicted_date).localeCompare(String(b.predicted_date))
    || Number(b.confidence) - Number(a.confidence));
}

// The predicted order (the in_basket lines, by rank), then the further ranked products with
// their probability of being in the order: what a rep may suggest beyond the basket.
function basket(p, currency) {
  const ranked = (p.items || []).slice().sort((a, b) => (a.item_rank ?? 1e9) - (b.item_rank ?? 1e9));
  const lines = ranked.filter((i) => i.in_basket !== false);
  const more = ranked.filter((i) => i.in_basket === false);
  if (!ranked.length) return html`<p class="muted">No basket predicted.</p>`;
  const line = (i) => html`<tr class="${i.in_basket === false ? 'candidate' : ''}"><td>${i.product ? i.product.name : i.product_id}</td>
      <td class="num">${count(i.quantity, 2)}</td><td class="num">${money(i.line_amount, currency)}</td>
      <td class="num">${i.item_probability == null ? '–' : percent(i.item_probability)}</td></tr>`;
  return html`<details class="basket"><summary>Basket: ${lines.length} products${more.length ? ` (+${more.length} more ranked)` : ''}</summary>
    <table class="table compact"><thead><tr><th>Product</th><th class="num">Qty</th><th class="num">Amount</th><th class="num">Chance in order</th></tr></thead><tbody>
    ${lines.map(line)}
    ${more.length ? html`<tr><td colspan="4" class="muted">Also likely (not in the basket):</td></tr>${more.map(line)}` : ''}
    </tbody></table></details>`;
}

// One prediction as a table row (stacked into a card on phones, see styles.css).
function row(p, note = '') {
  const store = p.store || {};
  const currency = store.currency_code || 'INR';
  const seg = store.segment;
  const open = p.status === 'pending';
  return html`<tr class="prediction" data-prediction-id="${p.id}" data-status="${p.status}" data-store-id="${p.store_id}" data-sales-person="${store.sales_person || ''}">
    <td data-label="Priority"><span class="badge ${p.priority}">${p.priority}</span></td>
    <td data-label="Store"><a class="store-link" href="#/stores/${encodeURIComponent(p.store_id)}">${store.name || p.store_id}</a>
      <div class="muted small">${store.city || ''}${store.sales_person ? html` · ${store.sales_person}` : ''}${seg && seg.segment_name ? html` · ${seg.segment_name}` : ''}</div></td>
    <td data-label="Expected" class="nowrap">${day(p.predicted_date)}</td>
    <td data-label="Confidence" class="num confidence">${percent(p.confidence)}</td>
    <td data-label="Amount" class="num">${money(p.total_amount, currency)}</td>
    <td data-label="Why" class="why-cell"><span class="why">${p.justification_text || 'No justification given.'}</span>${basket(p, currency)}</td>
    <td data-label="Status" class="status">${p.status}</td>
    <td><div class="actions">
      <button type="button" data-action="approve" ${open ? '' : 'disabled'}>Approve</button>
      <button type="button" data-action="dismiss" class="quiet" ${open ? '' : 'disabled'}>Dismiss</button>
      <button type="button" data-action="order" class="secondary" ${open || p.status === 'approved' ? '' : 'disabled'}>Create order</button>
      <div class="action-result" role="status">${note}</div>
    </div></td>
  </tr>`;
}

// Rows shown at first and per "show more" (a manager's list has one row per store).
const PAGE = 25;

function table(rows, acted) {
  return html`<table class="table stack" id="pred-table"><thead><tr><th>Priority</th><th>Store</th><th>Expected</th>
    <th class="num">Confidence</th><th class="num">Amount</th><th>Why</th><th>Status</th><th></th></tr></thead>
    <tbody>${rows.map((p) => row(p, acted.has(String(p.id)) ? acted.get(String(p.id)).note : ''))}</tbody></table>`;
}

export function mount(el, { user }) {
  const isRep = user.role === 'sales_rep';
  const filters = { status: 'pending', segment: '', rep: '' };
  let alive = true;
  let seq = 0;

  render(el, html`
    <div class="page-head"><h1>Predictions</h1>
      <p class="muted">${isRep ? 'Your stores' : 'Every store'}: the next order each store is expected to place. Confidence is the chance it comes within ±7 days of the date.</p></div>
    <section class="panel filters" aria-label="Filters">
      <label>Status <select id="f-status">${STATUSES.map((s) => html`<option value="${s}">${s}</option>`)}</select></label>
      <label>Segment <select id="f-segment"><option value="">All segments</option></select></label>
      ${isRep ? '' : html`<label>Sales rep <select id="f-rep"><option value="">All reps</option></select></label>`}
      <span class="muted" id="pred-count"></span>
    </section>
    <section class="panel"><div id="pred-list"></div><div id="pred-more"></div></section>`);
  const $ = (s) => el.querySelector(s);
  const list = $('#pred-list');
  let sorted = [];
  let shown = PAGE;

  function draw() {
    render(list, sorted.length ? table(sorted.slice(0, shown), acted)
      : empty(filters.status === 'pending' ? 'No pending predictions match these filters.' : 'No predictions match these filters.'));
    const left = sorted.length - shown;
    render($('#pred-more'), left > 0
      ? html`<button type="button" class="quiet" id="show-more">Show ${count(Math.min(left, PAGE))} more of ${count(left)}</button>` : '');
  }
  $('#pred-more').addEventListener('click', (e) => {
    if (!e.target.closest('#show-more')) return;
    shown += PAGE;
    draw();
  });

  async function loadOptions() {
    try {
      const [segments, stores] = await Promise.all([
        get('customer_segments', { select: 'segment_name' }),
        isRep ? Promise.resolve([]) : get('stores', { select: 'sales_person' }),
      ]);
      for (const s of distinct(segments, 'segment_name')) $('#f-segment').append(new Option(s, s));
      if (!isRep) for (const r of distinct(stores, 'sales_person')) $('#f-rep').append(new Option(r, r));
    } catch (err) {
      toast(`Filters unavailable: ${err.message}`, 'error');
    }
  }

  async function load() {
    const mine = ++seq;
    if (!list.dataset.loaded) render(list, loading());
    list.dataset.busy = '1';
    try {
      const rows = await get('predicted_orders', predictionQuery(filters));
      if (!alive || mine !== seq) return;
      const fresh = rows || [];
      for (const [id, { row: kept }] of acted) {
        const i = fresh.findIndex((r) => String(r.id) === id);
        if (i < 0) fresh.push(kept); else kept.status = fresh[i].status;
      }
      sorted = sortByPriority(fresh);
      $('#pred-count').textContent = `${count(sorted.length)} predictions`;
      shown = Math.max(shown, PAGE);
      draw();
      list.dataset.loaded = '1';
    } catch (err) {
      if (mine === seq) render(list, errorBox(err));
    } finally {
      if (mine === seq) delete list.dataset.busy;
    }
  }

  // Predictions acted on here stay listed (with what happened) when a live refresh or the
  // status filter would drop them, until the filters change.
  const acted = new Map(); // id -> {row, note}

  function redraw(tr, p, note) {
    const holder = document.createElement('tbody');
    render(holder, row(p, note));
    tr.replaceWith(holder.firstElementChild);
  }

  async function act(button) {
    const tr = button.closest('[data-prediction-id]');
    const id = tr.dataset.predictionId;
    const p = sorted.find((r) => String(r.id) === id);
    if (!p) return;
    const action = button.dataset.action;
    for (const b of tr.querySelectorAll('button')) b.disabled = true;
    tr.querySelector('.action-result').textContent = 'Working…';
    try {
      let note;
      if (action === 'order') {
        const out = await orderFromPrediction(id);
        const first = Array.isArray(out) ? out[0] : out;
        const orderId = first && typeof first === 'object' ? (first.id ?? first.order_id) : first;
        p.status = 'converted';
        p.order_id = orderId ?? p.order_id;
        note = orderId ? `Draft order #${orderId} created.` : 'Draft order created.';
        toast(note, 'ok');
      } else {
        const want = action === 'approve' ? 'approved' : 'dismissed';
        const out = await decidePrediction(id, want);
        const now = Array.isArray(out) ? out[0] : out;
        if (!now) throw new Error('The prediction could not be changed (it may not be yours, or was already decided).');
        p.status = now.status || want;
        note = p.status === 'approved' ? 'Approved.' : 'Dismissed.';
      }
      acted.set(id, { row: p, note });
      redraw(tr, p, note);
    } catch (err) {
      redraw(tr, p);
      const line = list.querySelector(`[data-prediction-id="${CSS.escape(id)}"] .action-result`);
      if (line) render(line, errorBox(err));
    }
  }

  list.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-action]');
    if (b) act(b);
  });
  el.querySelector('.filters').addEventListener('change', (e) => {
    const id = e.target.id;
    if (id === 'f-status') filters.status = e.target.value;
    if (id === 'f-segment') filters.segment = e.target.value;
    if (id === 'f-rep') filters.rep = e.target.value;
    shown = PAGE;
    acted.clear();
    load();
  });

  loadOptions();
  load();
  return {
    refresh: load,
    unmount() { alive = false; },
  };
}
