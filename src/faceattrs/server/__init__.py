"""The web app and HTTP API (FastAPI, imported only when the app is built)."""
