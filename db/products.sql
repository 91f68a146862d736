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
