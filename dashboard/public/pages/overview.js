// Overview: the KPI cards of api.dashboard_summary, the revenue trend (api.sales_trends) with
// a range switch, top stores and products, and the latest backtest. Refetched live.
import { dashboardSummary, salesTrends } from '../api.js';
import {
  count, day, drawChart, empty, errorBox, fill, html, money, num, percent, render,
} from '../ui.js';

export const NAME = 'overview';

const RANGES = ['7d', '30d', '90d', '180d', 'all'];
const GRAINS = ['day', 'week', 'month'];
// A grain that gives a readable number of points for each range.
const DEFAULT_GRAIN = { '7d': 'day', '30d': 'day', '90d': 'week', '180d': 'week', all: 'month' };

// [field of dashboard_summary, label, kind]
const KPIS = [
  ['total_stores', 'Stores', 'count'],
  ['total_products', 'Products', 'count'],
  ['total_orders', 'Orders', 'count'],
  ['total_revenue', 'Revenue', 'money'],
  ['average_order_value', 'Average order value', 'money'],
  ['pending_predictions', 'Pending predictions', 'count'],
  ['high_value_customers', 'High-value customers', 'count'],
  ['stores_at_risk', 'Stores at risk', 'count', 'optional'],
];

// The first field present among names (the analytics views name a few things loosely).
function pick(row, ...names) {
  for (const n of names) if (row && row[n] !== undefined && row[n] !== null) return row[n];
  return undefined;
}

function currencyOf(summary) {
  return pick(summary, 'currency_code', 'currency') || 'INR';
}

function kpiCards(summary) {
  const currency = currencyOf(summary);
  return KPIS.filter(([field, , , optional]) => !optional || summary[field] !== undefined).map(([field, label, kind]) => {
    const value = summary[field];
    const shown = kind === 'money' ? money(value, currency) : count(value);
    return html`<div class="kpi" data-kpi="${field}" data-value="${value ?? ''}">
      <div class="kpi-label">${label}</div><div class="kpi-value">${shown}</div></div>`;
  });
}

function asList(value) {
  if (Array.isArray(value)) return value;
  if (typeof value === 'string') {
    try { return JSON.parse(value); } catch { return []; }
  }
  return [];
}

function topStores(summary) {
  const rows = asList(summary.top_stores);
  if (!rows.length) return empty('No store has orders yet.');
  const currency = currencyOf(summary);
  return html`<table class="table" id="top-stores"><thead><tr><th>Store</th><th class="num">Revenue</th><th class="num">Orders</th></tr></thead><tbody>
    ${rows.map((s) => {
      const id = pick(s, 'store_id', 'id');
      const name = pick(s, 'name', 'store_name') || id;
      return html`<tr><td>${id ? html`<a href="#/stores/${encodeURIComponent(id)}">${name}</a>` : name}</td>
        <td class="num">${money(pick(s, 'revenue', 'total_revenue', 'total'), currency)}</td>
        <td class="num">${count(pick(s, 'orders', 'order_count', 'total_orders'))}</td></tr>`;
    })}</tbody></table>`;
}

function topProducts(summary) {
  const rows = asList(summary.top_products);
  if (!rows.length) return empty('No product has sold yet.');
  const currency = currencyOf(summary);
  return html`<table class="table" id="top-products"><thead><tr><th>Product</th><th class="num">Revenue</th><th class="num">Quantity</th></tr></thead><tbody>
    ${rows.map((p) => html`<tr><td>${pick(p, 'name', 'product_name', 'item_name', 'product_id')}</td>
        <td class="num">${money(pick(p, 'revenue', 'total_revenue', 'total'), currency)}</td>
        <td class="num">${count(pick(p, 'quantity', 'total_quantity', 'units'), 1)}</td></tr>`)}</tbody></table>`;
}

// Labels for the backtest's figures; others are shown with their own name.
const BACKTEST_LABELS = {
  hit_rate: 'Next order within ±7 days', within_7_days: 'Next order within ±7 days',
  date_hit_rate: 'Next order within ±7 days', mae_days: 'Mean error (days)',
  mean_absolute_error_days: 'Mean error (days)', recall_at_10: 'Basket recall@10',
  precision_at_10: 'Basket precision@10', amount_error: 'Amount error', stores: 'Stores tested',
};
const RATIO = /(rate|share|recall|precision|hit|within)/;

