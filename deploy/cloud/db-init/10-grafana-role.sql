-- Read-only role for Grafana (deploy/cloud/grafana/datasources.yaml): SELECT on the hub's tables and views, now and
-- later, but never on credential columns (password, secret and token hashes).
--
-- The TimescaleDB image runs this file with psql once, in POSTGRES_DB, when the data directory is first created
-- (/docker-entrypoint-initdb.d), before the hub has migrated anything; default privileges and the event trigger
-- below cover the tables the hub creates afterwards. On a database created before this file existed, run it by
-- hand (it is idempotent and also resets the password):
--   docker compose exec db psql -U postgres -d cityops -f /docker-entrypoint-initdb.d/10-grafana-role.sql
-- The password comes from GRAFANA_DB_PASSWORD in the db container's environment (compose sets it); psql reads
-- it with \getenv so it is never written in a file.

\set ON_ERROR_STOP on
\getenv grafana_password GRAFANA_DB_PASSWORD
\if :{?grafana_password}
SELECT length(:'grafana_password') = 0 AS grafana_password_empty \gset
\else
\set grafana_password_empty true
\endif
\if :grafana_password_empty
DO $$ BEGIN RAISE EXCEPTION 'GRAFANA_DB_PASSWORD is not set (or empty) in the environment of psql (the db container)'; END $$;
\endif

-- Keep the password out of the server log even where log_statement records DDL.
SET log_statement = 'none';

SELECT 'CREATE ROLE grafana_reader' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'grafana_reader') \gexec
ALTER ROLE grafana_reader WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION CONNECTION LIMIT 20
    PASSWORD :'grafana_password';
-- Belt and braces: every transaction read-only, and no dashboard query can hold the database for long.
ALTER ROLE grafana_reader SET default_transaction_read_only = on;
ALTER ROLE grafana_reader SET statement_timeout = '30s';

SELECT format('GRANT CONNECT ON DATABASE %I TO grafana_reader', current_database()) \gexec
GRANT USAGE ON SCHEMA public TO grafana_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO grafana_reader;
-- Tables and views the hub's migrations create later: as the hub's role cityops_hub (05-hub-role.sql) where it
-- exists, else as the role running this file.
SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cityops_hub') AS hub_role_exists \gset
\if :hub_role_exists
ALTER DEFAULT PRIVILEGES FOR ROLE cityops_hub IN SCHEMA public GRANT SELECT ON TABLES TO grafana_reader;
\else
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO grafana_reader;
\endif

-- A relation with credential columns gets column privileges instead: SELECT on every other column.
CREATE OR REPLACE FUNCTION public.grafana_reader_hide_credentials(rel regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    visible text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = rel AND attnum > 0 AND NOT attisdropped
                   AND attname ~ '(password|secret|token)') THEN
        RETURN;
    END IF;
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO visible
    FROM pg_attribute
    WHERE attrelid = rel AND attnum > 0 AND NOT attisdropped AND attname !~ '(password|secret|token)';
    EXECUTE format('REVOKE SELECT ON %s FROM grafana_reader', rel);
    IF visible IS NOT NULL THEN
        EXECUTE format('GRANT SELECT (%s) ON %s TO grafana_reader', visible, rel);
    END IF;
END;
$$;

-- After every CREATE/ALTER of a table or view in public (migrations), re-apply the rule to it. A failure here
-- must never fail the hub's migration, so it is reported as a warning.
CREATE OR REPLACE FUNCTION public.grafana_reader_on_ddl() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
    obj record;
BEGIN
    FOR obj IN SELECT objid FROM pg_event_trigger_ddl_commands()
               WHERE schema_name = 'public' AND object_type IN ('table', 'view', 'materialized view') LOOP
        BEGIN
            PERFORM public.grafana_reader_hide_credentials(obj.objid::regclass);
        EXCEPTION WHEN others THEN
            RAISE WARNING 'grafana_reader: could not restrict %: %', obj.objid::regclass, SQLERRM;
        END;
    END LOOP;
END;
$$;

DROP EVENT TRIGGER IF EXISTS grafana_reader_hide_credentials;
CREATE EVENT TRIGGER grafana_reader_hide_credentials ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'ALTER TABLE', 'CREATE VIEW', 'ALTER VIEW',
                 'CREATE MATERIALIZED VIEW')
    EXECUTE FUNCTION public.grafana_reader_on_ddl();

REVOKE EXECUTE ON FUNCTION public.grafana_reader_hide_credentials(regclass) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION public.grafana_reader_on_ddl() FROM PUBLIC;
-- The trigger runs as whoever issued the DDL: the hub's role must be able to call it on the tables it owns.
\if :hub_role_exists
GRANT EXECUTE ON FUNCTION public.grafana_reader_hide_credentials(regclass) TO cityops_hub;
GRANT EXECUTE ON FUNCTION public.grafana_reader_on_ddl() TO cityops_hub;
\endif

-- Relations that already exist (this file run by hand on a migrated database).
DO $$
DECLARE
    rel regclass;
BEGIN
    FOR rel IN SELECT c.oid FROM pg_class c
               WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm') LOOP
        PERFORM public.grafana_reader_hide_credentials(rel);
    END LOOP;
END;
$$;
