-- Measurement: experiments run elsewhere (an offline mailing, a call list) with their arms and outcomes, and
-- customer value (RFM scores, BG/NBD + Gamma-Gamma predictions) with the fitted models.

CREATE TABLE IF NOT EXISTS experiments (
  workspace_id integer NOT NULL,
  experiment_id bigint GENERATED ALWAYS AS IDENTITY,
  name text NOT NULL,
  control_arm text NOT NULL,
  -- which outcomes were imported ('visit', 'conversion', 'spend'): a report never shows a rate nobody measured
  metrics text[] NOT NULL DEFAULT '{}',
  -- the file(s), column mapping and counts of the last import
  source jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, experiment_id),
  UNIQUE (workspace_id, name)
);

-- One row per customer of an experiment. customer_key is the identifier of the file (a user id, or the data row
-- number when the file has none); customer_id is set when that user id is a known customer of the workspace.
CREATE TABLE IF NOT EXISTS experiment_assignments (
  workspace_id integer NOT NULL,
  experiment_id bigint NOT NULL,
  customer_key text NOT NULL,
  customer_id bigint,
  arm text NOT NULL,
  is_control boolean NOT NULL,
  started_at timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, experiment_id, customer_key)
);
CREATE INDEX IF NOT EXISTS experiment_assignments_customer_idx
  ON experiment_assignments (workspace_id, customer_id) WHERE customer_id IS NOT NULL;

-- Outcomes per customer; a customer without a row had no visit, no conversion and no spend.
CREATE TABLE IF NOT EXISTS experiment_outcomes (
  workspace_id integer NOT NULL,
  experiment_id bigint NOT NULL,
  customer_key text NOT NULL,
  visited boolean NOT NULL DEFAULT false,
  converted boolean NOT NULL DEFAULT false,
  spend numeric(20,4) NOT NULL DEFAULT 0 CHECK (spend >= 0),
  PRIMARY KEY (workspace_id, experiment_id, customer_key)
);

-- Every fit of the value models, kept as history; the newest is the current one.
CREATE TABLE IF NOT EXISTS value_models (
  workspace_id integer NOT NULL,
  model_id bigint GENERATED ALWAYS AS IDENTITY,
  fitted_at timestamptz NOT NULL,
  calibration_start timestamptz,
  calibration_end timestamptz NOT NULL,
  horizon_days integer NOT NULL,
  -- 'fitted' (both models), 'partial' (purchases only: the spend model was refused), 'rfm_only', 'no_orders'
  status text NOT NULL,
  reason text,
  customers integer NOT NULL,
  repeat_customers integer NOT NULL,
  bg_nbd jsonb,
  gamma_gamma jsonb,
  log_likelihood double precision,
  holdout jsonb,
  seconds double precision NOT NULL,
  PRIMARY KEY (workspace_id, model_id)
);

-- Current value of each customer who has ordered, from the newest model: one row per (workspace, customer), read
-- by conditions. Prediction columns are NULL when the model could not be fitted (RFM only); RFM columns are NULL
-- for customers with no order in the RFM window.
CREATE TABLE IF NOT EXISTS customer_value (
  workspace_id integer NOT NULL,
  customer_id bigint NOT NULL,
  model_id bigint NOT NULL,
  fitted_at timestamptz NOT NULL,
  rfm_r smallint,
  rfm_f smallint,
  rfm_m smallint,
  rfm_code text,
  rfm_group text,
  frequency integer NOT NULL,
  recency_weeks double precision NOT NULL,
  age_weeks double precision NOT NULL,
  monetary double precision NOT NULL,
  expected_purchases double precision,
  expected_spend double precision,
  expected_value double precision,
  p_alive double precision,
  clv double precision,
  clv_percentile double precision,
  PRIMARY KEY (workspace_id, customer_id)
);
