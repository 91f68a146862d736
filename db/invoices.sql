-- mangalam_invoices keeps every loaded export line, typed, exactly as given (unknown columns
-- in `extra`). Natural key: invoice number + line number within the invoice, so loading the
-- same invoice again replaces its lines and loading the same file twice changes nothing.
CREATE TABLE data.mangalam_invoices (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  invoice_number     text NOT NULL,
  line_no            integer NOT NULL,
  upload_job_id      bigint REFERENCES data.upload_jobs (id) ON DELETE SET NULL,
  source_line        integer,
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
  UNIQUE (invoice_number, line_no)
);
CREATE INDEX mangalam_invoices_upload_job_id_idx ON data.mangalam_invoices (upload_job_id);
CREATE INDEX mangalam_invoices_customer_id_idx ON data.mangalam_invoices (customer_id);
COMMENT ON TABLE data.mangalam_invoices IS 'Every loaded invoice-export line, typed, as given';

-- The normalised lines of invoice-sourced orders.
CREATE TABLE data.invoice_items (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
