-- The current schema of the data-holding schemas, dumped from a freshly migrated
-- database by `make schema`. Generated: change the schema with a new migration in
-- migrations/, then run `make schema`; tests/test_migrations.py checks it is current.

--
-- PostgreSQL database dump
--



SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: data; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA data;


--
-- Name: SCHEMA data; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON SCHEMA data IS 'Private tables of Mangalm; clients read them through the api schema';


--
-- Name: staging; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA staging;


--
-- Name: SCHEMA staging; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON SCHEMA staging IS 'Per-upload-job staging tables (unlogged, dropped when the job ends)';


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: predicted_orders; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.predicted_orders (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    store_id text NOT NULL,
    predicted_date date NOT NULL,
    confidence numeric(4,3) NOT NULL,
    priority text DEFAULT 'medium'::text NOT NULL,
    total_amount numeric(14,2) DEFAULT 0 NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    as_of date NOT NULL,
    justification jsonb DEFAULT '{}'::jsonb NOT NULL,
    justification_text text,
    model text,
    order_id bigint,
    decided_by uuid,
    decided_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT predicted_orders_confidence_check CHECK (((confidence >= (0)::numeric) AND (confidence <= (1)::numeric))),
    CONSTRAINT predicted_orders_priority_check CHECK ((priority = ANY (ARRAY['high'::text, 'medium'::text, 'low'::text]))),
    CONSTRAINT predicted_orders_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'approved'::text, 'converted'::text, 'dismissed'::text])))
);


--
-- Name: is_email(text); Type: FUNCTION; Schema: data; Owner: -
--

