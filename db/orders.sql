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
