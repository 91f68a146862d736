"""The foundation schema: schemas, users, stores, products, uploads, orders, invoices,
analytics and settings tables (the files in db/, applied in this order)."""
from yoyo import step

from gateway.migrate import db_sql

steps = [step(db_sql(name)) for name in (
    "schemas.sql", "users.sql", "stores.sql", "products.sql", "uploads.sql",
    "orders.sql", "invoices.sql", "analytics.sql", "settings.sql",
    "decisions.sql",  # the API's prediction decision history (issue 5)
)]