CREATE FUNCTION data.is_email(p_value text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $_$ SELECT p_value ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' $_$;


--
-- Name: FUNCTION is_email(p_value text); Type: COMMENT; Schema: data; Owner: -
--

COMMENT ON FUNCTION data.is_email(p_value text) IS 'True when the text is an email address (one @, no spaces, a dot in the domain): the one email rule';


--
-- Name: users; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.users (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    email text NOT NULL,
    password_hash text NOT NULL,
    role text NOT NULL,
    full_name text,
    sales_person text,
    is_active boolean DEFAULT true NOT NULL,
    last_login_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    tokens_valid_after timestamp with time zone,
    CONSTRAINT users_email_check CHECK (data.is_email(email)),
    CONSTRAINT users_role_check CHECK ((role = ANY (ARRAY['sales_rep'::text, 'manager'::text, 'admin'::text])))
);


--
-- Name: TABLE users; Type: COMMENT; Schema: data; Owner: -
--

COMMENT ON TABLE data.users IS 'Dashboard and API users; role decides what PostgREST lets them do';


--
-- Name: COLUMN users.tokens_valid_after; Type: COMMENT; Schema: data; Owner: -
--

COMMENT ON COLUMN data.users.tokens_valid_after IS 'Tokens issued (iat) before this second are refused; set when the password, role or is_active changes';


--
-- Name: orders; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.orders (
    id bigint NOT NULL,
    store_id text NOT NULL,
    source text DEFAULT 'manual'::text NOT NULL,
    invoice_number text,
    status text DEFAULT 'draft'::text NOT NULL,
    invoice_status text,
    order_date date DEFAULT CURRENT_DATE NOT NULL,
    due_date date,
    subtotal numeric(14,2),
    tax_amount numeric(14,2),
    total_amount numeric(14,2) DEFAULT 0 NOT NULL,
    item_count integer DEFAULT 0 NOT NULL,
    currency_code text,
    sales_person text,
    created_by uuid,
    notes text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT orders_check CHECK (((source = 'invoice'::text) = (invoice_number IS NOT NULL))),
    CONSTRAINT orders_source_check CHECK ((source = ANY (ARRAY['invoice'::text, 'manual'::text, 'prediction'::text]))),
    CONSTRAINT orders_status_check CHECK ((status = ANY (ARRAY['draft'::text, 'submitted'::text, 'confirmed'::text, 'invoiced'::text, 'void'::text, 'cancelled'::text])))
);


--
-- Name: invoice_items; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.invoice_items (
    id bigint NOT NULL,
    order_id bigint NOT NULL,
    line_no integer NOT NULL,
    product_id uuid,
    item_name text,
    quantity numeric(15,4) NOT NULL,
    unit_price numeric(15,4),
    discount_amount numeric(15,4),
    tax_amount numeric(15,4),
    line_total numeric(16,2) NOT NULL,
    is_return boolean DEFAULT false NOT NULL,
    is_product boolean DEFAULT true NOT NULL
);


--
-- Name: COLUMN invoice_items.order_id; Type: COMMENT; Schema: data; Owner: -
--

COMMENT ON COLUMN data.invoice_items.order_id IS 'The invoice (data.orders id); checked per statement by a trigger, and the lines go with their order';


--
-- Name: COLUMN invoice_items.product_id; Type: COMMENT; Schema: data; Owner: -
--

COMMENT ON COLUMN data.invoice_items.product_id IS 'The product (data.products id), NULL for a line that is not a product; checked per statement by a trigger';


--
-- Name: products; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.products (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    product_key text NOT NULL,
    external_id text,
    sku text,
    name text NOT NULL,
    description text,
    category text,
    brand text,
    usage_unit text,
    unit_price numeric(14,2),
    mrp numeric(14,2),
    hsn_sac text,
    tax_rate numeric(6,3),
    is_active boolean DEFAULT true NOT NULL,
    source text DEFAULT 'manual'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT products_mrp_check CHECK ((mrp >= (0)::numeric)),
    CONSTRAINT products_name_check CHECK ((length(btrim(name)) > 0)),
    CONSTRAINT products_source_check CHECK ((source = ANY (ARRAY['import'::text, 'manual'::text]))),
    CONSTRAINT products_tax_rate_check CHECK (((tax_rate >= (0)::numeric) AND (tax_rate <= (100)::numeric))),
    CONSTRAINT products_unit_price_check CHECK ((unit_price >= (0)::numeric))
);


--
-- Name: TABLE products; Type: COMMENT; Schema: data; Owner: -
--

COMMENT ON TABLE data.products IS 'Products the distributor sells';


--
-- Name: stores; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.stores (
    id text NOT NULL,
    name text NOT NULL,
    address text,
    city text,
    state text,
    country text,
    postal_code text,
    phone text,
    email text,
    sales_person text,
    currency_code text,
    payment_terms text,
    first_order_date date,
    last_order_date date,
    is_active boolean DEFAULT true NOT NULL,
    source text DEFAULT 'manual'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT stores_id_check CHECK (((length(id) >= 1) AND (length(id) <= 255))),
    CONSTRAINT stores_name_check CHECK ((length(btrim(name)) > 0)),
    CONSTRAINT stores_source_check CHECK ((source = ANY (ARRAY['import'::text, 'manual'::text])))
);


--
-- Name: TABLE stores; Type: COMMENT; Schema: data; Owner: -
--

COMMENT ON TABLE data.stores IS 'Retail stores (customers of the distributor)';


--
-- Name: predicted_order_items; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.predicted_order_items (
    id bigint NOT NULL,
    predicted_order_id uuid NOT NULL,
    product_id uuid NOT NULL,
    quantity numeric(15,4) NOT NULL,
    unit_price numeric(14,2) NOT NULL,
    line_amount numeric(16,2) NOT NULL,
    frequency numeric(4,3),
    item_rank integer,
    item_probability numeric(5,4),
    in_basket boolean DEFAULT true NOT NULL,
    CONSTRAINT predicted_order_items_item_probability_check CHECK (((item_probability >= (0)::numeric) AND (item_probability <= (1)::numeric))),
    CONSTRAINT predicted_order_items_item_rank_check CHECK ((item_rank >= 1)),
    CONSTRAINT predicted_order_items_quantity_check CHECK ((quantity > (0)::numeric)),
    CONSTRAINT predicted_order_items_unit_price_check CHECK ((unit_price >= (0)::numeric))
);


--
-- Name: COLUMN predicted_order_items.item_rank; Type: COMMENT; Schema: data; Owner: -
--

COMMENT ON COLUMN data.predicted_order_items.item_rank IS 'Rank of the product among the store''s candidates for its next order (1 = most likely)';


--
-- Name: COLUMN predicted_order_items.item_probability; Type: COMMENT; Schema: data; Owner: -
--

COMMENT ON COLUMN data.predicted_order_items.item_probability IS 'Calibrated probability that the product is in the store''s next order';


--
-- Name: COLUMN predicted_order_items.in_basket; Type: COMMENT; Schema: data; Owner: -
--

COMMENT ON COLUMN data.predicted_order_items.in_basket IS 'True for the predicted order''s lines (a prefix of the ranking); false for the further candidates';


--
-- Name: upselling_recommendations; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.upselling_recommendations (
    id bigint NOT NULL,
    store_id text NOT NULL,
    product_id uuid NOT NULL,
    score numeric(10,4),
    support numeric(8,5),
    confidence numeric(6,4),
    lift numeric(10,4),
    similar_store_share numeric(6,4),
    expected_gain numeric(14,2),
    reason text,
    evidence jsonb DEFAULT '{}'::jsonb NOT NULL,
    as_of date,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: upload_jobs; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.upload_jobs (
    id bigint NOT NULL,
    status text DEFAULT 'queued'::text NOT NULL,
    filename text,
    options jsonb DEFAULT '{}'::jsonb NOT NULL,
    dry_run boolean DEFAULT false NOT NULL,
    source text DEFAULT 'cli'::text NOT NULL,
    created_by uuid,
    columns jsonb DEFAULT '{}'::jsonb NOT NULL,
    staging_table text,
    bytes bigint,
    lines integer,
    loaded integer,
    rejected integer,
    new_stores integer,
    new_products integer,
    skipped_lines integer DEFAULT 0 NOT NULL,
    sha256 text,
    attempts integer DEFAULT 0 NOT NULL,
    max_attempts integer DEFAULT 3 NOT NULL,
    run_after timestamp with time zone DEFAULT now() NOT NULL,
    last_error text,
    locked_by text,
    message text,
    timings jsonb DEFAULT '{}'::jsonb NOT NULL,
    received_at timestamp with time zone,
    started_at timestamp with time zone,
    finished_at timestamp with time zone,
    processing_ms integer,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT upload_jobs_status_check CHECK ((status = ANY (ARRAY['receiving'::text, 'queued'::text, 'running'::text, 'succeeded'::text, 'failed'::text])))
);


--
-- Name: upload_rejects; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.upload_rejects (
    id bigint NOT NULL,
    job_id bigint NOT NULL,
    line_no integer NOT NULL,
    raw_line text,
    reason text NOT NULL,
    column_name text
);


--
-- Name: COLUMN upload_rejects.job_id; Type: COMMENT; Schema: data; Owner: -
--

COMMENT ON COLUMN data.upload_rejects.job_id IS 'The upload job (data.upload_jobs id); checked per statement by a trigger, and the rejects go with their job';


--
-- Name: backtest_runs; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.backtest_runs (
    id bigint NOT NULL,
    cutoff date NOT NULL,
    horizon integer NOT NULL,
    metrics jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: customer_segments; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.customer_segments (
    store_id text NOT NULL,
    recency_days integer,
    recency_score smallint,
    frequency_score smallint,
    monetary_score smallint,
    segment_name text,
    segment_value text,
    order_count integer,
    order_frequency numeric(8,3),
    typical_gap_days numeric(8,2),
    total_revenue numeric(16,2),
    churn_risk numeric(4,3),
    last_order_date date,
    as_of date,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT customer_segments_churn_risk_check CHECK (((churn_risk >= (0)::numeric) AND (churn_risk <= (1)::numeric))),
    CONSTRAINT customer_segments_frequency_score_check CHECK (((frequency_score >= 1) AND (frequency_score <= 5))),
    CONSTRAINT customer_segments_monetary_score_check CHECK (((monetary_score >= 1) AND (monetary_score <= 5))),
    CONSTRAINT customer_segments_recency_score_check CHECK (((recency_score >= 1) AND (recency_score <= 5))),
    CONSTRAINT customer_segments_segment_value_check CHECK ((segment_value = ANY (ARRAY['high'::text, 'medium'::text, 'low'::text])))
);


--
-- Name: dashboard_settings; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.dashboard_settings (
    user_id uuid NOT NULL,
    theme text DEFAULT 'light'::text NOT NULL,
    layout_config jsonb DEFAULT '{}'::jsonb NOT NULL,
    widget_preferences jsonb DEFAULT '{}'::jsonb NOT NULL,
    default_date_range text DEFAULT '30d'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT dashboard_settings_default_date_range_check CHECK ((default_date_range = ANY (ARRAY['7d'::text, '30d'::text, '90d'::text, '180d'::text, 'all'::text]))),
    CONSTRAINT dashboard_settings_theme_check CHECK ((theme = ANY (ARRAY['light'::text, 'dark'::text, 'system'::text])))
);


--
-- Name: order_items; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.order_items (
    id bigint NOT NULL,
    order_id bigint NOT NULL,
    product_id uuid NOT NULL,
    quantity numeric(15,4) NOT NULL,
    unit_price numeric(14,2) NOT NULL,
    line_total numeric(16,2) GENERATED ALWAYS AS (round((quantity * unit_price), 2)) STORED,
    source text DEFAULT 'manual'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT order_items_quantity_check CHECK ((quantity > (0)::numeric)),
    CONSTRAINT order_items_source_check CHECK ((source = ANY (ARRAY['manual'::text, 'prediction'::text, 'upsell'::text]))),
    CONSTRAINT order_items_unit_price_check CHECK ((unit_price >= (0)::numeric))
);


--
-- Name: prediction_calibrations; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.prediction_calibrations (
    id bigint NOT NULL,
    fitted_as_of date NOT NULL,
    training_cutoffs date[] NOT NULL,
    samples integer NOT NULL,
    hits integer NOT NULL,
    features text[] NOT NULL,
    coefficients double precision[] NOT NULL,
    recalibration double precision[],
    bins jsonb DEFAULT '[]'::jsonb NOT NULL,
    log_loss double precision,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    orders_fingerprint text
);


--
-- Name: COLUMN prediction_calibrations.orders_fingerprint; Type: COMMENT; Schema: data; Owner: -
--

COMMENT ON COLUMN data.prediction_calibrations.orders_fingerprint IS 'What the fit saw of the invoices up to fitted_as_of (app.orders_fingerprint): a fit of the same as_of from the same orders is reused';


--
-- Name: prediction_decisions; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.prediction_decisions (
    id bigint NOT NULL,
    prediction_id uuid NOT NULL,
    from_status text NOT NULL,
    to_status text NOT NULL,
    reason text,
    decided_by uuid,
    decided_at timestamp with time zone DEFAULT now() NOT NULL,
    automatic boolean DEFAULT false NOT NULL
);


--
-- Name: TABLE prediction_decisions; Type: COMMENT; Schema: data; Owner: -
--

COMMENT ON TABLE data.prediction_decisions IS 'History of approvals, dismissals and conversions of predictions';


--
-- Name: COLUMN prediction_decisions.automatic; Type: COMMENT; Schema: data; Owner: -
--

COMMENT ON COLUMN data.prediction_decisions.automatic IS 'True when the store''s auto_approve_predictions preference made the decision, not a person';


--
-- Name: product_associations; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.product_associations (
    antecedent_id uuid NOT NULL,
    consequent_id uuid NOT NULL,
    orders_both integer NOT NULL,
    support numeric(8,5) NOT NULL,
    confidence numeric(6,4) NOT NULL,
    lift numeric(10,4) NOT NULL,
    typical_amount numeric(14,2),
    as_of date NOT NULL,
    mined_through_order bigint
);


--
-- Name: COLUMN product_associations.mined_through_order; Type: COMMENT; Schema: data; Owner: -
--

COMMENT ON COLUMN data.product_associations.mined_through_order IS 'The newest invoice order (data.orders id) when the rules were mined';


--
-- Name: settings; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.settings (
    key text NOT NULL,
    value jsonb NOT NULL,
    description text,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: store_assignments; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.store_assignments (
    store_id text NOT NULL,
    user_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: store_preferences; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.store_preferences (
    store_id text NOT NULL,
    call_frequency text,
    payment_terms integer,
    credit_limit numeric(14,2),
    auto_approve_predictions boolean DEFAULT false NOT NULL,
    preferred_delivery_day text,
    notes text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT store_preferences_call_frequency_check CHECK ((call_frequency = ANY (ARRAY['daily'::text, 'weekly'::text, 'fortnightly'::text, 'monthly'::text]))),
    CONSTRAINT store_preferences_credit_limit_check CHECK ((credit_limit >= (0)::numeric)),
    CONSTRAINT store_preferences_payment_terms_check CHECK (((payment_terms >= 0) AND (payment_terms <= 365))),
    CONSTRAINT store_preferences_preferred_delivery_day_check CHECK ((preferred_delivery_day = ANY (ARRAY['monday'::text, 'tuesday'::text, 'wednesday'::text, 'thursday'::text, 'friday'::text, 'saturday'::text, 'sunday'::text])))
);


--
-- Name: backtest_runs_id_seq; Type: SEQUENCE; Schema: data; Owner: -
--

ALTER TABLE data.backtest_runs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME data.backtest_runs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: event_tickets; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.event_tickets (
    ticket_hash bytea NOT NULL,
    user_id uuid,
    jti uuid NOT NULL,
    claims jsonb NOT NULL,
    expires_at timestamp with time zone NOT NULL
);


--
-- Name: TABLE event_tickets; Type: COMMENT; Schema: data; Owner: -
--

COMMENT ON TABLE data.event_tickets IS 'Single-use tickets for GET /events (SHA-256 of the ticket), bound to a token''s user and jti';


--
-- Name: events; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.events (
    id bigint NOT NULL,
    kind text NOT NULL,
    payload jsonb NOT NULL,
    store_ids text[],
    created_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE events; Type: COMMENT; Schema: data; Owner: -
--

COMMENT ON TABLE data.events IS 'Live events for GET /events, written by app.publish_event; kept a day';


--
-- Name: events_id_seq; Type: SEQUENCE; Schema: data; Owner: -
--

ALTER TABLE data.events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME data.events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: invoice_items_id_seq; Type: SEQUENCE; Schema: data; Owner: -
--

ALTER TABLE data.invoice_items ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME data.invoice_items_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1000
);


--
-- Name: login_attempts; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.login_attempts (
    id bigint NOT NULL,
    email text NOT NULL,
    address inet,
    succeeded boolean NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: login_attempts_id_seq; Type: SEQUENCE; Schema: data; Owner: -
--

ALTER TABLE data.login_attempts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME data.login_attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: mangalam_invoices; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.mangalam_invoices (
    id bigint NOT NULL,
    invoice_number text NOT NULL COLLATE pg_catalog."C",
    line_no integer NOT NULL,
    upload_job_id bigint,
    source_line integer,
    store_id text NOT NULL,
    product_key text,
    invoice_date date NOT NULL,
    invoice_id text,
    invoice_status text,
    customer_id text,
    customer_name text,
    due_date date,
    purchase_order text,
    sales_order_number text,
    product_id text,
    item_name text,
    sku text,
    brand text,
    category_name text,
    item_desc text,
    quantity numeric(15,4) NOT NULL,
    usage_unit text,
    item_price numeric(15,4),
    mrp numeric(15,4),
    discount numeric(15,4),
    discount_amount numeric(15,4),
    item_total numeric(15,4),
    subtotal numeric(15,4),
    total numeric(15,4),
    balance numeric(15,4),
    item_tax_pct numeric(8,4),
    item_tax_amount numeric(15,4),
    hsn_sac text,
    currency_code text,
    warehouse_name text,
    sales_person text,
    billing_city text,
    billing_state text,
    billing_country text,
    billing_code text,
    shipping_city text,
    shipping_state text,
    shipping_country text,
    shipping_code text,
    payment_terms text,
    notes text,
    extra jsonb,
    is_void boolean DEFAULT false NOT NULL,
    is_return boolean DEFAULT false NOT NULL,
    is_product boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT mangalam_invoices_no_nan CHECK (((quantity <> 'NaN'::numeric) AND (item_price <> 'NaN'::numeric) AND (mrp <> 'NaN'::numeric) AND (discount <> 'NaN'::numeric) AND (discount_amount <> 'NaN'::numeric) AND (item_total <> 'NaN'::numeric) AND (subtotal <> 'NaN'::numeric) AND (total <> 'NaN'::numeric) AND (balance <> 'NaN'::numeric) AND (item_tax_pct <> 'NaN'::numeric) AND (item_tax_amount <> 'NaN'::numeric)))
);


--
-- Name: TABLE mangalam_invoices; Type: COMMENT; Schema: data; Owner: -
--

COMMENT ON TABLE data.mangalam_invoices IS 'Every loaded invoice-export line, typed, as given';


--
-- Name: mangalam_invoices_id_seq; Type: SEQUENCE; Schema: data; Owner: -
--

ALTER TABLE data.mangalam_invoices ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME data.mangalam_invoices_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1000
);


--
-- Name: order_items_id_seq; Type: SEQUENCE; Schema: data; Owner: -
--

ALTER TABLE data.order_items ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME data.order_items_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: orders_id_seq; Type: SEQUENCE; Schema: data; Owner: -
--

ALTER TABLE data.orders ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME data.orders_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: predicted_order_items_id_seq; Type: SEQUENCE; Schema: data; Owner: -
--

ALTER TABLE data.predicted_order_items ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME data.predicted_order_items_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: prediction_calibrations_id_seq; Type: SEQUENCE; Schema: data; Owner: -
--

ALTER TABLE data.prediction_calibrations ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME data.prediction_calibrations_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: prediction_decisions_id_seq; Type: SEQUENCE; Schema: data; Owner: -
--

ALTER TABLE data.prediction_decisions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME data.prediction_decisions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: revoked_tokens; Type: TABLE; Schema: data; Owner: -
--

CREATE TABLE data.revoked_tokens (
    jti uuid NOT NULL,
    user_id uuid,
    expires_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: upload_jobs_id_seq; Type: SEQUENCE; Schema: data; Owner: -
--

ALTER TABLE data.upload_jobs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME data.upload_jobs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: upload_rejects_id_seq; Type: SEQUENCE; Schema: data; Owner: -
--

ALTER TABLE data.upload_rejects ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME data.upload_rejects_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: upselling_recommendations_id_seq; Type: SEQUENCE; Schema: data; Owner: -
--

ALTER TABLE data.upselling_recommendations ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME data.upselling_recommendations_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: backtest_runs backtest_runs_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.backtest_runs
    ADD CONSTRAINT backtest_runs_pkey PRIMARY KEY (id);


--
-- Name: customer_segments customer_segments_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.customer_segments
    ADD CONSTRAINT customer_segments_pkey PRIMARY KEY (store_id);


--
-- Name: dashboard_settings dashboard_settings_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.dashboard_settings
    ADD CONSTRAINT dashboard_settings_pkey PRIMARY KEY (user_id);


--
-- Name: event_tickets event_tickets_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.event_tickets
    ADD CONSTRAINT event_tickets_pkey PRIMARY KEY (ticket_hash);


--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);


--
-- Name: invoice_items invoice_items_order_id_line_no_key; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.invoice_items
    ADD CONSTRAINT invoice_items_order_id_line_no_key UNIQUE (order_id, line_no);


--
-- Name: invoice_items invoice_items_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.invoice_items
    ADD CONSTRAINT invoice_items_pkey PRIMARY KEY (id);


--
-- Name: login_attempts login_attempts_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.login_attempts
    ADD CONSTRAINT login_attempts_pkey PRIMARY KEY (id);


--
-- Name: mangalam_invoices mangalam_invoices_invoice_number_line_no_key; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.mangalam_invoices
    ADD CONSTRAINT mangalam_invoices_invoice_number_line_no_key UNIQUE (invoice_number, line_no);


--
-- Name: mangalam_invoices mangalam_invoices_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.mangalam_invoices
    ADD CONSTRAINT mangalam_invoices_pkey PRIMARY KEY (id);


--
-- Name: order_items order_items_order_id_product_id_key; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.order_items
    ADD CONSTRAINT order_items_order_id_product_id_key UNIQUE (order_id, product_id);


--
-- Name: order_items order_items_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.order_items
    ADD CONSTRAINT order_items_pkey PRIMARY KEY (id);


--
-- Name: orders orders_invoice_number_key; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.orders
    ADD CONSTRAINT orders_invoice_number_key UNIQUE (invoice_number);


--
-- Name: orders orders_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);


--
-- Name: predicted_order_items predicted_order_items_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.predicted_order_items
    ADD CONSTRAINT predicted_order_items_pkey PRIMARY KEY (id);


--
-- Name: predicted_order_items predicted_order_items_predicted_order_id_product_id_key; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.predicted_order_items
    ADD CONSTRAINT predicted_order_items_predicted_order_id_product_id_key UNIQUE (predicted_order_id, product_id);


--
-- Name: predicted_order_items predicted_order_items_rank_key; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.predicted_order_items
    ADD CONSTRAINT predicted_order_items_rank_key UNIQUE (predicted_order_id, item_rank);


--
-- Name: predicted_orders predicted_orders_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.predicted_orders
    ADD CONSTRAINT predicted_orders_pkey PRIMARY KEY (id);


--
-- Name: prediction_calibrations prediction_calibrations_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.prediction_calibrations
    ADD CONSTRAINT prediction_calibrations_pkey PRIMARY KEY (id);


--
-- Name: prediction_decisions prediction_decisions_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.prediction_decisions
    ADD CONSTRAINT prediction_decisions_pkey PRIMARY KEY (id);


--
-- Name: product_associations product_associations_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.product_associations
    ADD CONSTRAINT product_associations_pkey PRIMARY KEY (antecedent_id, consequent_id);


--
-- Name: products products_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.products
    ADD CONSTRAINT products_pkey PRIMARY KEY (id);


--
-- Name: products products_product_key_key; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.products
    ADD CONSTRAINT products_product_key_key UNIQUE (product_key);


--
-- Name: revoked_tokens revoked_tokens_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.revoked_tokens
    ADD CONSTRAINT revoked_tokens_pkey PRIMARY KEY (jti);


--
-- Name: settings settings_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.settings
    ADD CONSTRAINT settings_pkey PRIMARY KEY (key);


--
-- Name: store_assignments store_assignments_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.store_assignments
    ADD CONSTRAINT store_assignments_pkey PRIMARY KEY (store_id, user_id);


--
-- Name: store_preferences store_preferences_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.store_preferences
    ADD CONSTRAINT store_preferences_pkey PRIMARY KEY (store_id);


--
-- Name: stores stores_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.stores
    ADD CONSTRAINT stores_pkey PRIMARY KEY (id);


--
-- Name: upload_jobs upload_jobs_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.upload_jobs
    ADD CONSTRAINT upload_jobs_pkey PRIMARY KEY (id);


--
-- Name: upload_rejects upload_rejects_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.upload_rejects
    ADD CONSTRAINT upload_rejects_pkey PRIMARY KEY (id);


--
-- Name: upselling_recommendations upselling_recommendations_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.upselling_recommendations
    ADD CONSTRAINT upselling_recommendations_pkey PRIMARY KEY (id);


--
-- Name: upselling_recommendations upselling_recommendations_store_id_product_id_key; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.upselling_recommendations
    ADD CONSTRAINT upselling_recommendations_store_id_product_id_key UNIQUE (store_id, product_id);


--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);


--
-- Name: backtest_runs_created_at_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX backtest_runs_created_at_idx ON data.backtest_runs USING btree (created_at);


--
-- Name: event_tickets_expires_at_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX event_tickets_expires_at_idx ON data.event_tickets USING btree (expires_at);


--
-- Name: event_tickets_user_id_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX event_tickets_user_id_idx ON data.event_tickets USING btree (user_id);


--
-- Name: events_created_at_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX events_created_at_idx ON data.events USING btree (created_at);


--
-- Name: invoice_items_product_id_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX invoice_items_product_id_idx ON data.invoice_items USING btree (product_id);


--
-- Name: login_attempts_address_at_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX login_attempts_address_at_idx ON data.login_attempts USING btree (address, at);


--
-- Name: login_attempts_email_at_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX login_attempts_email_at_idx ON data.login_attempts USING btree (lower(email), at);


--
-- Name: order_items_product_id_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX order_items_product_id_idx ON data.order_items USING btree (product_id);


--
-- Name: orders_created_by_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX orders_created_by_idx ON data.orders USING btree (created_by);


--
-- Name: orders_order_date_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX orders_order_date_idx ON data.orders USING btree (order_date);


--
-- Name: orders_status_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX orders_status_idx ON data.orders USING btree (status) WHERE (status = ANY (ARRAY['draft'::text, 'submitted'::text, 'confirmed'::text]));


--
-- Name: orders_store_id_date_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX orders_store_id_date_idx ON data.orders USING btree (store_id, order_date);


--
-- Name: predicted_order_items_product_id_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX predicted_order_items_product_id_idx ON data.predicted_order_items USING btree (product_id);


--
-- Name: predicted_orders_decided_by_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX predicted_orders_decided_by_idx ON data.predicted_orders USING btree (decided_by);


--
-- Name: predicted_orders_one_pending_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE UNIQUE INDEX predicted_orders_one_pending_idx ON data.predicted_orders USING btree (store_id) WHERE (status = 'pending'::text);


--
-- Name: predicted_orders_order_id_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX predicted_orders_order_id_idx ON data.predicted_orders USING btree (order_id);


--
-- Name: predicted_orders_store_id_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX predicted_orders_store_id_idx ON data.predicted_orders USING btree (store_id);


--
-- Name: prediction_calibrations_fitted_as_of_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX prediction_calibrations_fitted_as_of_idx ON data.prediction_calibrations USING btree (fitted_as_of, id);


--
-- Name: prediction_decisions_decided_by_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX prediction_decisions_decided_by_idx ON data.prediction_decisions USING btree (decided_by);


--
-- Name: prediction_decisions_prediction_id_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX prediction_decisions_prediction_id_idx ON data.prediction_decisions USING btree (prediction_id, decided_at);


--
-- Name: product_associations_consequent_id_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX product_associations_consequent_id_idx ON data.product_associations USING btree (consequent_id);


--
-- Name: products_brand_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX products_brand_idx ON data.products USING btree (brand);


--
-- Name: products_category_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX products_category_idx ON data.products USING btree (category);


--
-- Name: revoked_tokens_expires_at_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX revoked_tokens_expires_at_idx ON data.revoked_tokens USING btree (expires_at);


--
-- Name: revoked_tokens_user_id_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX revoked_tokens_user_id_idx ON data.revoked_tokens USING btree (user_id);


--
-- Name: store_assignments_user_id_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX store_assignments_user_id_idx ON data.store_assignments USING btree (user_id);


--
-- Name: stores_sales_person_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX stores_sales_person_idx ON data.stores USING btree (sales_person);


--
-- Name: upload_jobs_created_by_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX upload_jobs_created_by_idx ON data.upload_jobs USING btree (created_by);


--
-- Name: upload_jobs_runnable_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX upload_jobs_runnable_idx ON data.upload_jobs USING btree (run_after) WHERE (status = 'queued'::text);


--
-- Name: upload_jobs_running_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX upload_jobs_running_idx ON data.upload_jobs USING btree (id) WHERE (status = ANY (ARRAY['running'::text, 'receiving'::text]));


--
-- Name: upload_jobs_sha256_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX upload_jobs_sha256_idx ON data.upload_jobs USING btree (sha256) WHERE (status = 'succeeded'::text);


--
-- Name: upload_rejects_job_id_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX upload_rejects_job_id_idx ON data.upload_rejects USING btree (job_id, line_no);


--
-- Name: upselling_recommendations_product_id_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX upselling_recommendations_product_id_idx ON data.upselling_recommendations USING btree (product_id);


--
-- Name: users_email_key; Type: INDEX; Schema: data; Owner: -
--

CREATE UNIQUE INDEX users_email_key ON data.users USING btree (lower(email));


--
-- Name: users_sales_person_idx; Type: INDEX; Schema: data; Owner: -
--

CREATE INDEX users_sales_person_idx ON data.users USING btree (sales_person) WHERE (sales_person IS NOT NULL);


--
-- Name: customer_segments 10_set_updated_at; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "10_set_updated_at" BEFORE UPDATE ON data.customer_segments FOR EACH ROW EXECUTE FUNCTION app.tg_set_updated_at();


--
-- Name: dashboard_settings 10_set_updated_at; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "10_set_updated_at" BEFORE UPDATE ON data.dashboard_settings FOR EACH ROW EXECUTE FUNCTION app.tg_set_updated_at();


--
-- Name: order_items 10_set_updated_at; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "10_set_updated_at" BEFORE UPDATE ON data.order_items FOR EACH ROW EXECUTE FUNCTION app.tg_set_updated_at();


--
-- Name: orders 10_set_updated_at; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "10_set_updated_at" BEFORE UPDATE ON data.orders FOR EACH ROW EXECUTE FUNCTION app.tg_set_updated_at();


--
-- Name: predicted_orders 10_set_updated_at; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "10_set_updated_at" BEFORE UPDATE ON data.predicted_orders FOR EACH ROW EXECUTE FUNCTION app.tg_set_updated_at();


--
-- Name: products 10_set_updated_at; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "10_set_updated_at" BEFORE UPDATE ON data.products FOR EACH ROW EXECUTE FUNCTION app.tg_set_updated_at();


--
-- Name: settings 10_set_updated_at; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "10_set_updated_at" BEFORE UPDATE ON data.settings FOR EACH ROW EXECUTE FUNCTION app.tg_set_updated_at();


--
-- Name: store_preferences 10_set_updated_at; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "10_set_updated_at" BEFORE UPDATE ON data.store_preferences FOR EACH ROW EXECUTE FUNCTION app.tg_set_updated_at();


--
-- Name: stores 10_set_updated_at; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "10_set_updated_at" BEFORE UPDATE ON data.stores FOR EACH ROW EXECUTE FUNCTION app.tg_set_updated_at();


--
-- Name: upload_jobs 10_set_updated_at; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "10_set_updated_at" BEFORE UPDATE ON data.upload_jobs FOR EACH ROW EXECUTE FUNCTION app.tg_set_updated_at();


--
-- Name: upselling_recommendations 10_set_updated_at; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "10_set_updated_at" BEFORE UPDATE ON data.upselling_recommendations FOR EACH ROW EXECUTE FUNCTION app.tg_set_updated_at();


--
-- Name: users 10_set_updated_at; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "10_set_updated_at" BEFORE UPDATE ON data.users FOR EACH ROW EXECUTE FUNCTION app.tg_set_updated_at();


--
-- Name: users 15_end_tokens; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "15_end_tokens" BEFORE UPDATE OF password_hash, role, is_active ON data.users FOR EACH ROW WHEN (((old.password_hash IS DISTINCT FROM new.password_hash) OR (old.role IS DISTINCT FROM new.role) OR (old.is_active IS DISTINCT FROM new.is_active))) EXECUTE FUNCTION app.tg_users_end_tokens();


--
-- Name: dashboard_settings 20_check_api_write; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "20_check_api_write" BEFORE INSERT OR UPDATE ON data.dashboard_settings FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_dashboard_settings_check();


--
-- Name: order_items 20_check_api_write; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "20_check_api_write" BEFORE INSERT OR DELETE OR UPDATE ON data.order_items FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_order_items_check();


--
-- Name: orders 20_check_api_write; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "20_check_api_write" BEFORE INSERT OR DELETE OR UPDATE ON data.orders FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_orders_check();


--
-- Name: predicted_orders 20_check_api_write; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "20_check_api_write" BEFORE UPDATE ON data.predicted_orders FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_predicted_orders_check();


--
-- Name: products 20_check_api_write; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "20_check_api_write" BEFORE INSERT OR UPDATE ON data.products FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_products_check();


--
-- Name: settings 20_check_api_write; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "20_check_api_write" BEFORE INSERT OR UPDATE ON data.settings FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_settings_check();


--
-- Name: store_assignments 20_check_api_write; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "20_check_api_write" BEFORE INSERT OR UPDATE ON data.store_assignments FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_store_assignments_check();


--
-- Name: store_preferences 20_check_api_write; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "20_check_api_write" BEFORE INSERT OR UPDATE ON data.store_preferences FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_store_preferences_check();


--
-- Name: stores 20_check_api_write; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "20_check_api_write" BEFORE INSERT OR DELETE OR UPDATE ON data.stores FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_stores_check();


--
-- Name: users 20_check_api_write; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "20_check_api_write" BEFORE DELETE OR UPDATE ON data.users FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_users_check();


--
-- Name: orders 25_credit_limit; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "25_credit_limit" BEFORE INSERT OR UPDATE OF status ON data.orders FOR EACH ROW WHEN ((new.status = 'submitted'::text)) EXECUTE FUNCTION app.tg_orders_credit_limit();


--
-- Name: predicted_orders 30_log_decisions; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "30_log_decisions" AFTER UPDATE ON data.predicted_orders REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_predicted_orders_log();


--
-- Name: order_items 30_totals_after_delete; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "30_totals_after_delete" AFTER DELETE ON data.order_items REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_order_items_totals();


--
-- Name: order_items 30_totals_after_insert; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "30_totals_after_insert" AFTER INSERT ON data.order_items REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_order_items_totals();


--
-- Name: order_items 30_totals_after_update; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "30_totals_after_update" AFTER UPDATE ON data.order_items REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_order_items_totals();


--
-- Name: predicted_orders 40_auto_approve_inserted; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_auto_approve_inserted" AFTER INSERT ON data.predicted_orders REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_predicted_orders_auto_approve();


--
-- Name: predicted_orders 40_auto_approve_recomputed; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_auto_approve_recomputed" AFTER UPDATE ON data.predicted_orders REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_predicted_orders_auto_approve();


--
-- Name: orders 40_children_after_delete; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_children_after_delete" AFTER DELETE ON data.orders REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_parent_gone();


--
-- Name: predicted_orders 40_children_after_delete; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_children_after_delete" AFTER DELETE ON data.predicted_orders REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_parent_gone();


--
-- Name: products 40_children_after_delete; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_children_after_delete" AFTER DELETE ON data.products REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_parent_gone();


--
-- Name: stores 40_children_after_delete; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_children_after_delete" AFTER DELETE ON data.stores REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_parent_gone();


--
-- Name: upload_jobs 40_children_after_delete; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_children_after_delete" AFTER DELETE ON data.upload_jobs REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_parent_gone();


--
-- Name: orders 40_children_after_truncate; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_children_after_truncate" AFTER TRUNCATE ON data.orders FOR EACH STATEMENT EXECUTE FUNCTION app.tg_parent_truncated();


--
-- Name: predicted_orders 40_children_after_truncate; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_children_after_truncate" AFTER TRUNCATE ON data.predicted_orders FOR EACH STATEMENT EXECUTE FUNCTION app.tg_parent_truncated();


--
-- Name: products 40_children_after_truncate; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_children_after_truncate" AFTER TRUNCATE ON data.products FOR EACH STATEMENT EXECUTE FUNCTION app.tg_parent_truncated();


--
-- Name: stores 40_children_after_truncate; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_children_after_truncate" AFTER TRUNCATE ON data.stores FOR EACH STATEMENT EXECUTE FUNCTION app.tg_parent_truncated();


--
-- Name: upload_jobs 40_children_after_truncate; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_children_after_truncate" AFTER TRUNCATE ON data.upload_jobs FOR EACH STATEMENT EXECUTE FUNCTION app.tg_parent_truncated();


--
-- Name: orders 40_children_after_update_id; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_children_after_update_id" AFTER UPDATE OF id ON data.orders FOR EACH ROW WHEN ((old.id IS DISTINCT FROM new.id)) EXECUTE FUNCTION app.tg_parent_gone();


--
-- Name: predicted_orders 40_children_after_update_id; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_children_after_update_id" AFTER UPDATE OF id ON data.predicted_orders FOR EACH ROW WHEN ((old.id IS DISTINCT FROM new.id)) EXECUTE FUNCTION app.tg_parent_gone();


--
-- Name: products 40_children_after_update_id; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_children_after_update_id" AFTER UPDATE OF id ON data.products FOR EACH ROW WHEN ((old.id IS DISTINCT FROM new.id)) EXECUTE FUNCTION app.tg_parent_gone();


--
-- Name: stores 40_children_after_update_id; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_children_after_update_id" AFTER UPDATE OF id ON data.stores FOR EACH ROW WHEN ((old.id IS DISTINCT FROM new.id)) EXECUTE FUNCTION app.tg_parent_gone();


--
-- Name: upload_jobs 40_children_after_update_id; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_children_after_update_id" AFTER UPDATE OF id ON data.upload_jobs FOR EACH ROW WHEN ((old.id IS DISTINCT FROM new.id)) EXECUTE FUNCTION app.tg_parent_gone();


--
-- Name: invoice_items 40_parents_after_insert; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_parents_after_insert" AFTER INSERT ON data.invoice_items REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_check_parents();


--
-- Name: orders 40_parents_after_insert; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_parents_after_insert" AFTER INSERT ON data.orders REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_check_parents();


--
-- Name: predicted_order_items 40_parents_after_insert; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_parents_after_insert" AFTER INSERT ON data.predicted_order_items REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_check_parents();


--
-- Name: product_associations 40_parents_after_insert; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_parents_after_insert" AFTER INSERT ON data.product_associations REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_check_parents();


--
-- Name: upload_rejects 40_parents_after_insert; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_parents_after_insert" AFTER INSERT ON data.upload_rejects REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_check_parents();


--
-- Name: upselling_recommendations 40_parents_after_insert; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_parents_after_insert" AFTER INSERT ON data.upselling_recommendations REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_check_parents();


--
-- Name: invoice_items 40_parents_after_update; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_parents_after_update" AFTER UPDATE ON data.invoice_items REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_check_parents();


--
-- Name: orders 40_parents_after_update; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_parents_after_update" AFTER UPDATE ON data.orders REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_check_parents();


--
-- Name: predicted_order_items 40_parents_after_update; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_parents_after_update" AFTER UPDATE ON data.predicted_order_items REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_check_parents();


--
-- Name: product_associations 40_parents_after_update; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_parents_after_update" AFTER UPDATE ON data.product_associations REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_check_parents();


--
-- Name: upload_rejects 40_parents_after_update; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_parents_after_update" AFTER UPDATE ON data.upload_rejects REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_check_parents();


--
-- Name: upselling_recommendations 40_parents_after_update; Type: TRIGGER; Schema: data; Owner: -
--

CREATE TRIGGER "40_parents_after_update" AFTER UPDATE ON data.upselling_recommendations REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_check_parents();


--
-- Name: customer_segments customer_segments_store_id_fkey; Type: FK CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.customer_segments
    ADD CONSTRAINT customer_segments_store_id_fkey FOREIGN KEY (store_id) REFERENCES data.stores(id) ON DELETE CASCADE;


--
-- Name: dashboard_settings dashboard_settings_user_id_fkey; Type: FK CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.dashboard_settings
    ADD CONSTRAINT dashboard_settings_user_id_fkey FOREIGN KEY (user_id) REFERENCES data.users(id) ON DELETE CASCADE;


--
-- Name: event_tickets event_tickets_user_id_fkey; Type: FK CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.event_tickets
    ADD CONSTRAINT event_tickets_user_id_fkey FOREIGN KEY (user_id) REFERENCES data.users(id) ON DELETE CASCADE;


--
-- Name: order_items order_items_order_id_fkey; Type: FK CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.order_items
    ADD CONSTRAINT order_items_order_id_fkey FOREIGN KEY (order_id) REFERENCES data.orders(id) ON DELETE CASCADE;


--
-- Name: order_items order_items_product_id_fkey; Type: FK CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.order_items
    ADD CONSTRAINT order_items_product_id_fkey FOREIGN KEY (product_id) REFERENCES data.products(id);


--
-- Name: orders orders_created_by_fkey; Type: FK CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.orders
    ADD CONSTRAINT orders_created_by_fkey FOREIGN KEY (created_by) REFERENCES data.users(id) ON DELETE SET NULL;


--
-- Name: predicted_orders predicted_orders_decided_by_fkey; Type: FK CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.predicted_orders
    ADD CONSTRAINT predicted_orders_decided_by_fkey FOREIGN KEY (decided_by) REFERENCES data.users(id) ON DELETE SET NULL;


--
-- Name: predicted_orders predicted_orders_order_id_fkey; Type: FK CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.predicted_orders
    ADD CONSTRAINT predicted_orders_order_id_fkey FOREIGN KEY (order_id) REFERENCES data.orders(id) ON DELETE SET NULL;


--
-- Name: predicted_orders predicted_orders_store_id_fkey; Type: FK CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.predicted_orders
    ADD CONSTRAINT predicted_orders_store_id_fkey FOREIGN KEY (store_id) REFERENCES data.stores(id) ON DELETE CASCADE;


--
-- Name: prediction_decisions prediction_decisions_decided_by_fkey; Type: FK CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.prediction_decisions
    ADD CONSTRAINT prediction_decisions_decided_by_fkey FOREIGN KEY (decided_by) REFERENCES data.users(id) ON DELETE SET NULL;


--
-- Name: prediction_decisions prediction_decisions_prediction_id_fkey; Type: FK CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.prediction_decisions
    ADD CONSTRAINT prediction_decisions_prediction_id_fkey FOREIGN KEY (prediction_id) REFERENCES data.predicted_orders(id) ON DELETE CASCADE;


--
-- Name: revoked_tokens revoked_tokens_user_id_fkey; Type: FK CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.revoked_tokens
    ADD CONSTRAINT revoked_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES data.users(id) ON DELETE CASCADE;


--
-- Name: store_assignments store_assignments_store_id_fkey; Type: FK CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.store_assignments
    ADD CONSTRAINT store_assignments_store_id_fkey FOREIGN KEY (store_id) REFERENCES data.stores(id) ON DELETE CASCADE;


--
-- Name: store_assignments store_assignments_user_id_fkey; Type: FK CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.store_assignments
    ADD CONSTRAINT store_assignments_user_id_fkey FOREIGN KEY (user_id) REFERENCES data.users(id) ON DELETE CASCADE;


--
-- Name: store_preferences store_preferences_store_id_fkey; Type: FK CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.store_preferences
    ADD CONSTRAINT store_preferences_store_id_fkey FOREIGN KEY (store_id) REFERENCES data.stores(id) ON DELETE CASCADE;


--
-- Name: upload_jobs upload_jobs_created_by_fkey; Type: FK CONSTRAINT; Schema: data; Owner: -
--

ALTER TABLE ONLY data.upload_jobs
    ADD CONSTRAINT upload_jobs_created_by_fkey FOREIGN KEY (created_by) REFERENCES data.users(id) ON DELETE SET NULL;


--
-- Name: settings Admins change the settings; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Admins change the settings" ON data.settings TO admin USING (true) WITH CHECK (true);


--
-- Name: users Admins manage users; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Admins manage users" ON data.users TO admin USING (true) WITH CHECK (true);


--
-- Name: customer_segments Analysts read every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Analysts read every row" ON data.customer_segments FOR SELECT TO analyst USING (true);


--
-- Name: invoice_items Analysts read every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Analysts read every row" ON data.invoice_items FOR SELECT TO analyst USING (true);


--
-- Name: order_items Analysts read every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Analysts read every row" ON data.order_items FOR SELECT TO analyst USING (true);


--
-- Name: orders Analysts read every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Analysts read every row" ON data.orders FOR SELECT TO analyst USING (true);


--
-- Name: predicted_order_items Analysts read every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Analysts read every row" ON data.predicted_order_items FOR SELECT TO analyst USING (true);


--
-- Name: predicted_orders Analysts read every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Analysts read every row" ON data.predicted_orders FOR SELECT TO analyst USING (true);


--
-- Name: prediction_decisions Analysts read every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Analysts read every row" ON data.prediction_decisions FOR SELECT TO analyst USING (true);


--
-- Name: store_assignments Analysts read every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Analysts read every row" ON data.store_assignments FOR SELECT TO analyst USING (true);


--
-- Name: store_preferences Analysts read every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Analysts read every row" ON data.store_preferences FOR SELECT TO analyst USING (true);


--
-- Name: stores Analysts read every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Analysts read every row" ON data.stores FOR SELECT TO analyst USING (true);


--
-- Name: upselling_recommendations Analysts read every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Analysts read every row" ON data.upselling_recommendations FOR SELECT TO analyst USING (true);


--
-- Name: products Everyone signed in sees the catalogue; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Everyone signed in sees the catalogue" ON data.products FOR SELECT TO sales_rep, manager, admin, analyst USING (true);


--
-- Name: store_assignments Managers and admins assign stores; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Managers and admins assign stores" ON data.store_assignments TO manager, admin USING (true) WITH CHECK (true);


--
-- Name: orders Managers and admins change orders that are not invoices; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Managers and admins change orders that are not invoices" ON data.orders FOR UPDATE TO manager, admin USING (true) WITH CHECK ((source <> 'invoice'::text));


--
-- Name: orders Managers and admins create orders that are not invoices; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Managers and admins create orders that are not invoices" ON data.orders FOR INSERT TO manager, admin WITH CHECK ((source <> 'invoice'::text));


--
-- Name: orders Managers and admins delete orders (the trigger keeps invoices); Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Managers and admins delete orders (the trigger keeps invoices)" ON data.orders FOR DELETE TO manager, admin USING (true);


--
-- Name: products Managers and admins maintain the catalogue; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Managers and admins maintain the catalogue" ON data.products TO manager, admin USING (true) WITH CHECK (true);


--
-- Name: settings Managers and admins read the settings; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Managers and admins read the settings" ON data.settings FOR SELECT TO manager, admin USING (true);


--
-- Name: customer_segments Managers and admins see and change every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Managers and admins see and change every row" ON data.customer_segments TO manager, admin USING (true) WITH CHECK (true);


--
-- Name: invoice_items Managers and admins see and change every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Managers and admins see and change every row" ON data.invoice_items TO manager, admin USING (true) WITH CHECK (true);


--
-- Name: order_items Managers and admins see and change every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Managers and admins see and change every row" ON data.order_items TO manager, admin USING (true) WITH CHECK (true);


--
-- Name: predicted_order_items Managers and admins see and change every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Managers and admins see and change every row" ON data.predicted_order_items TO manager, admin USING (true) WITH CHECK (true);


--
-- Name: predicted_orders Managers and admins see and change every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Managers and admins see and change every row" ON data.predicted_orders TO manager, admin USING (true) WITH CHECK (true);


--
-- Name: prediction_decisions Managers and admins see and change every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Managers and admins see and change every row" ON data.prediction_decisions TO manager, admin USING (true) WITH CHECK (true);


--
-- Name: store_preferences Managers and admins see and change every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Managers and admins see and change every row" ON data.store_preferences TO manager, admin USING (true) WITH CHECK (true);


--
-- Name: stores Managers and admins see and change every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Managers and admins see and change every row" ON data.stores TO manager, admin USING (true) WITH CHECK (true);


--
-- Name: upselling_recommendations Managers and admins see and change every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Managers and admins see and change every row" ON data.upselling_recommendations TO manager, admin USING (true) WITH CHECK (true);


--
-- Name: orders Managers and admins see every order; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Managers and admins see every order" ON data.orders FOR SELECT TO manager, admin USING (true);


--
-- Name: upload_jobs Managers and admins see every upload; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Managers and admins see every upload" ON data.upload_jobs FOR SELECT TO manager, admin, analyst USING (true);


--
-- Name: users Managers and admins see the user list; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Managers and admins see the user list" ON data.users FOR SELECT TO manager, admin USING (true);


--
-- Name: upload_rejects Rejects are read with their upload; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Rejects are read with their upload" ON data.upload_rejects FOR SELECT TO manager, admin, mangalm_app USING ((EXISTS ( SELECT
   FROM data.upload_jobs j
  WHERE (j.id = upload_rejects.job_id))));