// Numbers of a backtest, flattened one level: {model: {hit_rate: .8}} -> 'model · hit rate'.
function backtestFigures(metrics, prefix = '', depth = 0) {
  const out = [];
  for (const [k, v] of Object.entries(metrics || {})) {
    if (v === null || v === undefined || Array.isArray(v)) continue;
    const name = BACKTEST_LABELS[k] || k.replaceAll('_', ' ');
    const label = prefix ? `${prefix} · ${name}` : name;
    if (typeof v === 'object') {
      if (depth < 1) out.push(...backtestFigures(v, label, depth + 1));
    } else if (typeof v === 'number' || (typeof v === 'string' && v !== '' && !Number.isNaN(Number(v)))) {
      const n = Number(v);
      out.push([label, RATIO.test(k) && n >= 0 && n <= 1 ? percent(n, 1) : count(n, 2)]);
    }
  }
  return out;
}

// The model against its naive baselines, as app.run_backtest reports them:
// {dates: {model, baseline}, baskets: {model, baseline}, calibration_max_gap, ...}.
const BACKTEST_ROWS = [
  ['dates', 'hit_rate_7d', 'Next order within ±7 days', 'ratio'],
  ['dates', 'mae_days', 'Mean date error (days)', 'days'],
  ['dates', 'median_abs_error_days', 'Median date error (days)', 'days'],
  ['baskets', 'recall_at_10', 'Basket recall@10', 'ratio'],
  ['baskets', 'precision_at_10', 'Basket precision@10', 'ratio'],
  ['baskets', 'amount_wape', 'Amount error (WAPE)', 'ratio'],
];

// The compact form api.dashboard_summary and api.latest_backtest give: {model: {hit_rate,
// mae_days, recall_at_10, precision_at_10, amount_error}, baseline: {...}} or flat columns.
function nested(m) {
  if (m.dates || m.baskets) return m;
  const side = (src, prefix) => ({
    hit_rate_7d: src[`${prefix}hit_rate`] ?? src[`${prefix}hit_rate_7d`],
    mae_days: src[`${prefix}mae_days`],
    recall_at_10: src[`${prefix}recall_at_10`],
    precision_at_10: src[`${prefix}precision_at_10`],
    amount_wape: src[`${prefix}amount_error`] ?? src[`${prefix}amount_wape`],
  });
  const model = m.model && typeof m.model === 'object' ? side(m.model, '') : side(m, '');
  const baseline = m.baseline && typeof m.baseline === 'object' ? side(m.baseline, '') : side(m, 'baseline_');
  return {
    dates: { model, baseline, stores_predicted: m.stores },
    baskets: { model, baseline },
    calibration_max_gap: m.calibration_max_gap,
  };
}

function backtestTable(raw) {
  const m = nested(raw);
  const cell = (v, kind) => (v === undefined || v === null ? '–' : kind === 'ratio' ? percent(v, 1) : count(v, 1));
  const rows = BACKTEST_ROWS.filter(([part, key]) => m[part] && m[part].model
    && m[part].model[key] !== undefined && m[part].model[key] !== null);
  if (!rows.length) return null;
  const dates = m.dates || {};
  return html`<table class="table compact" id="backtest-table"><thead><tr><th></th><th class="num">Predictions</th><th class="num">Baseline</th></tr></thead><tbody>
    ${rows.map(([part, key, label, kind], i) => html`<tr><td>${label}${i === rows.findIndex((r) => r[0] === part) && m[part].baseline && m[part].baseline.name ? html`<div class="muted small">baseline: ${m[part].baseline.name}</div>` : ''}</td>
      <td class="num"><strong>${cell(m[part].model[key], kind)}</strong></td><td class="num">${cell((m[part].baseline || {})[key], kind)}</td></tr>`)}
    </tbody></table>
    <p class="muted small">${dates.stores_predicted != null ? html`${count(dates.stores_predicted)} stores predicted${dates.stores_ordered != null ? html`, ${count(dates.stores_ordered)} ordered in the horizon` : ''}. ` : ''}${m.calibration_max_gap !== undefined && m.calibration_max_gap !== null ? html`Calibration: confidence within ${percent(m.calibration_max_gap, 1)} of the observed hit rate in every decile.` : ''}</p>`;
}

