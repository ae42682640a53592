"""HTTP adapter: FastAPI app, routers, auth, rate limits and the one error mapping."""
