"""Set-based key for invoices' stores: the foreign key of data.orders (store_id -> stores, ON
DELETE CASCADE) gives way to statement-level triggers that enforce the same rule once per
statement (functions/set_based_keys.sql, built by the same migrate run, as every stateless file).

An upload writes all its orders in one statement, and the foreign key checked each of them with
a query and a row lock of its store: ~8 % of the demo file's job without its analytics refresh
(0.30 -> 0.28 s of CPU, the job with and without the constraint, five alternating runs), ~10 us
an order on the bigger files. The index the rule needs stays: orders_store_id_date_idx
(store_id, order_date) serves the stores' side."""
from yoyo import step

__depends__ = {"0008_derived_keys"}

steps = [
    step("ALTER TABLE data.orders DROP CONSTRAINT orders_store_id_fkey",
         "ALTER TABLE data.orders ADD CONSTRAINT orders_store_id_fkey"
         " FOREIGN KEY (store_id) REFERENCES data.stores (id) ON DELETE CASCADE"),
]