function backtest(summary) {
  let bt = pick(summary, 'latest_backtest', 'backtest');
  if (typeof bt === 'string') { try { bt = JSON.parse(bt); } catch { bt = null; } }
  if (!bt) {
    // Or flat columns backtest_*.
    const flat = Object.fromEntries(Object.entries(summary)
      .filter(([k]) => k.startsWith('backtest_')).map(([k, v]) => [k.slice(9), v]));
    bt = Object.keys(flat).length ? flat : null;
  }
  if (!bt) return empty('No backtest has run yet (mangalm backtest --cutoff DATE).');
  const metrics = bt.metrics && typeof bt.metrics === 'object' ? bt.metrics : bt;
  const cutoff = bt.cutoff || metrics.cutoff;
  const horizon = bt.horizon || bt.horizon_days || metrics.horizon_days;
  const table = backtestTable(metrics);
  const figures = table ? [] : backtestFigures(metrics).filter(([label]) => !/^(id|horizon|seconds)/.test(label));
  return html`<div id="backtest">
    <p class="muted">${cutoff ? html`Predicted as of ${day(cutoff)}` : ''}${horizon ? html`, checked against the next ${horizon} days` : ''}${bt.created_at ? html` · run ${day(bt.created_at)}` : ''}</p>
    ${table || (figures.length ? html`<dl class="figures">${figures.map(([k, v]) => html`<div><dt>${k}</dt><dd>${v}</dd></div>`)}</dl>`
      : empty('The latest backtest has no figures.'))}
  </div>`;
}

function trendColumns(rows) {
  const first = rows[0] || {};
  const period = ['period', 'period_start', 'bucket', 'day', 'date', 'week', 'month']
    .find((k) => k in first) || Object.keys(first)[0];
  return {
    period,
    revenue: ['revenue', 'total_revenue'].find((k) => k in first) || 'revenue',
    orders: ['orders', 'order_count', 'total_orders'].find((k) => k in first) || 'orders',
    stores: ['active_stores', 'stores'].find((k) => k in first),
    aov: ['average_order_value', 'avg_order_value'].find((k) => k in first),
  };
}

