// One store: order history chart, segment and churn risk, the predicted basket with its
// evidence, upsell suggestions, and preferences (editable by managers and admins).
import { get, upsert } from '../api.js';
import {
  count, day, drawChart, empty, errorBox, fill, html, money, num, percent, render, toast,
} from '../ui.js';

export const NAME = 'store';

const EDITORS = ['manager', 'admin'];
const FREQUENCIES = ['daily', 'weekly', 'fortnightly', 'monthly'];
const DAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];

// Evidence of a prediction (its justification jsonb) as label/value pairs, one level deep.
function evidence(obj, prefix = '', depth = 0) {
  const out = [];
  for (const [k, v] of Object.entries(obj || {})) {
    if (v === null || v === undefined) continue;
    const label = (prefix ? `${prefix} · ` : '') + k.replaceAll('_', ' ');
    if (Array.isArray(v)) {
      if (v.every((x) => typeof x !== 'object')) out.push([label, v.slice(0, 12).join(', ') + (v.length > 12 ? ' …' : '')]);
      else out.push([label, `${v.length} entries`]);
    } else if (typeof v === 'object') {
      if (depth < 1) out.push(...evidence(v, label, depth + 1));
    } else if (typeof v === 'number') {
      out.push([label, count(v, 2)]);
    } else {
      out.push([label, /^\d{4}-\d{2}-\d{2}$/.test(v) ? day(v) : String(v)]);
    }
  }
  return out;
}

function head(store, currency) {
  return html`<div class="page-head">
    <p class="crumbs"><a href="#/stores">Stores</a> ›</p>
    <h1 id="store-name">${store.name}</h1>
    <p class="muted">${store.id}${store.city ? html` · ${store.city}` : ''}${store.state ? html`, ${store.state}` : ''}
      ${store.sales_person ? html` · rep ${store.sales_person}` : ''}${store.phone ? html` · ${store.phone}` : ''}
      · last order <span id="last-order">${day(store.last_order_date)}</span> · amounts in ${currency}</p></div>`;
}

function segmentPanel(seg, currency) {
  if (!seg) return empty('Not segmented yet (a store needs order history).');
  const risk = num(seg.churn_risk);
  const level = risk === null ? '' : risk >= 0.6 ? 'high' : risk >= 0.3 ? 'medium' : 'low';
  return html`<dl class="figures" id="segment">
    <div><dt>Segment</dt><dd><strong>${seg.segment_name || '–'}</strong> ${seg.segment_value ? html`<span class="badge ${seg.segment_value}">${seg.segment_value} value</span>` : ''}</dd></div>
    <div><dt>Churn risk</dt><dd><span class="badge ${level}" id="churn-risk">${percent(risk)}</span></dd></div>
    <div><dt>Recency · frequency · monetary</dt><dd>${seg.recency_score ?? '–'} · ${seg.frequency_score ?? '–'} · ${seg.monetary_score ?? '–'} (of 5)</dd></div>
    <div><dt>Days since last order</dt><dd>${count(seg.recency_days)}</dd></div>
    <div><dt>Typical gap</dt><dd>${seg.typical_gap_days == null ? '–' : `${count(seg.typical_gap_days, 1)} days`}</dd></div>
    <div><dt>Orders</dt><dd>${count(seg.order_count)}</dd></div>
    <div><dt>Revenue</dt><dd>${money(seg.total_revenue, currency)}</dd></div>
  </dl>`;
}

function predictionPanel(p, currency) {
  if (!p) return empty('No prediction for this store (it needs a few orders first).');
  // The basket is the in_basket lines (the first ranks); the further ranked products follow
  // in their own table with their probability of being in the order.
  const ranked = (p.items || []).slice().sort((a, b) => (a.item_rank ?? 1e9) - (b.item_rank ?? 1e9));
  const items = ranked.filter((i) => i.in_basket !== false);
  const more = ranked.filter((i) => i.in_basket === false);
  const facts = evidence(typeof p.justification === 'object' ? p.justification : {});
  return html`<div id="prediction" data-prediction-id="${p.id}" data-status="${p.status}">
    <p><span class="badge ${p.priority}">${p.priority}</span> expected <strong>${day(p.predicted_date)}</strong>,
      confidence <strong>${percent(p.confidence)}</strong>, about <strong>${money(p.total_amount, currency)}</strong>
      · <span class="status">${p.status}</span> · <a href="#/predictions">act on it</a></p>
    <p class="why">${p.justification_text || ''}</p>
    ${items.length ? html`<table class="table compact stack" id="basket"><thead><tr><th>Product</th><th class="num">Qty</th><th class="num">Unit price</th><th class="num">Amount</th><th class="num">Chance in order</th><th class="num">In recent orders</th></tr></thead><tbody>
      ${items.map((i) => html`<tr><td><strong>${i.product ? i.product.name : i.product_id}</strong></td><td data-label="Qty" class="num">${count(i.quantity, 2)}</td>
        <td data-label="Unit price" class="num">${money(i.unit_price, currency, 2)}</td><td data-label="Amount" class="num">${money(i.line_amount, currency)}</td>
        <td data-label="Chance in order" class="num">${i.item_probability == null ? '–' : percent(i.item_probability)}</td>
        <td data-label="In recent orders" class="num">${i.frequency == null ? '–' : percent(i.frequency)}</td></tr>`)}</tbody></table>` : empty('No basket predicted.')}
    ${more.length ? html`<details class="candidates" id="more-candidates"><summary>${more.length} more products it may order</summary>
      <table class="table compact stack"><thead><tr><th>#</th><th>Product</th><th class="num">Chance in order</th><th class="num">In recent orders</th></tr></thead><tbody>
      ${more.map((i) => html`<tr><td data-label="#">${i.item_rank}</td><td>${i.product ? i.product.name : i.product_id}</td>
        <td data-label="Chance in order" class="num">${i.item_probability == null ? '–' : percent(i.item_probability)}</td>
        <td data-label="In recent orders" class="num">${i.frequency == null ? '–' : percent(i.frequency)}</td></tr>`)}</tbody></table></details>` : ''}
    ${facts.length ? html`<details class="evidence"><summary>Evidence</summary><dl class="figures">${facts.map(([k, v]) => html`<div><dt>${k}</dt><dd>${v}</dd></div>`)}</dl></details>` : ''}
  </div>`;
}

