"""The date rule (app.forecast_dates_at, the confidence fit's 13 past cutoffs in one pass)
against a plain Python statement of it, store by store and cutoff by cutoff, on real invoice
lines (the UCI slice of tests/analytics_helpers.py): every column, and the rows' order (the
confidence fit sums its sample in this order; float sums depend on it). The SQL computes a
store's history statistics once per last order day and the centre of its window by one
aggregate; this file computes each from its definition (README "How the predictions work",
functions/predictions.sql), with preferred delivery days set for a third of the stores."""
from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import psycopg
import pytest

from analytics_helpers import load_slice

pytestmark = pytest.mark.slow  # loads the slice: ~20 s
AS_OF = date(2011, 9, 9)
CUTOFFS = [AS_OF - timedelta(days=14 * j) for j in range(1, 14)] + [date(2011, 3, 1), None, AS_OF - timedelta(days=14)]
WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday']


@pytest.fixture(scope="module")
def loaded(db_url, tmp_path_factory):
    load_slice(db_url, tmp_path_factory.mktemp("slice"))
    return db_url


def percentile_cont_half(values: list[float]) -> float:
    """percentile_cont(0.5): the middle value, or linear interpolation between the two."""
    v = sorted(values)
    pos = 0.5 * (len(v) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return float(v[lo]) if lo == hi else v[lo] + (v[hi] - v[lo]) * (pos - lo)


def numeric2(x: float) -> Decimal:
    """round(x::numeric, 2): float8 to numeric keeps 15 significant digits, then half away from zero."""
    return Decimal(format(x, ".15g")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def forecast(days: list[date], cutoff: date, preferred: str | None):
    """One store's row as of `cutoff` from its order days (sorted, distinct), or None."""
    past = [d for d in days if d <= cutoff]
    n = len(past)
    if n < 3:
        return None
    gaps = [(past[k] - past[k - 1]).days for k in range(1, n)]   # gaps[k - 1] is position k + 1's
    last24 = gaps[-24:]
    med = percentile_cont_half(last24)
    mad = 1.4826 * percentile_cont_half([abs(g - med) for g in last24])
    last = past[-1]
    elapsed = (cutoff - last).days
    later = sorted(g for g in last24 if g > elapsed)
    centre = n_window = None
    if later:
        median = next(g for g in later if 2 * sum(1 for h in later if h <= g) >= len(later))
        in_window = {g: sum(1 for h in later if abs(h - g) <= 7) for g in set(later)}
        centre = min(in_window, key=lambda g: (-in_window[g], abs(g - median), g))
        n_window = in_window[centre]
    rhythm = centre is not None and mad < 0.5 * med
    weekdays = {d.isoweekday() for d in past[-50:]}
    if not rhythm:
        day = cutoff + timedelta(days=8)
    else:
        day = last + timedelta(days=centre)
        if n >= 8 and day.isoweekday() not in weekdays:
            day = next((day + timedelta(days=s) for s in (1, -1, 2, -2, 3, -3)
                        if day + timedelta(days=s) > cutoff and (day + timedelta(days=s)).isoweekday() in weekdays), day)
    if preferred is not None:
        day += timedelta(days=((WEEKDAYS.index(preferred) + 1 - day.isoweekday() + 10) % 7) - 3)
    if day <= cutoff:
        day += timedelta(days=7)
    return (n, len(last24), past[0], last, elapsed, numeric2(med), numeric2(mad), max(last24),
            len(later), n_window or 0, day, last + timedelta(days=round(percentile_cont_half(gaps))), rhythm,
            sum(1 for d in past if d > cutoff - timedelta(days=90)), preferred)


def test_the_date_rule_in_one_pass_equals_its_plain_statement(loaded):
    with psycopg.connect(loaded) as conn:
        # A third of the stores get a preferred delivery day (rolled back below).
        conn.execute("""INSERT INTO data.store_preferences (store_id, preferred_delivery_day)
                        SELECT s.id, (%s::text[])[1 + abs(hashtext(s.id)) %% 7] FROM data.stores s
                        WHERE abs(hashtext(s.id)) %% 3 = 0""", (WEEKDAYS,))
        preferred = dict(conn.execute("SELECT store_id, preferred_delivery_day FROM data.store_preferences").fetchall())
        days: dict[str, list[date]] = {}
        for store, day in conn.execute("""SELECT DISTINCT o.store_id, o.order_date FROM app.sales o
                                          WHERE o.total_amount > 0 ORDER BY 1, 2"""):
            days.setdefault(store, []).append(day)
        got = conn.execute("SELECT * FROM app.forecast_dates_at(%s)", (CUTOFFS,)).fetchall()
        conn.rollback()
    # Cutoff by cutoff in the order given (a repeated one at its first place, NULL dropped),
    # within one the stores in byte order of their ids.
    order = list(dict.fromkeys(c for c in CUTOFFS if c is not None))
    want = []
    for cutoff in order:
        for store in sorted(days, key=lambda s: s.encode()):
            row = forecast(days[store], cutoff, preferred.get(store))
            if row is not None:
                want.append((cutoff, store, *row))
    assert len(want) > 1000 and len({r[0] for r in want}) == 14
    assert any(r[14] for r in want) and any(not r[14] for r in want)        # rhythm: both kinds
    assert any(r[16] for r in want) and any(r[10] for r in want)            # preferred days, windows
    assert got == want