export function mount(el) {
  let range = sessionStorage.getItem('mangalm.range') || '30d';
  let grain = DEFAULT_GRAIN[range];
  let chart = null;
  let currency = 'INR';
  let alive = true;

  render(el, html`
    <div class="page-head"><h1>Overview</h1><p class="muted" id="summary-note"></p></div>
    <section id="kpis" class="kpis" aria-label="Key figures"></section>
    <section class="panel">
      <div class="panel-head">
        <h2>Revenue trend</h2>
        <div class="controls">
          <div class="segmented" role="group" aria-label="Range" id="range-switch">
            ${RANGES.map((r) => html`<button type="button" data-range="${r}">${r === 'all' ? 'All' : r}</button>`)}
          </div>
          <label class="inline">by <select id="grain">${GRAINS.map((g) => html`<option value="${g}">${g}</option>`)}</select></label>
        </div>
      </div>
      <p class="muted" id="trend-totals"></p>
      <div class="chart-box"><canvas id="trend-chart" aria-label="Revenue and orders over time"></canvas></div>
      <div id="trend-state"></div>
    </section>
    <div class="grid2">
      <section class="panel"><h2>Top stores</h2><div id="top-stores-box"></div></section>
      <section class="panel"><h2>Top products</h2><div id="top-products-box"></div></section>
    </div>
    <section class="panel"><h2>How often predictions came true</h2><div id="backtest-box"></div></section>`);

  const $ = (sel) => el.querySelector(sel);

  async function loadSummary() {
    const box = $('#kpis');
    const summary = await fill(box, dashboardSummary, (summary) => {
      if (!summary) {
        render(box, empty('No summary yet: load an export (Upload) to fill the dashboard.'));
        return;
      }
      currency = currencyOf(summary);
      render(box, kpiCards(summary));
      render($('#top-stores-box'), topStores(summary));
      render($('#top-products-box'), topProducts(summary));
      render($('#backtest-box'), backtest(summary));
      const asOf = pick(summary, 'refreshed_at', 'as_of', 'computed_at');
      const span = summary.data_from && summary.data_to ? `Invoices from ${day(summary.data_from)} to ${day(summary.data_to)}. ` : '';
      $('#summary-note').textContent = span + (asOf ? `Figures as of ${new Date(asOf).toLocaleString('en-IN')}.` : '');
    });
    if (summary === undefined) {
      // The summary failed (its message is in the KPI row): say so in the panels it feeds.
      for (const id of ['#top-stores-box', '#top-products-box', '#backtest-box']) {
        if (!$(id).innerHTML) render($(id), empty('Unavailable: the summary could not be loaded.'));
      }
    }
  }

  async function loadTrend() {
    for (const b of el.querySelectorAll('[data-range]')) {
      b.classList.toggle('active', b.dataset.range === range);
      b.setAttribute('aria-pressed', String(b.dataset.range === range));
    }
    $('#grain').value = grain;
    const state = $('#trend-state');
    const chartBox = $('.chart-box');
    chartBox.dataset.range = range;
    chartBox.dataset.loading = '1';
    try {
      const requested = range;
      const rows = await salesTrends(range, grain);
      if (!alive || requested !== range) return;
      const list = Array.isArray(rows) ? rows : [];
      const c = trendColumns(list);
      const revenue = list.reduce((a, r) => a + (num(r[c.revenue]) || 0), 0);
      const orders = list.reduce((a, r) => a + (num(r[c.orders]) || 0), 0);
      const totals = $('#trend-totals');
      totals.dataset.range = range;
      totals.dataset.revenue = revenue.toFixed(2);
      totals.dataset.orders = String(orders);
      totals.dataset.points = String(list.length);
      totals.textContent = orders
        ? `${money(revenue, currency)} from ${count(orders)} orders (${range === 'all' ? 'all time' : `last ${range}`}, by ${grain})`
        : '';
      const none = list.length === 0 || orders === 0;
      render(state, none ? empty('No orders in this range.') : '');
      chartBox.hidden = none;
      chart = drawChart($('#trend-chart'), chart, {
        data: {
          labels: list.map((r) => day(String(r[c.period]))),
          datasets: [
            { type: 'line', label: 'Revenue', data: list.map((r) => num(r[c.revenue])), yAxisID: 'y',
              borderColor: '#0f766e', backgroundColor: 'rgba(15,118,110,.12)', fill: true, tension: 0.15, pointRadius: 2 },
            { type: 'bar', label: 'Orders', data: list.map((r) => num(r[c.orders])), yAxisID: 'y1',
              backgroundColor: 'rgba(234,88,12,.28)', barPercentage: 0.6 },
          ],
        },
        options: {
          responsive: true, maintainAspectRatio: false, animation: false,
          interaction: { mode: 'index', intersect: false },
          scales: {
            y: { position: 'left', beginAtZero: true, ticks: { callback: (v) => money(v, currency) } },
            y1: { position: 'right', grid: { drawOnChartArea: false }, ticks: { precision: 0 } },
          },
          plugins: {
            tooltip: { callbacks: { label: (ctx) => (ctx.dataset.yAxisID === 'y'
              ? `Revenue ${money(ctx.raw, currency)}` : `Orders ${count(ctx.raw)}`) } },
          },
        },
      });
    } catch (err) {
      chartBox.hidden = true;
      render(state, errorBox(err));
    } finally {
      delete chartBox.dataset.loading;
    }
  }

  $('#range-switch').addEventListener('click', (e) => {
    const b = e.target.closest('[data-range]');
    if (!b) return;
    range = b.dataset.range;
    grain = DEFAULT_GRAIN[range];
    sessionStorage.setItem('mangalm.range', range);
    loadTrend();
  });
  $('#grain').addEventListener('change', (e) => {
    grain = e.target.value;
    loadTrend();
  });

  loadSummary().then(loadTrend);

  return {
    refresh() {
      loadSummary().then(loadTrend);
    },
    unmount() {
      alive = false;
      if (chart) chart.destroy();
    },
  };
}

