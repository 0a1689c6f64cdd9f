-- Runs only where TimescaleDB is installed (see README.md). migrate_data: rows written while the database
-- was plain PostgreSQL move into chunks when TimescaleDB arrives later.
SELECT create_hypertable('events', 'ts', if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('telemetry', 'ts', if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('health', 'ts', if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('dead_letters', 'received_at', if_not_exists => TRUE, migrate_data => TRUE);
