-- Per-user dashboard personalisation.
CREATE TABLE data.dashboard_settings (
  user_id            uuid PRIMARY KEY REFERENCES data.users (id) ON DELETE CASCADE,
  theme              text NOT NULL DEFAULT 'light' CHECK (theme IN ('light', 'dark', 'system')),
  layout_config      jsonb NOT NULL DEFAULT '{}',
  widget_preferences jsonb NOT NULL DEFAULT '{}',
  default_date_range text NOT NULL DEFAULT '30d' CHECK (default_date_range IN ('7d', '30d', '90d', '180d', 'all')),
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);

-- System settings an admin may change (for example the rule that tells non-product lines).
CREATE TABLE data.settings (
  key         text PRIMARY KEY,
  value       jsonb NOT NULL,
  description text,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
