"""PostgreSQL: versioned migrations and the connection pool."""