function upsellPanel(rows, currency) {
  if (!rows.length) return empty('No upsell suggestions for this store.');
  return html`<table class="table compact stack" id="upsell"><thead><tr><th>Product</th><th>Why</th><th class="num">Lift</th><th class="num">Confidence</th><th class="num">Expected gain</th></tr></thead><tbody>
    ${rows.map((r) => html`<tr><td><strong>${r.product ? r.product.name : r.product_id}</strong></td><td>${r.reason || '–'}</td>
      <td data-label="Lift" class="num">${count(r.lift, 2)}</td><td data-label="Confidence" class="num">${percent(r.confidence)}</td>
      <td data-label="Expected gain" class="num">${money(r.expected_gain, currency)}</td></tr>`)}</tbody></table>`;
}

function preferencesForm(pref, editable) {
  const p = pref || {};
  const off = editable ? '' : 'disabled';
  return html`<form id="prefs" class="form-grid">
    <label>Call frequency <select name="call_frequency" ${off}><option value="">–</option>
      ${FREQUENCIES.map((f) => html`<option value="${f}" ${p.call_frequency === f ? 'selected' : ''}>${f}</option>`)}</select></label>
    <label>Delivery day <select name="preferred_delivery_day" ${off}><option value="">–</option>
      ${DAYS.map((d) => html`<option value="${d}" ${p.preferred_delivery_day === d ? 'selected' : ''}>${d}</option>`)}</select></label>
    <label>Payment terms (days) <input name="payment_terms" type="number" min="0" max="365" step="1" value="${p.payment_terms ?? ''}" ${off}></label>
    <label>Credit limit <input name="credit_limit" type="number" min="0" step="0.01" value="${p.credit_limit ?? ''}" ${off}></label>
    <label class="check"><input name="auto_approve_predictions" type="checkbox" ${p.auto_approve_predictions ? 'checked' : ''} ${off}> Approve predictions automatically</label>
    <label class="wide">Notes <textarea name="notes" rows="2" ${off}>${p.notes || ''}</textarea></label>
    ${editable ? html`<div class="wide"><button type="submit">Save preferences</button> <span id="prefs-result" role="status"></span></div>`
      : html`<p class="muted wide">Only managers and admins change preferences.</p>`}
  </form>`;
}

