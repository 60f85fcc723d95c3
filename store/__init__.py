"""mcwatch persistence: SQLModel tables, one module per domain, Alembic migrations."""