--
-- Name: order_items Sales reps add lines to their own drafts; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Sales reps add lines to their own drafts" ON data.order_items FOR INSERT TO sales_rep WITH CHECK ((order_id IN ( SELECT o.id
   FROM data.orders o
  WHERE ((o.created_by = ( SELECT app.current_user_id() AS current_user_id)) AND (o.status = 'draft'::text)))));


--
-- Name: order_items Sales reps change lines of their own drafts; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Sales reps change lines of their own drafts" ON data.order_items FOR UPDATE TO sales_rep USING ((order_id IN ( SELECT o.id
   FROM data.orders o))) WITH CHECK ((order_id IN ( SELECT o.id
   FROM data.orders o
  WHERE ((o.created_by = ( SELECT app.current_user_id() AS current_user_id)) AND (o.status = 'draft'::text)))));


--
-- Name: orders Sales reps change the orders they created; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Sales reps change the orders they created" ON data.orders FOR UPDATE TO sales_rep USING ((store_id IN ( SELECT app.rep_store_ids() AS rep_store_ids))) WITH CHECK (((store_id IN ( SELECT app.rep_store_ids() AS rep_store_ids)) AND (created_by = ( SELECT app.current_user_id() AS current_user_id)) AND (source <> 'invoice'::text)));


--
-- Name: orders Sales reps create draft orders for their stores; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Sales reps create draft orders for their stores" ON data.orders FOR INSERT TO sales_rep WITH CHECK (((store_id IN ( SELECT app.rep_store_ids() AS rep_store_ids)) AND (created_by = ( SELECT app.current_user_id() AS current_user_id)) AND (source <> 'invoice'::text) AND (status = 'draft'::text)));


