-- The hub's own database role, cityops_hub: it owns the hub's database and the objects its migrations create, and
-- nothing else. Not a superuser: it cannot read or write the server's files, run programs (COPY ... PROGRAM), create
-- roles or databases, or bypass the triggers that keep the audit log append-only for everyone but an owner who
-- first drops them (which `cityops audit verify` then catches; see docs/audit.md). The superuser `postgres` is used
-- only by these init files.
--
-- The TimescaleDB image runs this file with psql once, in POSTGRES_DB, when the data directory is first created
-- (/docker-entrypoint-initdb.d), before 10-grafana-role.sql and before the hub migrates anything. On a database
-- created before this file existed, run it by hand (idempotent; it also resets the password), then hand the
-- existing objects over with `REASSIGN OWNED BY postgres TO cityops_hub` in that database:
--   docker compose exec db psql -U postgres -d cityops -f /docker-entrypoint-initdb.d/05-hub-role.sql
-- The password comes from HUB_DB_PASSWORD in the db container's environment (compose sets it); psql reads it with
-- \getenv so it is never written in a file.

\set ON_ERROR_STOP on
\getenv hub_password HUB_DB_PASSWORD
\if :{?hub_password}
SELECT length(:'hub_password') = 0 AS hub_password_empty \gset
\else
\set hub_password_empty true
\endif
\if :hub_password_empty
DO $$ BEGIN RAISE EXCEPTION 'HUB_DB_PASSWORD is not set (or empty) in the environment of psql (the db container)'; END $$;
\endif

-- Keep the password out of the server log even where log_statement records DDL.
SET log_statement = 'none';

SELECT 'CREATE ROLE cityops_hub' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cityops_hub') \gexec
ALTER ROLE cityops_hub WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'hub_password';

-- Its database and schema: migrations create tables, hypertables, views and functions there as their owner.
SELECT format('ALTER DATABASE %I OWNER TO cityops_hub', current_database()) \gexec
ALTER SCHEMA public OWNER TO cityops_hub;

-- Extensions need a superuser to create; the hub's migrations find TimescaleDB installed and use it.
SELECT 'CREATE EXTENSION IF NOT EXISTS timescaledb'
WHERE EXISTS (SELECT FROM pg_available_extensions WHERE name = 'timescaledb')
  AND current_setting('shared_preload_libraries') LIKE '%timescaledb%' \gexec
