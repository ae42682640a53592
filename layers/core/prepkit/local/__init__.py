"""The local stack: embedded PostgreSQL, moto on 127.0.0.1, migrations, and the API under uvicorn."""