--
-- Name: predicted_orders Sales reps decide the predictions of their stores; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Sales reps decide the predictions of their stores" ON data.predicted_orders FOR UPDATE TO sales_rep USING ((store_id IN ( SELECT app.rep_store_ids() AS rep_store_ids))) WITH CHECK ((store_id IN ( SELECT app.rep_store_ids() AS rep_store_ids)));


--
-- Name: order_items Sales reps delete lines of their own drafts; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Sales reps delete lines of their own drafts" ON data.order_items FOR DELETE TO sales_rep USING ((order_id IN ( SELECT o.id
   FROM data.orders o
  WHERE ((o.created_by = ( SELECT app.current_user_id() AS current_user_id)) AND (o.status = 'draft'::text)))));


--
-- Name: orders Sales reps delete the drafts they created (the trigger checks w; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Sales reps delete the drafts they created (the trigger checks w" ON data.orders FOR DELETE TO sales_rep USING ((store_id IN ( SELECT app.rep_store_ids() AS rep_store_ids)));


--
-- Name: invoice_items Sales reps see the lines of their stores; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Sales reps see the lines of their stores" ON data.invoice_items FOR SELECT TO sales_rep USING ((order_id IN ( SELECT p.id
   FROM data.orders p)));


--
-- Name: order_items Sales reps see the lines of their stores; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Sales reps see the lines of their stores" ON data.order_items FOR SELECT TO sales_rep USING ((order_id IN ( SELECT p.id
   FROM data.orders p)));


