-- What counts as a sale, named once: an invoice of the export that is not void. Orders entered
-- in the application (source 'manual', 'prediction') are plans until the export invoices them,
-- and a void invoice never happened. Every figure of the analytics and the dashboard reads
-- sales through this view; the planner inlines it, so it costs nothing.
-- security_invoker: read as the caller, so row-level security narrows a rep to their stores
-- exactly as on data.orders. Only the columns the figures read: a migration may still change
-- the others of data.orders without dropping this view first.
CREATE VIEW app.sales WITH (security_invoker = true) AS
  SELECT o.id, o.store_id, o.order_date, o.total_amount, o.invoice_number, o.invoice_status
  FROM data.orders o
  WHERE o.source = 'invoice' AND o.status <> 'void';
COMMENT ON VIEW app.sales IS 'Invoices that are not void: the sales every figure counts';
