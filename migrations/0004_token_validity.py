"""Tokens that end when they should, tickets for the live-events stream, and events the
database writes itself (functions/auth.sql, functions/live_events.sql).

- data.users.tokens_valid_after: a trigger sets it (to the second) whenever the password, the
  role or is_active changes; app.token_problem refuses a token issued (iat) before it. NULL
  for rows that never changed since: no bound.
- data.event_tickets: short-lived, single-use tickets for GET /events (EventSource cannot send
  a header, and a token in a URL ends up in logs). Only the SHA-256 of a ticket is stored.
- data.events: what GET /events sends, written by app.publish_event. NOTIFY only wakes the
  service up; it never trusts a notification's payload (any session may NOTIFY).
"""
from yoyo import step

__depends__ = {"0003_store_preferences"}

steps = [
    step("ALTER TABLE data.users ADD COLUMN tokens_valid_after timestamptz",
         "ALTER TABLE data.users DROP COLUMN tokens_valid_after"),
    step("COMMENT ON COLUMN data.users.tokens_valid_after IS "
         "'Tokens issued (iat) before this second are refused; set when the password, role or is_active changes'",
         "COMMENT ON COLUMN data.users.tokens_valid_after IS NULL"),
    step("CREATE TABLE data.event_tickets ("
         " ticket_hash bytea PRIMARY KEY,"
         " user_id uuid REFERENCES data.users (id) ON DELETE CASCADE,"
         " jti uuid NOT NULL,"
         " claims jsonb NOT NULL,"
         " expires_at timestamptz NOT NULL)",
         "DROP TABLE data.event_tickets"),
    step("CREATE INDEX event_tickets_expires_at_idx ON data.event_tickets (expires_at)",
         "DROP INDEX data.event_tickets_expires_at_idx"),
    step("CREATE INDEX event_tickets_user_id_idx ON data.event_tickets (user_id)",
         "DROP INDEX data.event_tickets_user_id_idx"),
    step("COMMENT ON TABLE data.event_tickets IS "
         "'Single-use tickets for GET /events (SHA-256 of the ticket), bound to a token''s user and jti'",
         "COMMENT ON TABLE data.event_tickets IS NULL"),
    step("CREATE TABLE data.events ("
         " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
         " kind text NOT NULL,"
         " payload jsonb NOT NULL,"
         " store_ids text[],"
         " created_at timestamptz NOT NULL DEFAULT now())",
         "DROP TABLE data.events"),
    step("CREATE INDEX events_created_at_idx ON data.events (created_at)",
         "DROP INDEX data.events_created_at_idx"),
    step("COMMENT ON TABLE data.events IS "
         "'Live events for GET /events, written by app.publish_event; kept a day'",
         "COMMENT ON TABLE data.events IS NULL"),
    # Private to the owner, like data.revoked_tokens: RLS on and no policy, so no API role
    # reads them even if a grant slipped in; only security-definer functions do.
    step("ALTER TABLE data.event_tickets ENABLE ROW LEVEL SECURITY",
         "ALTER TABLE data.event_tickets DISABLE ROW LEVEL SECURITY"),
    step("ALTER TABLE data.events ENABLE ROW LEVEL SECURITY",
         "ALTER TABLE data.events DISABLE ROW LEVEL SECURITY"),
]
