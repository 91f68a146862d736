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
