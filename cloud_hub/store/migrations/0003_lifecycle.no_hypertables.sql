-- Plain PostgreSQL: time-leading indexes for the retention sweeps (hypertables get them from create_hypertable).
CREATE INDEX IF NOT EXISTS telemetry_ts_idx ON telemetry (ts DESC);
CREATE INDEX IF NOT EXISTS health_ts_idx ON health (ts DESC);