--
-- Name: predicted_order_items Sales reps see the lines of their stores; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Sales reps see the lines of their stores" ON data.predicted_order_items FOR SELECT TO sales_rep USING ((predicted_order_id IN ( SELECT p.id
   FROM data.predicted_orders p)));


--
-- Name: prediction_decisions Sales reps see the lines of their stores; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Sales reps see the lines of their stores" ON data.prediction_decisions FOR SELECT TO sales_rep USING ((prediction_id IN ( SELECT p.id
   FROM data.predicted_orders p)));


--
-- Name: customer_segments Sales reps see the stores assigned to them; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Sales reps see the stores assigned to them" ON data.customer_segments FOR SELECT TO sales_rep USING ((store_id IN ( SELECT app.rep_store_ids() AS rep_store_ids)));


--
-- Name: orders Sales reps see the stores assigned to them; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Sales reps see the stores assigned to them" ON data.orders FOR SELECT TO sales_rep USING ((store_id IN ( SELECT app.rep_store_ids() AS rep_store_ids)));


--
-- Name: predicted_orders Sales reps see the stores assigned to them; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Sales reps see the stores assigned to them" ON data.predicted_orders FOR SELECT TO sales_rep USING ((store_id IN ( SELECT app.rep_store_ids() AS rep_store_ids)));


