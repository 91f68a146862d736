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