export function mount(el, { params, user }) {
  const id = params[0];
  const editable = EDITORS.includes(user.role);
  let chart = null;
  let alive = true;
  let currency = 'INR';

  render(el, html`
    <div id="store-head"><p class="loading">Loading…</p></div>
    <div class="grid2">
      <section class="panel"><h2>Segment and churn risk</h2><div id="segment-box"></div></section>
      <section class="panel"><h2>Preferences</h2><div id="prefs-box"></div></section>
    </div>
    <section class="panel"><h2>Order history</h2>
      <div class="chart-box small"><canvas id="orders-chart" aria-label="Orders of this store"></canvas></div>
      <div id="orders-box"></div></section>
    <section class="panel"><h2>Predicted next order</h2><div id="prediction-box"></div></section>
    <section class="panel"><h2>Upsell suggestions</h2><div id="upsell-box"></div></section>`);
  const $ = (s) => el.querySelector(s);
  const eq = `eq.${id}`;

  async function loadStore() {
    try {
      const rows = await get('stores', { id: eq, limit: 1 });
      if (!alive) return false;
      if (!rows.length) {
        render(el, html`<section class="panel"><h1>Store not found</h1>
          <div class="error" role="alert">No store ${id} — or it is not one of yours.</div>
          <p><a href="#/stores">All stores</a></p></section>`);
        return false;
      }
      currency = rows[0].currency_code || 'INR';
      render($('#store-head'), head(rows[0], currency));
      return true;
    } catch (err) {
      render($('#store-head'), errorBox(err));
      return true;
    }
  }

  function loadOrders() {
    return fill($('#orders-box'), () => get('orders', {
      store_id: eq, select: 'id,order_date,total_amount,status,source,invoice_number,item_count,currency_code',
      order: 'order_date.asc,id.asc', limit: 2000,
    }), (rows) => {
      const real = rows.filter((o) => !['void', 'cancelled'].includes(o.status));
      const box = $('#orders-box');
      box.dataset.orders = String(rows.length);
      const last = $('#last-order');
      if (last && real.length) last.textContent = day(real[real.length - 1].order_date);
      if (!rows.length) {
        render(box, empty('No orders yet.'));
      } else {
        const recent = rows.slice(-10).reverse();
        render(box, html`<table class="table compact stack" id="orders-table"><thead><tr><th>Date</th><th>Invoice / order</th><th>Status</th><th class="num">Lines</th><th class="num">Amount</th></tr></thead><tbody>
          ${recent.map((o) => html`<tr><td><strong>${day(o.order_date)}</strong></td><td data-label="Invoice">${o.invoice_number || `#${o.id} (${o.source})`}</td>
            <td data-label="Status">${o.status}</td><td data-label="Lines" class="num">${count(o.item_count)}</td><td data-label="Amount" class="num">${money(o.total_amount, o.currency_code || currency)}</td></tr>`)}
          </tbody></table><p class="muted small">The latest ${recent.length} of ${count(rows.length)} orders.</p>`);
      }
      $('#orders-chart').parentElement.hidden = real.length === 0;
      if (!real.length) return;
      chart = drawChart($('#orders-chart'), chart, {
        type: 'bar',
        data: {
          labels: real.map((o) => day(o.order_date)),
          datasets: [{ label: 'Order amount', data: real.map((o) => num(o.total_amount)), backgroundColor: 'rgba(15,118,110,.6)' }],
        },
        options: {
          responsive: true, maintainAspectRatio: false, animation: false,
          plugins: { legend: { display: false }, tooltip: { callbacks: { label: (c) => money(c.raw, currency) } } },
          scales: { y: { ticks: { callback: (v) => money(v, currency) } } },
        },
      });
    });
  }

  function loadSegment() {
    return fill($('#segment-box'), () => get('customer_segments', { store_id: eq, limit: 1 }),
      (rows) => render($('#segment-box'), segmentPanel(rows[0], currency)));
  }

  function loadPrediction() {
    return fill($('#prediction-box'), () => get('predicted_orders', {
      store_id: eq,
      select: '*,items:predicted_order_items(id,product_id,quantity,unit_price,line_amount,frequency,item_rank,item_probability,in_basket,product:products(name,sku))',
      order: 'created_at.desc', limit: 5,
    }), (rows) => {
      const p = rows.find((r) => r.status === 'pending') || rows[0];
      render($('#prediction-box'), predictionPanel(p, currency));
    });
  }

  function loadUpsell() {
    return fill($('#upsell-box'), () => get('upselling_recommendations', {
      store_id: eq, select: '*,product:products(name,sku,unit_price)', order: 'score.desc.nullslast', limit: 10,
    }), (rows) => render($('#upsell-box'), upsellPanel(rows, currency)));
  }

  function loadPrefs() {
    return fill($('#prefs-box'), () => get('store_preferences', { store_id: eq, limit: 1 }),
      (rows) => render($('#prefs-box'), preferencesForm(rows[0], editable)));
  }

  $('#prefs-box').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = e.target;
    const result = f.querySelector('#prefs-result');
    const number = (v) => (v === '' ? null : Number(v));
    const values = {
      store_id: id,
      call_frequency: f.call_frequency.value || null,
      preferred_delivery_day: f.preferred_delivery_day.value || null,
      payment_terms: number(f.payment_terms.value),
      credit_limit: number(f.credit_limit.value),
      auto_approve_predictions: f.auto_approve_predictions.checked,
      notes: f.notes.value.trim() || null,
    };
    const button = f.querySelector('button');
    button.disabled = true;
    result.textContent = 'Saving…';
    try {
      await upsert('store_preferences', 'store_id', values);
      result.textContent = 'Saved.';
      toast('Preferences saved.', 'ok');
    } catch (err) {
      result.textContent = '';
      render(result, errorBox(err));
    } finally {
      button.disabled = false;
    }
  });

  async function loadAll() {
    if (!(await loadStore())) return;
    await Promise.all([loadOrders(), loadSegment(), loadPrediction(), loadUpsell()]);
  }

  loadAll().then(() => { if (alive && $('#prefs-box')) loadPrefs(); });

  return {
    // Live: only when the change may concern this store.
    refresh(events) {
      const touches = events.some((e) => !Array.isArray(e.store_ids) || e.store_ids.includes(id));
      if (touches) loadAll();
    },
    unmount() {
      alive = false;
      if (chart) chart.destroy();
    },
  };
}
