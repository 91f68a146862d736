// Stores: the stores the user may see (a rep: theirs, by row-level security), searchable,
// with segment and churn risk; a row opens the store page.
import { get } from '../api.js';
import { count, day, empty, errorBox, html, loading, percent, render } from '../ui.js';

export const NAME = 'stores';

const PAGE = 100;

export function mount(el) {
  let alive = true;
  let seq = 0;
  let timer = null;

  render(el, html`
    <div class="page-head"><h1>Stores</h1></div>
    <section class="panel filters">
      <label>Search <input id="store-search" type="search" placeholder="Name, id or city" autocomplete="off"></label>
      <span class="muted" id="store-count"></span>
    </section>
    <section class="panel"><div id="store-list" class="scroll-x"></div></section>`);
  const $ = (s) => el.querySelector(s);
  const box = $('#store-list');

  async function load() {
    const mine = ++seq;
    const q = $('#store-search').value.trim().replace(/[*,()"]/g, ' ').trim();
    if (!box.dataset.loaded) render(box, loading());
    const params = {
      select: 'id,name,city,state,sales_person,last_order_date,segment:customer_segments(segment_name,churn_risk)',
      order: 'name.asc,id.asc',
      limit: PAGE,
    };
    if (q) params.or = `(name.ilike.*${q}*,id.ilike.*${q}*,city.ilike.*${q}*)`;
    try {
      const rows = await get('stores', params);
      if (!alive || mine !== seq) return;
      $('#store-count').textContent = rows.length >= PAGE ? `first ${PAGE} shown; search to narrow` : `${count(rows.length)} stores`;
      render(box, rows.length ? html`<table class="table stack" id="stores-table"><thead><tr>
          <th>Store</th><th>City</th><th>Sales rep</th><th>Segment</th><th class="num">Churn risk</th><th>Last order</th></tr></thead><tbody>
        ${rows.map((s) => html`<tr data-store-id="${s.id}">
          <td><a href="#/stores/${encodeURIComponent(s.id)}">${s.name}</a><div class="muted small">${s.id}</div></td>
          <td data-label="City">${s.city || '–'}</td><td data-label="Sales rep">${s.sales_person || '–'}</td>
          <td data-label="Segment">${s.segment ? s.segment.segment_name : '–'}</td>
          <td data-label="Churn risk" class="num">${s.segment ? percent(s.segment.churn_risk) : '–'}</td>
          <td data-label="Last order">${day(s.last_order_date)}</td></tr>`)}
        </tbody></table>` : empty(q ? 'No store matches this search.' : 'No stores yet: load an export first.'));
      box.dataset.loaded = '1';
    } catch (err) {
      if (mine === seq) render(box, errorBox(err));
    }
  }

  $('#store-search').addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(load, 250);
  });
  load();
  return { refresh: load, unmount() { alive = false; clearTimeout(timer); } };
}
