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
