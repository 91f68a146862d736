"""Two transactions at once: whether the second statement waits for the first transaction."""
from __future__ import annotations

import threading
import time

import psycopg


def waits_for(url, first, second) -> dict:
    """Runs `first` (sql, params) in an open transaction, then `second` from another connection:
    asserts that it waits until the first commits; returns its outcome ({"done": True} or
    {"error": e})."""
    outcome = {}
    with psycopg.connect(url) as a:
        a.execute(*first)                                  # not committed yet

        def then():
            with psycopg.connect(url, autocommit=True) as b:
                try:
                    b.execute(*second)
                    outcome["done"] = True
                except psycopg.Error as e:
                    outcome["error"] = e
        t = threading.Thread(target=then)
        t.start()
        time.sleep(1.0)
        assert t.is_alive(), "the second statement waits for the first transaction"
        a.commit()
        t.join(30)
    return outcome
