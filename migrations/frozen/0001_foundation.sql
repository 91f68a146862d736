-- Migration 0001_foundation, frozen: the schema as first released. Never edit this file;
-- change the schema with a new migration (see migrations/README.md).

-- ---- schemas ----
-- Private data lives in `data`, private functions in `app`, per-job staging tables in
-- `staging`; only `api` is exposed by PostgREST (views and functions over the private tables).
-- `app` and `api` hold no data: gateway/migrate.py drops and re-creates them on every migrate.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE SCHEMA data;
CREATE SCHEMA staging;

COMMENT ON SCHEMA data IS 'Private tables of Mangalm; clients read them through the api schema';
COMMENT ON SCHEMA staging IS 'Per-upload-job staging tables (unlogged, dropped when the job ends)';

REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- ---- users ----
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

-- ---- stores ----
-- Retail stores (the export's customers). The id is the export's Customer ID, so a store
-- keeps its identity across uploads; stores without one get an id derived from the name.
CREATE TABLE data.stores (
  id               text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 255),
  name             text NOT NULL CHECK (length(btrim(name)) > 0),
  address          text,
  city             text,
  state            text,
  country          text,
  postal_code      text,
  phone            text,
  email            text,
  sales_person     text,
  currency_code    text,
  payment_terms    text,
  first_order_date date,
  last_order_date  date,
  is_active        boolean NOT NULL DEFAULT true,
  -- 'import' rows are owned by the ingest pipeline; 'manual' ones were created through the API.
  source           text NOT NULL DEFAULT 'manual' CHECK (source IN ('import', 'manual')),
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stores_sales_person_idx ON data.stores (sales_person);
COMMENT ON TABLE data.stores IS 'Retail stores (customers of the distributor)';

-- Explicit store-to-rep assignments, beside the export's "Sales person" column.
CREATE TABLE data.store_assignments (
  store_id   text NOT NULL REFERENCES data.stores (id) ON DELETE CASCADE,
  user_id    uuid NOT NULL REFERENCES data.users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (store_id, user_id)
);
CREATE INDEX store_assignments_user_id_idx ON data.store_assignments (user_id);

CREATE TABLE data.store_preferences (
  store_id                 text PRIMARY KEY REFERENCES data.stores (id) ON DELETE CASCADE,
  call_frequency           text CHECK (call_frequency IN ('daily', 'weekly', 'fortnightly', 'monthly')),
  payment_terms            integer CHECK (payment_terms BETWEEN 0 AND 365),
  credit_limit             numeric(14, 2) CHECK (credit_limit >= 0),
  auto_approve_predictions boolean NOT NULL DEFAULT false,
  preferred_delivery_day   text CHECK (preferred_delivery_day IN
                             ('monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday')),
  notes                    text,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now()
);

-- ---- products ----
-- The product catalogue. product_key is the natural key the ingest pipeline matches on:
-- the export's Product ID, else its SKU, else the lower-cased item name.
CREATE TABLE data.products (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  product_key text NOT NULL UNIQUE,
  external_id text,
  sku         text,
  name        text NOT NULL CHECK (length(btrim(name)) > 0),
  description text,
  category    text,
  brand       text,
  usage_unit  text,
  unit_price  numeric(14, 2) CHECK (unit_price >= 0),
  mrp         numeric(14, 2) CHECK (mrp >= 0),
  hsn_sac     text,
  tax_rate    numeric(6, 3) CHECK (tax_rate BETWEEN 0 AND 100),
  is_active   boolean NOT NULL DEFAULT true,
  source      text NOT NULL DEFAULT 'manual' CHECK (source IN ('import', 'manual')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_category_idx ON data.products (category);
CREATE INDEX products_brand_idx ON data.products (brand);
COMMENT ON TABLE data.products IS 'Products the distributor sells';

-- ---- uploads ----
-- Upload jobs are a queue that is a table: workers claim with FOR UPDATE SKIP LOCKED,
-- failed jobs are retried with exponential backoff, finished jobs are kept.
--
-- Life of a job: 'receiving' (the loader streams the file into staging.upload_<id> with COPY)
-- -> 'queued' -> 'running' (a worker holds it; see functions/jobs.sql) -> 'succeeded', or back
-- to 'queued' with a later run_after after a failure, until max_attempts, then 'failed'.
CREATE TABLE data.upload_jobs (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('receiving', 'queued', 'running', 'succeeded', 'failed')),
  filename      text,
  -- encoding, date_order, delimiter, map: what the loader was told and what it detected.
  options       jsonb NOT NULL DEFAULT '{}',
  dry_run       boolean NOT NULL DEFAULT false,
  -- Where the upload came from: cli, http, demo, bench, test.
  source        text NOT NULL DEFAULT 'cli',
  created_by    uuid REFERENCES data.users (id) ON DELETE SET NULL,
  -- The file's header and how each column is read: {"headers": [...], "fields":
  -- {"invoice_date": 1, ...}, "extra": [{"header": "Route", "col": 42}]} (col = staging column c<n>).
  columns       jsonb NOT NULL DEFAULT '{}',
  staging_table text,
  bytes         bigint,
  -- Data lines of the file (records; a quoted field may span physical lines). Always
  -- lines = loaded + rejected once the job has succeeded.
  lines         integer,
  loaded        integer,
  rejected      integer,
  new_stores    integer,
  new_products  integer,
  -- Blank lines and lines before the header: not data, counted for the report only.
  skipped_lines integer NOT NULL DEFAULT 0,
  sha256        text,
  attempts      integer NOT NULL DEFAULT 0,
  max_attempts  integer NOT NULL DEFAULT 3,
  run_after     timestamptz NOT NULL DEFAULT now(),
  last_error    text,
  locked_by     text,
  message       text,
  -- Milliseconds per phase of the processing, and which path (bulk or incremental) ran.
  timings       jsonb NOT NULL DEFAULT '{}',
  received_at   timestamptz,
  started_at    timestamptz,
  finished_at   timestamptz,
  processing_ms integer,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
-- What a worker looks for: runnable jobs, oldest first.
CREATE INDEX upload_jobs_runnable_idx ON data.upload_jobs (run_after) WHERE status = 'queued';
-- Jobs a worker holds, or held when it died (see app.claim_job).
CREATE INDEX upload_jobs_running_idx ON data.upload_jobs (id) WHERE status IN ('running', 'receiving');
CREATE INDEX upload_jobs_created_by_idx ON data.upload_jobs (created_by);
CREATE INDEX upload_jobs_sha256_idx ON data.upload_jobs (sha256) WHERE status = 'succeeded';

-- Every line that could not be loaded, with its line number, raw text and a reason.
CREATE TABLE data.upload_rejects (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id      bigint NOT NULL REFERENCES data.upload_jobs (id) ON DELETE CASCADE,
  -- The physical line of the file where the record starts (the header is line 1).
  line_no     integer NOT NULL,
  raw_line    text,
  reason      text NOT NULL,
  -- The file's header of the column at fault, when one column is.
  column_name text
);
CREATE INDEX upload_rejects_job_id_idx ON data.upload_rejects (job_id, line_no);

-- ---- orders ----
-- Orders: one row per invoice of the export (source 'invoice', written by the ingest
-- pipeline) and per order a rep drafts by hand or from a prediction. The invoice's lines are
-- in invoice_items, a draft's lines in order_items.
CREATE TABLE data.orders (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  store_id       text NOT NULL REFERENCES data.stores (id) ON DELETE CASCADE,
  source         text NOT NULL DEFAULT 'manual' CHECK (source IN ('invoice', 'manual', 'prediction')),
  invoice_number text UNIQUE,
  status         text NOT NULL DEFAULT 'draft'
                   CHECK (status IN ('draft', 'submitted', 'confirmed', 'invoiced', 'void', 'cancelled')),
  invoice_status text,
  order_date     date NOT NULL DEFAULT current_date,
  due_date       date,
  subtotal       numeric(14, 2),
  tax_amount     numeric(14, 2),
  total_amount   numeric(14, 2) NOT NULL DEFAULT 0,
  item_count     integer NOT NULL DEFAULT 0,
  currency_code  text,
  sales_person   text,
  created_by     uuid REFERENCES data.users (id) ON DELETE SET NULL,
  notes          text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CHECK ((source = 'invoice') = (invoice_number IS NOT NULL))
);
CREATE INDEX orders_store_id_date_idx ON data.orders (store_id, order_date);
CREATE INDEX orders_order_date_idx ON data.orders (order_date);
CREATE INDEX orders_created_by_idx ON data.orders (created_by);
CREATE INDEX orders_status_idx ON data.orders (status) WHERE status IN ('draft', 'submitted', 'confirmed');

CREATE TABLE data.order_items (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id   bigint NOT NULL REFERENCES data.orders (id) ON DELETE CASCADE,
  product_id uuid NOT NULL REFERENCES data.products (id),
  quantity   numeric(15, 4) NOT NULL CHECK (quantity > 0),
  unit_price numeric(14, 2) NOT NULL CHECK (unit_price >= 0),
  line_total numeric(16, 2) GENERATED ALWAYS AS (round(quantity * unit_price, 2)) STORED,
  source     text NOT NULL DEFAULT 'manual' CHECK (source IN ('manual', 'prediction', 'upsell')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (order_id, product_id)
);
CREATE INDEX order_items_product_id_idx ON data.order_items (product_id);

-- ---- invoices ----
-- mangalam_invoices keeps every loaded export line, typed, exactly as given (unknown columns
-- in `extra`). Natural key: invoice number + line number within the invoice, so loading the
-- same invoice again replaces its lines and loading the same file twice changes nothing.
-- Written only by app.process_bulk_upload_complete (functions/ingest.sql).
CREATE TABLE data.mangalam_invoices (
  -- (CACHE 1000: a sequence without a cache cost ~0.9 s of CPU per million inserted lines.)
  id                 bigint GENERATED ALWAYS AS IDENTITY (CACHE 1000) PRIMARY KEY,
  -- The export's Invoice Number (its Invoice ID when the number is blank). Collation "C": the
  -- natural key's index is built and searched by byte comparison, several times faster than
  -- the database's C.UTF-8 (a string compare per comparison); an invoice number has no
  -- language order anyway. (Compare it with other text as `x COLLATE "C"`.)
  invoice_number     text COLLATE "C" NOT NULL,
  -- Position of the line within its invoice in the file (1, 2, ...): two identical lines
  -- of one invoice are two lines.
  line_no            integer NOT NULL,
  -- The job that loaded the line. Deliberately no foreign key and no index: jobs are never
  -- deleted, a key cost a row-by-row check per loaded line (about 5 s per million lines), and
  -- the pipeline finds a job's lines through their invoice numbers (the natural key's index).
  upload_job_id      bigint,
  -- The physical line of the file the record started on.
  source_line        integer,
  -- Derived keys: the store (Customer ID, else one derived from the customer name) and the
  -- product (Product ID, else SKU, else the lower-cased item name; NULL for non-product lines).
  store_id           text NOT NULL,
  product_key        text,
  invoice_date       date NOT NULL,
  invoice_id         text,
  invoice_status     text,
  customer_id        text,
  customer_name      text,
  due_date           date,
  purchase_order     text,
  sales_order_number text,
  product_id         text,
  item_name          text,
  sku                text,
  brand              text,
  category_name      text,
  item_desc          text,
  quantity           numeric(15, 4) NOT NULL,
  usage_unit         text,
  item_price         numeric(15, 4),
  mrp                numeric(15, 4),
  discount           numeric(15, 4),
  discount_amount    numeric(15, 4),
  item_total         numeric(15, 4),
  subtotal           numeric(15, 4),
  total              numeric(15, 4),
  balance            numeric(15, 4),
  item_tax_pct       numeric(8, 4),
  item_tax_amount    numeric(15, 4),
  hsn_sac            text,
  currency_code      text,
  warehouse_name     text,
  sales_person       text,
  billing_city       text,
  billing_state      text,
  billing_country    text,
  billing_code       text,
  shipping_city      text,
  shipping_state     text,
  shipping_country   text,
  shipping_code      text,
  payment_terms      text,
  notes              text,
  extra              jsonb,
  -- Flags the pipeline derives: void/cancelled invoices, returns, lines that are no product
  -- (shipping, bank charges, ...). Flagged lines are kept, never dropped.
  is_void            boolean NOT NULL DEFAULT false,
  is_return          boolean NOT NULL DEFAULT false,
  is_product         boolean NOT NULL DEFAULT true,
  created_at         timestamptz NOT NULL DEFAULT now(),
  UNIQUE (invoice_number, line_no),
  -- NaN is a numeric value but no amount. (The pipeline casts plain numbers without looking
  -- at them first; this check is what stops a 'NaN' cell and sends it to the careful path.)
  CONSTRAINT mangalam_invoices_no_nan CHECK (quantity <> 'NaN' AND item_price <> 'NaN' AND mrp <> 'NaN'
    AND discount <> 'NaN' AND discount_amount <> 'NaN' AND item_total <> 'NaN' AND subtotal <> 'NaN'
    AND total <> 'NaN' AND balance <> 'NaN' AND item_tax_pct <> 'NaN' AND item_tax_amount <> 'NaN')
);
COMMENT ON TABLE data.mangalam_invoices IS 'Every loaded invoice-export line, typed, as given';

-- The normalised lines of invoice-sourced orders.
CREATE TABLE data.invoice_items (
  id              bigint GENERATED ALWAYS AS IDENTITY (CACHE 1000) PRIMARY KEY,
  order_id        bigint NOT NULL REFERENCES data.orders (id) ON DELETE CASCADE,
  line_no         integer NOT NULL,
  product_id      uuid REFERENCES data.products (id),
  item_name       text,
  quantity        numeric(15, 4) NOT NULL,
  unit_price      numeric(15, 4),
  discount_amount numeric(15, 4),
  tax_amount      numeric(15, 4),
  line_total      numeric(16, 2) NOT NULL,
  is_return       boolean NOT NULL DEFAULT false,
  is_product      boolean NOT NULL DEFAULT true,
  UNIQUE (order_id, line_no)
);
CREATE INDEX invoice_items_product_id_idx ON data.invoice_items (product_id);

-- ---- analytics ----
-- Derived analytics, recomputed by functions/ (predictions.sql, segments.sql, upselling.sql,
-- backtest.sql, refresh.sql) for the stores an upload touched and on demand. Everything here
-- can be rebuilt from orders + invoice_items, except the decisions reps made on predictions
-- and the track record (backtest_runs).

CREATE TABLE data.predicted_orders (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  store_id           text NOT NULL REFERENCES data.stores (id) ON DELETE CASCADE,
  predicted_date     date NOT NULL,
  -- The probability that the store's next order falls within ±7 days of predicted_date,
  -- from the logistic model in prediction_calibrations (fitted on past cutoffs).
  confidence         numeric(4, 3) NOT NULL CHECK (confidence BETWEEN 0 AND 1),
  priority           text NOT NULL DEFAULT 'medium' CHECK (priority IN ('high', 'medium', 'low')),
  total_amount       numeric(14, 2) NOT NULL DEFAULT 0,
  status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'approved', 'converted', 'dismissed')),
  as_of              date NOT NULL,
  justification      jsonb NOT NULL DEFAULT '{}',
  justification_text text,
  model              text,
  order_id           bigint REFERENCES data.orders (id) ON DELETE SET NULL,
  decided_by         uuid REFERENCES data.users (id) ON DELETE SET NULL,
  decided_at         timestamptz,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
-- One pending prediction per store; decided ones are history. Recomputing upserts on it
-- (ON CONFLICT (store_id) WHERE status = 'pending'), so a pending prediction keeps its id.
CREATE UNIQUE INDEX predicted_orders_one_pending_idx ON data.predicted_orders (store_id) WHERE status = 'pending';
CREATE INDEX predicted_orders_store_id_idx ON data.predicted_orders (store_id);
CREATE INDEX predicted_orders_order_id_idx ON data.predicted_orders (order_id);
CREATE INDEX predicted_orders_decided_by_idx ON data.predicted_orders (decided_by);

CREATE TABLE data.predicted_order_items (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  predicted_order_id uuid NOT NULL REFERENCES data.predicted_orders (id) ON DELETE CASCADE,
  product_id         uuid NOT NULL REFERENCES data.products (id) ON DELETE CASCADE,
  quantity           numeric(15, 4) NOT NULL CHECK (quantity > 0),
  unit_price         numeric(14, 2) NOT NULL CHECK (unit_price >= 0),
  line_amount        numeric(16, 2) NOT NULL,
  -- Share of the store's recent orders that contained the product: the basket's evidence.
  frequency          numeric(4, 3),
  UNIQUE (predicted_order_id, product_id)
);
CREATE INDEX predicted_order_items_product_id_idx ON data.predicted_order_items (product_id);

CREATE TABLE data.customer_segments (
  store_id        text PRIMARY KEY REFERENCES data.stores (id) ON DELETE CASCADE,
  recency_days    integer,
  recency_score   smallint CHECK (recency_score BETWEEN 1 AND 5),
  frequency_score smallint CHECK (frequency_score BETWEEN 1 AND 5),
  monetary_score  smallint CHECK (monetary_score BETWEEN 1 AND 5),
  segment_name    text,
  segment_value   text CHECK (segment_value IN ('high', 'medium', 'low')),
  -- Order days (several invoices of one day are one order).
  order_count     integer,
  -- Orders per 30 days over the store's tenure (first order to as_of, at least 30 days).
  order_frequency numeric(8, 3),
  typical_gap_days numeric(8, 2),
  -- Net of returns, without void invoices.
  total_revenue   numeric(16, 2),
  -- Probability that the store has stopped ordering, judged against its own gaps.
  churn_risk      numeric(4, 3) CHECK (churn_risk BETWEEN 0 AND 1),
  last_order_date date,
  as_of           date,
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE data.upselling_recommendations (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  store_id            text NOT NULL REFERENCES data.stores (id) ON DELETE CASCADE,
  product_id          uuid NOT NULL REFERENCES data.products (id) ON DELETE CASCADE,
  score               numeric(10, 4),
  support             numeric(8, 5),
  confidence          numeric(6, 4),
  lift                numeric(10, 4),
  similar_store_share numeric(6, 4),
  expected_gain       numeric(14, 2),
  reason              text,
  evidence            jsonb NOT NULL DEFAULT '{}',
  as_of               date,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  UNIQUE (store_id, product_id)
);
CREATE INDEX upselling_recommendations_product_id_idx ON data.upselling_recommendations (product_id);

-- Association rules "orders with the antecedent also contain the consequent", mined from
-- the recent orders of every store (functions/upselling.sql). Global, not per store.
CREATE TABLE data.product_associations (
  antecedent_id uuid NOT NULL REFERENCES data.products (id) ON DELETE CASCADE,
  consequent_id uuid NOT NULL REFERENCES data.products (id) ON DELETE CASCADE,
  orders_both   integer NOT NULL,
  support       numeric(8, 5) NOT NULL,
  confidence    numeric(6, 4) NOT NULL,
  lift          numeric(10, 4) NOT NULL,
  -- The consequent's median line amount in those orders: what adding it is typically worth.
  typical_amount numeric(14, 2),
  as_of         date NOT NULL,
  PRIMARY KEY (antecedent_id, consequent_id)
);
CREATE INDEX product_associations_consequent_id_idx ON data.product_associations (consequent_id);

-- The confidence model: a logistic regression fitted on past cutoffs (each cutoff's
-- predictions against what happened next), using only invoices dated on or before
-- fitted_as_of. Predictions use the newest fit whose fitted_as_of is not after their as_of.
CREATE TABLE data.prediction_calibrations (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  fitted_as_of     date NOT NULL,
  training_cutoffs date[] NOT NULL,
  samples          integer NOT NULL,
  hits             integer NOT NULL,
  features         text[] NOT NULL,
  coefficients     float8[] NOT NULL,
  -- Second stage (a quadratic Platt scaling of the first stage's linear predictor z):
  -- confidence = 1 / (1 + exp(-(r1 + r2 z + r3 z^2))). It straightens the S-curve misfit the
  -- plain logistic showed at high confidences (CDNOW: 0.64 given, 0.78 observed in-sample).
  recalibration    float8[],
  -- In-sample reliability: per confidence decile, n, mean confidence and observed hit rate.
  bins             jsonb NOT NULL DEFAULT '[]',
  log_loss         float8,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX prediction_calibrations_fitted_as_of_idx ON data.prediction_calibrations (fitted_as_of, id);

-- The track record: every backtest run, the dashboard shows the latest.
CREATE TABLE data.backtest_runs (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  cutoff      date NOT NULL,
  horizon     integer NOT NULL,
  metrics     jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX backtest_runs_created_at_idx ON data.backtest_runs (created_at);

-- ---- settings ----
-- Per-user dashboard personalisation.
CREATE TABLE data.dashboard_settings (
  user_id            uuid PRIMARY KEY REFERENCES data.users (id) ON DELETE CASCADE,
  theme              text NOT NULL DEFAULT 'light' CHECK (theme IN ('light', 'dark', 'system')),
  layout_config      jsonb NOT NULL DEFAULT '{}',
  widget_preferences jsonb NOT NULL DEFAULT '{}',
  default_date_range text NOT NULL DEFAULT '30d' CHECK (default_date_range IN ('7d', '30d', '90d', '180d', 'all')),
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);

-- System settings an admin may change (for example the rule that tells non-product lines).
CREATE TABLE data.settings (
  key         text PRIMARY KEY,
  value       jsonb NOT NULL,
  description text,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- ---- decisions ----
-- Who approved, dismissed or converted a prediction, when and why: one row per status change
-- made through the API (written by a trigger in functions/orders.sql). predicted_orders keeps
-- only the latest decision; this keeps the history and the reason given for a dismissal.
CREATE TABLE data.prediction_decisions (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  prediction_id uuid NOT NULL REFERENCES data.predicted_orders (id) ON DELETE CASCADE,
  from_status   text NOT NULL,
  to_status     text NOT NULL,
  reason        text,
  decided_by    uuid REFERENCES data.users (id) ON DELETE SET NULL,
  decided_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX prediction_decisions_prediction_id_idx ON data.prediction_decisions (prediction_id, decided_at);
CREATE INDEX prediction_decisions_decided_by_idx ON data.prediction_decisions (decided_by);
COMMENT ON TABLE data.prediction_decisions IS 'History of approvals, dismissals and conversions of predictions';