--
-- Name: store_preferences Sales reps see the stores assigned to them; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Sales reps see the stores assigned to them" ON data.store_preferences FOR SELECT TO sales_rep USING ((store_id IN ( SELECT app.rep_store_ids() AS rep_store_ids)));


--
-- Name: stores Sales reps see the stores assigned to them; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Sales reps see the stores assigned to them" ON data.stores FOR SELECT TO sales_rep USING ((id IN ( SELECT app.rep_store_ids() AS rep_store_ids)));


--
-- Name: upselling_recommendations Sales reps see the stores assigned to them; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Sales reps see the stores assigned to them" ON data.upselling_recommendations FOR SELECT TO sales_rep USING ((store_id IN ( SELECT app.rep_store_ids() AS rep_store_ids)));


--
-- Name: store_assignments Sales reps see their own assignments; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Sales reps see their own assignments" ON data.store_assignments FOR SELECT TO sales_rep USING ((user_id = ( SELECT app.current_user_id() AS current_user_id)));


--
-- Name: customer_segments The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.customer_segments FOR SELECT TO mangalm_app USING (true);


--
-- Name: dashboard_settings The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.dashboard_settings FOR SELECT TO mangalm_app USING (true);


--
-- Name: event_tickets The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.event_tickets FOR SELECT TO mangalm_app USING (true);


