"""Demo data for `mangalm up --demo`: a small sales history and one user per role."""
from __future__ import annotations

from .config import Settings
from .db import connect
from .users import add_user

DEMO_PASSWORD = "mangalm-demo"
DEMO_USERS = (
    ("manager@demo.mangalm", "manager", "Demo Manager", None),
    ("admin@demo.mangalm", "admin", "Demo Admin", None),
    ("rep@demo.mangalm", "sales_rep", "Demo Rep", "Asha Verma"),
)


def create_demo_users(settings: Settings) -> list[tuple[str, str]]:
    with connect(settings) as conn:
        for email, role, name, sales_person in DEMO_USERS:
            add_user(conn, email, DEMO_PASSWORD, role, name, sales_person, replace=True)
    return [(email, role) for email, role, _, _ in DEMO_USERS]


def load_demo_data(settings: Settings) -> None:
    """A handful of stores and products, until the ingest pipeline loads the full demo set."""
    with connect(settings) as conn:
        conn.execute("""
          INSERT INTO data.stores (id, name, city, state, country, sales_person, source)
          VALUES ('CUST-00001', 'Shree Ganesh Kirana', 'Pune', 'Maharashtra', 'India', 'Asha Verma', 'import'),
                 ('CUST-00002', 'Annapurna Stores', 'Nagpur', 'Maharashtra', 'India', 'Asha Verma', 'import'),
                 ('CUST-00003', 'Lakshmi Provisions', 'Indore', 'Madhya Pradesh', 'India', 'Ravi Kumar', 'import')
          ON CONFLICT (id) DO NOTHING""")
        conn.execute("""
          INSERT INTO data.products (product_key, external_id, sku, name, category, brand, unit_price, mrp, source)
          VALUES ('PROD-0001', 'PROD-0001', 'SKU-0001', 'Whole Wheat Atta 5kg', 'Staples', 'Annapurna', 245, 270, 'import'),
                 ('PROD-0002', 'PROD-0002', 'SKU-0002', 'Toor Dal 1kg', 'Pulses', 'Tata Sampann', 148, 165, 'import')
          ON CONFLICT (product_key) DO NOTHING""")


def load(settings: Settings) -> list[tuple[str, str]]:
    load_demo_data(settings)
    return create_demo_users(settings)
