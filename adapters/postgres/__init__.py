"""PostgreSQL task store (SQLAlchemy asyncio on asyncpg), its migrations and wake-ups."""
