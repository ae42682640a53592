-- The application role: what every function but the migrations logs in as. It reads and writes rows
-- (DML) and nothing else: no DDL, no TRUNCATE, no schema_migrations. The migrations keep the owner
-- (RDS's master user). The role is created without a login here; the migration function gives it its
-- login and its password from its own secret (prepkit.db.migrate.set_app_role_password). Tables and
-- sequences later migrations create get the same grants (default privileges of the owner).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'prepkit_app') THEN
        CREATE ROLE prepkit_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created meanwhile by another database's migration (roles are cluster-wide)
END
$$;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO prepkit_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO prepkit_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO prepkit_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO prepkit_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO prepkit_app;
REVOKE ALL ON schema_migrations FROM prepkit_app;
