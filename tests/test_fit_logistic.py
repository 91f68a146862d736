"""app.fit_logistic (functions/backtest.sql), the Newton steps of both model fits, against a
plain statement of the same method in Python, bit for bit: the gradient and the Hessian summed
row by row in the sample's order, the ridge added, the system solved by the same elimination,
stopped at the same step. Both of the function's paths: an intercept of ones with unit weights
(what the fits give: the products by 1 are left out) and a sample without them (every product
written). Python's floats are the same IEEE doubles and its exp the same C library's, so any
change in the order or the form of the arithmetic shows."""
from __future__ import annotations

import math
import random

import pytest


def solve(a: list[float], b: list[float]) -> list[float]:
    """app.solve_linear: Gaussian elimination with partial pivoting, row-major a."""
    k, a, b = len(b), list(a), list(b)
    for c in range(k):
        piv = c
        for r in range(c + 1, k):
            if abs(a[r * k + c]) > abs(a[piv * k + c]):
                piv = r
        if piv != c:
            for j in range(k):
                a[c * k + j], a[piv * k + j] = a[piv * k + j], a[c * k + j]
            b[c], b[piv] = b[piv], b[c]
        for r in range(c + 1, k):
            f = a[r * k + c] / a[c * k + c]
            for j in range(c, k):
                a[r * k + j] = a[r * k + j] - f * a[c * k + j]
            b[r] = b[r] - f * b[c]
    x = [0.0] * k
    for r in reversed(range(k)):
        t = b[r]
        for j in range(r + 1, k):
            t = t - a[r * k + j] * x[j]
        x[r] = t / a[r * k + r]
    return x


def newton(rows: list[tuple[list[float], int, float]]) -> list[float]:
    """The penalised logistic fit as fit_logistic defines it (ridge 1.0 off the intercept)."""
    k = len(rows[0][0])
    n, hits = 0.0, 0.0
    for _, y, wt in rows:
        n += wt
        hits += wt * y
    b = [0.0] * k
    b[0] = math.log((hits + 0.5) / (n - hits + 0.5))
    for _ in range(30):
        g, h = [0.0] * k, [0.0] * (k * k)
        for x, y, wt in rows:
            z = x[0] * b[0]
            for i in range(1, k):
                z = z + x[i] * b[i]
            p = 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))
            w, r = wt * p * (1 - p), wt * (y - p)
            for i in range(k):
                g[i] += r * x[i]
                for j in range(k):
                    lo, hi = min(i, j), max(i, j)
                    h[i * k + j] += (w * x[lo]) * x[hi]
        for j in range(1, k):
            g[j] = g[j] - 1.0 * b[j]
            h[j * k + j] = h[j * k + j] + 1.0
        delta = solve(h, g)
        b = [b[j] + delta[j] for j in range(k)]
        if max(abs(d) for d in delta) < 1e-6:
            break
    return b


def sample(seed: int, ones: bool) -> list[tuple[list[float], int, float]]:
    rnd = random.Random(seed)
    rows = []
    for _ in range(400):
        x = [1.0 if ones else rnd.choice([1.0, 0.5, 2.0])] + [rnd.gauss(0, 1) for _ in range(3)] + [float(rnd.random() < 0.3)]
        z = 0.4 + 0.8 * x[1] - 0.5 * x[2] + 0.3 * x[4]
        rows.append((x, int(rnd.random() < 1 / (1 + math.exp(-z))), 1.0 if ones else rnd.choice([1.0, 0.5, 3.0])))
    return rows


@pytest.mark.parametrize("ones", [True, False], ids=["intercept-and-unit-weights", "general"])
def test_fit_logistic_is_plain_newton_bit_for_bit(conn, ones):
    rows = sample(7 if ones else 11, ones)
    with conn.transaction(force_rollback=True):
        conn.execute("CREATE TEMP TABLE calibration_sample (x float8[], y integer, wt float8) ON COMMIT DROP")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO pg_temp.calibration_sample VALUES (%s, %s, %s)", rows)
        got = conn.execute("SELECT app.fit_logistic()").fetchone()[0]
    want = newton(rows)
    assert got == want          # every bit: floats compare exactly
    assert abs(want[1] - 0.8) < 0.4 and abs(want[2] + 0.5) < 0.4   # and it is a fit