--
-- Name: events The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.events FOR SELECT TO mangalm_app USING (true);


--
-- Name: invoice_items The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.invoice_items FOR SELECT TO mangalm_app USING (true);


--
-- Name: login_attempts The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.login_attempts FOR SELECT TO mangalm_app USING (true);


--
-- Name: order_items The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.order_items FOR SELECT TO mangalm_app USING (true);


--
-- Name: orders The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.orders FOR SELECT TO mangalm_app USING (true);


--
-- Name: predicted_order_items The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.predicted_order_items FOR SELECT TO mangalm_app USING (true);


--
-- Name: predicted_orders The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.predicted_orders FOR SELECT TO mangalm_app USING (true);


--
-- Name: prediction_decisions The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.prediction_decisions FOR SELECT TO mangalm_app USING (true);


--
-- Name: products The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.products FOR SELECT TO mangalm_app USING (true);


--
-- Name: revoked_tokens The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.revoked_tokens FOR SELECT TO mangalm_app USING (true);


--
-- Name: settings The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.settings FOR SELECT TO mangalm_app USING (true);


--
-- Name: store_assignments The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.store_assignments FOR SELECT TO mangalm_app USING (true);


--
-- Name: store_preferences The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.store_preferences FOR SELECT TO mangalm_app USING (true);


