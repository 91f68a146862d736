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

-- What counts as an order of a store, named once: a sale of a positive total. A credit note
-- (returns only) or an invoice that nets to zero is a sale but no order; the days of a store's
-- purchases are its order days, which the date rule, both fits, the baskets' recent orders,
-- the segments and the backtest count. Inlined by the planner like app.sales.
CREATE VIEW app.purchases WITH (security_invoker = true) AS
  SELECT s.id, s.store_id, s.order_date, s.total_amount, s.invoice_number, s.invoice_status
  FROM app.sales s
  WHERE s.total_amount > 0;
COMMENT ON VIEW app.purchases IS 'Sales of a positive total: a store''s orders, whose days are its order days';

-- What counts as a basket line, named once: a product bought — a line of a catalogue product
-- (not a charge, a fee or a discount: is_product), not a return, with a positive quantity.
-- Baskets, their fit, upselling's and the rules' transactions and the backtest read invoice
-- lines through this view (joined to app.sales for the sale itself); inlined by the planner
-- like app.sales, with the same security_invoker and the same few columns.
CREATE VIEW app.basket_lines WITH (security_invoker = true) AS
  SELECT i.order_id, i.line_no, i.product_id, i.quantity, i.line_total
  FROM data.invoice_items i
  WHERE i.product_id IS NOT NULL AND i.is_product AND NOT i.is_return AND i.quantity > 0;
COMMENT ON VIEW app.basket_lines IS 'Invoice lines of products bought (no returns, no charges): what baskets count';
