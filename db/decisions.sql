-- Who approved, dismissed or converted a prediction, when and why: one row per status change
-- made through the API (written by a trigger in functions/orders.sql). predicted_orders keeps
-- only the latest decision; this keeps the history and the reason given for a dismissal.
CREATE TABLE data.prediction_decisions (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  prediction_id uuid NOT NULL REFERENCES data.predicted_orders (id) ON DELETE CASCADE,
  from_status   text NOT NULL,
  to_status     text NOT NULL,
  reason        text,
  decided_by    uuid REFERENCES data.users (id) ON DELETE SET NULL,
  decided_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX prediction_decisions_prediction_id_idx ON data.prediction_decisions (prediction_id, decided_at);
CREATE INDEX prediction_decisions_decided_by_idx ON data.prediction_decisions (decided_by);
COMMENT ON TABLE data.prediction_decisions IS 'History of approvals, dismissals and conversions of predictions';