--
-- Name: stores The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.stores FOR SELECT TO mangalm_app USING (true);


--
-- Name: upload_jobs The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.upload_jobs FOR SELECT TO mangalm_app USING (true);


--
-- Name: upload_rejects The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.upload_rejects FOR SELECT TO mangalm_app USING (true);


--
-- Name: upselling_recommendations The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.upselling_recommendations FOR SELECT TO mangalm_app USING (true);


--
-- Name: users The application reads every row; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The application reads every row" ON data.users FOR SELECT TO mangalm_app USING (true);


--
-- Name: upload_jobs The operator's login sees every upload; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "The operator's login sees every upload" ON data.upload_jobs FOR SELECT TO mangalm_app USING (true);


--
-- Name: dashboard_settings Users keep their own dashboard settings; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Users keep their own dashboard settings" ON data.dashboard_settings TO sales_rep, manager, admin USING ((user_id = ( SELECT app.current_user_id() AS current_user_id))) WITH CHECK ((user_id = ( SELECT app.current_user_id() AS current_user_id)));


--
-- Name: users Users see themselves; Type: POLICY; Schema: data; Owner: -
--

CREATE POLICY "Users see themselves" ON data.users FOR SELECT TO sales_rep USING ((id = ( SELECT app.current_user_id() AS current_user_id)));


--
-- Name: customer_segments; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.customer_segments ENABLE ROW LEVEL SECURITY;

--
-- Name: dashboard_settings; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.dashboard_settings ENABLE ROW LEVEL SECURITY;

--
-- Name: event_tickets; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.event_tickets ENABLE ROW LEVEL SECURITY;

--
-- Name: events; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.events ENABLE ROW LEVEL SECURITY;

--
-- Name: invoice_items; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.invoice_items ENABLE ROW LEVEL SECURITY;

--
-- Name: login_attempts; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.login_attempts ENABLE ROW LEVEL SECURITY;

--
-- Name: order_items; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.order_items ENABLE ROW LEVEL SECURITY;

--
-- Name: orders; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.orders ENABLE ROW LEVEL SECURITY;

--
-- Name: predicted_order_items; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.predicted_order_items ENABLE ROW LEVEL SECURITY;

--
-- Name: predicted_orders; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.predicted_orders ENABLE ROW LEVEL SECURITY;

--
-- Name: prediction_decisions; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.prediction_decisions ENABLE ROW LEVEL SECURITY;

--
-- Name: products; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.products ENABLE ROW LEVEL SECURITY;

--
-- Name: revoked_tokens; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.revoked_tokens ENABLE ROW LEVEL SECURITY;

--
-- Name: settings; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.settings ENABLE ROW LEVEL SECURITY;

--
-- Name: store_assignments; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.store_assignments ENABLE ROW LEVEL SECURITY;

--
-- Name: store_preferences; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.store_preferences ENABLE ROW LEVEL SECURITY;

--
-- Name: stores; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.stores ENABLE ROW LEVEL SECURITY;

--
-- Name: upload_jobs; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.upload_jobs ENABLE ROW LEVEL SECURITY;

--
-- Name: upload_rejects; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.upload_rejects ENABLE ROW LEVEL SECURITY;

--
-- Name: upselling_recommendations; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.upselling_recommendations ENABLE ROW LEVEL SECURITY;

--
-- Name: users; Type: ROW SECURITY; Schema: data; Owner: -
--

ALTER TABLE data.users ENABLE ROW LEVEL SECURITY;

--
-- PostgreSQL database dump complete
--
