"""Set-based keys for the analytics' derived rows: the foreign keys of data.predicted_order_items
(predicted_order_id -> predicted_orders, product_id -> products), data.upselling_recommendations
(store_id -> stores, product_id -> products) and data.product_associations (antecedent_id,
consequent_id -> products), all ON DELETE CASCADE, give way to statement-level triggers that
enforce the same rules once per statement (functions/set_based_keys.sql, built by the same
migrate run, as every stateless file).

Every refresh rewrites these rows by the thousand (the real export's predictions: ~59,000 ranked
lines), and a foreign key checks each with a query and a row lock: a fixed cost of every upload's
analytics. The indexes the rules need stay (unique (predicted_order_id, product_id),
predicted_order_items_product_id_idx, unique (store_id, product_id),
upselling_recommendations_product_id_idx, product_associations' primary key and
product_associations_consequent_id_idx)."""
from yoyo import step

__depends__ = {"0007_ingest_rejects_key"}

KEYS = [
    ("predicted_order_items", "predicted_order_id", "predicted_orders"),
    ("predicted_order_items", "product_id", "products"),
    ("upselling_recommendations", "store_id", "stores"),
    ("upselling_recommendations", "product_id", "products"),
    ("product_associations", "antecedent_id", "products"),
    ("product_associations", "consequent_id", "products"),
]

steps = [
    step(f"ALTER TABLE data.{child} DROP CONSTRAINT {child}_{col}_fkey",
         f"ALTER TABLE data.{child} ADD CONSTRAINT {child}_{col}_fkey"
         f" FOREIGN KEY ({col}) REFERENCES data.{parent} (id) ON DELETE CASCADE")
    for child, col, parent in KEYS
]
