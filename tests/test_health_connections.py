"""GET /health is cheap to ask often: one kept connection (application_name mangalm-health),
requests during a check share its answer, and a rate limit of its own at the front door."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg

from gateway.health import APPLICATION_NAME


def sessions(conn) -> int:
    """Sessions ever opened on the stack's database (PostgreSQL 14+ counts them)."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]


def test_rapid_health_checks_open_at_most_a_couple_of_connections(gateway_url, running_stack):
    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        assert httpx.get(f"{gateway_url}/health").status_code in (200, 503)
        before = sessions(conn)
        with httpx.Client(base_url=gateway_url) as client, ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: client.get("/health").status_code, range(200)))
        assert set(answers) <= {200, 503}
        opened = sessions(conn) - before
        kept = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                            (APPLICATION_NAME,)).fetchone()[0]
    assert kept == 1, f"{kept} health connections are open"
    assert opened <= 5, f"200 /health requests opened {opened} database sessions"


def test_health_has_a_rate_limit_of_its_own(gateway_url):
    """The test stack exempts 127.0.0.1; another loopback address is limited (10/s, burst 20)."""
    with httpx.Client(base_url=gateway_url, transport=httpx.HTTPTransport(local_address="127.0.0.93")) as c:
        answers = [c.get("/health").status_code for _ in range(60)]
    assert 429 in answers
    assert answers[:20] == [a for a in answers[:20] if a != 429]
