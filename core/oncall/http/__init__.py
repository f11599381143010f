"""The HTTP server (aiohttp)."""
