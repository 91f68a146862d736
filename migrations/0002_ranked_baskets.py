"""Ranked baskets: every candidate product with its rank and probability.

A pending prediction keeps the ranking behind its basket (functions/predictions.sql): each
candidate's rank (1 = most likely), its calibrated probability of being in the next order, and
whether it is one of the predicted order's lines (in_basket; those come first in the ranking).
Rows written before this migration were all basket lines, so in_basket defaults to true.
The model fits (data.prediction_calibrations) note what they saw of the invoices, so a fit of
the same as_of from the same orders is reused rather than made again.
"""
from yoyo import step

__depends__ = {"0001_foundation"}

steps = [
    step("ALTER TABLE data.predicted_order_items"
         " ADD COLUMN item_rank integer CHECK (item_rank >= 1),"
         " ADD COLUMN item_probability numeric(5, 4) CHECK (item_probability BETWEEN 0 AND 1),"
         " ADD COLUMN in_basket boolean NOT NULL DEFAULT true,"
         " ADD CONSTRAINT predicted_order_items_rank_key UNIQUE (predicted_order_id, item_rank)",
         "ALTER TABLE data.predicted_order_items DROP CONSTRAINT predicted_order_items_rank_key,"
         " DROP COLUMN in_basket, DROP COLUMN item_probability, DROP COLUMN item_rank"),
    step("ALTER TABLE data.prediction_calibrations ADD COLUMN orders_fingerprint text",
         "ALTER TABLE data.prediction_calibrations DROP COLUMN orders_fingerprint"),
    step("COMMENT ON COLUMN data.prediction_calibrations.orders_fingerprint IS"
         " 'What the fit saw of the invoices up to fitted_as_of (app.orders_fingerprint): a fit of the same"
         " as_of from the same orders is reused'",
         "COMMENT ON COLUMN data.prediction_calibrations.orders_fingerprint IS NULL"),
    step("COMMENT ON COLUMN data.predicted_order_items.item_rank IS"
         " 'Rank of the product among the store''s candidates for its next order (1 = most likely)'",
         "COMMENT ON COLUMN data.predicted_order_items.item_rank IS NULL"),
    step("COMMENT ON COLUMN data.predicted_order_items.item_probability IS"
         " 'Calibrated probability that the product is in the store''s next order'",
         "COMMENT ON COLUMN data.predicted_order_items.item_probability IS NULL"),
    step("COMMENT ON COLUMN data.predicted_order_items.in_basket IS"
         " 'True for the predicted order''s lines (a prefix of the ranking); false for the further candidates'",
         "COMMENT ON COLUMN data.predicted_order_items.in_basket IS NULL"),
]
