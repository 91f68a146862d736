"""Set-based keys for invoice lines: the two foreign keys of data.invoice_items (order_id ->
orders, ON DELETE CASCADE; product_id -> products) give way to statement-level triggers that
enforce the same rules once per statement instead of once per row (functions/set_based_keys.sql,
which the migrate that applies this builds in the same run, as every stateless file).

A foreign key costs a query and a row lock per inserted line: two thirds of the invoice_items
insert of a large upload. The indexes the rules need stay: the unique (order_id, line_no) and
invoice_items_product_id_idx serve the checks of the orders' and the products' side."""
from yoyo import step

__depends__ = {"0005_user_rules"}

steps = [
    step("ALTER TABLE data.invoice_items DROP CONSTRAINT invoice_items_order_id_fkey",
         "ALTER TABLE data.invoice_items ADD CONSTRAINT invoice_items_order_id_fkey"
         " FOREIGN KEY (order_id) REFERENCES data.orders (id) ON DELETE CASCADE"),
    step("ALTER TABLE data.invoice_items DROP CONSTRAINT invoice_items_product_id_fkey",
         "ALTER TABLE data.invoice_items ADD CONSTRAINT invoice_items_product_id_fkey"
         " FOREIGN KEY (product_id) REFERENCES data.products (id)"),
    step("COMMENT ON COLUMN data.invoice_items.order_id IS"
         " 'The invoice (data.orders id); checked per statement by a trigger, and the lines go with their order'",
         "COMMENT ON COLUMN data.invoice_items.order_id IS NULL"),
    step("COMMENT ON COLUMN data.invoice_items.product_id IS"
         " 'The product (data.products id), NULL for a line that is not a product; checked per statement by a trigger'",
         "COMMENT ON COLUMN data.invoice_items.product_id IS NULL"),
]
