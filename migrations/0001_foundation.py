"""The foundation schema as first released: schemas, users, stores, products, uploads, orders,
invoices, analytics, settings and decision tables (migrations/frozen/0001_foundation.sql)."""
from yoyo import step

from gateway.migrate import frozen_sql

steps = [step(frozen_sql("0001_foundation.sql"))]
