"""Store preferences that act: a decision on a prediction says whether a person made it or the
store's auto-approve preference did (functions/store_preferences.sql). And association rules
say which invoices they were mined from, so a refresh of every store re-mines them only when
invoices came since (functions/refresh.sql)."""
from yoyo import step

__depends__ = {"0002_ranked_baskets"}

steps = [
    step("ALTER TABLE data.prediction_decisions ADD COLUMN automatic boolean NOT NULL DEFAULT false",
         "ALTER TABLE data.prediction_decisions DROP COLUMN automatic"),
    step("COMMENT ON COLUMN data.prediction_decisions.automatic IS "
         "'True when the store''s auto_approve_predictions preference made the decision, not a person'",
         "COMMENT ON COLUMN data.prediction_decisions.automatic IS NULL"),
    step("ALTER TABLE data.product_associations ADD COLUMN mined_through_order bigint",
         "ALTER TABLE data.product_associations DROP COLUMN mined_through_order"),
    step("COMMENT ON COLUMN data.product_associations.mined_through_order IS "
         "'The newest invoice order (data.orders id) when the rules were mined'",
         "COMMENT ON COLUMN data.product_associations.mined_through_order IS NULL"),
]
