"""The hub's database: connection pool, server capability detection, schema migrations."""
