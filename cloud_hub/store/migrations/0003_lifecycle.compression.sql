-- Native compression settings for the time-series hypertables (Community edition). The policies that compress
-- chunks after a configurable age are added by the hub at start (cloud_hub.store.policies) from its settings.
ALTER TABLE events SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id',
                        timescaledb.compress_orderby = 'ts DESC');
ALTER TABLE telemetry SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id, sensor_id, metric',
                           timescaledb.compress_orderby = 'ts DESC');
ALTER TABLE health SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id',
                        timescaledb.compress_orderby = 'ts DESC');
ALTER TABLE dead_letters SET (timescaledb.compress, timescaledb.compress_orderby = 'received_at DESC');
