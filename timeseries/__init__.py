"""Storage: schema and migrations, the batch writer, and read queries (PostgreSQL / TimescaleDB)."""
