-- People who log in to the dashboard and the API. Passwords are bcrypt hashes (pgcrypto).
CREATE TABLE data.users (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email         text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
  password_hash text NOT NULL,
  role          text NOT NULL CHECK (role IN ('sales_rep', 'manager', 'admin')),
  full_name     text,
  -- A rep sees the stores whose export column "Sales person" equals this name
  -- (and those assigned explicitly in store_assignments).
  sales_person  text,
  is_active     boolean NOT NULL DEFAULT true,
  last_login_at timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON data.users (lower(email));
CREATE INDEX users_sales_person_idx ON data.users (sales_person) WHERE sales_person IS NOT NULL;
COMMENT ON TABLE data.users IS 'Dashboard and API users; role decides what PostgREST lets them do';

-- Logged-out tokens: PostgREST's pre-request check refuses a token whose jti is here.
CREATE TABLE data.revoked_tokens (
  jti        uuid PRIMARY KEY,
  user_id    uuid REFERENCES data.users (id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_tokens_user_id_idx ON data.revoked_tokens (user_id);
CREATE INDEX revoked_tokens_expires_at_idx ON data.revoked_tokens (expires_at);

-- Failed and successful logins, for per-account and per-address rate limits.
CREATE TABLE data.login_attempts (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email      text NOT NULL,
  address    inet,
  succeeded  boolean NOT NULL,
  at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_email_at_idx ON data.login_attempts (lower(email), at);
CREATE INDEX login_attempts_address_at_idx ON data.login_attempts (address, at);
