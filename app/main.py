"""The ASGI entry point named by the contract: ``app.main:app``."""

from app.factory import create_app

app = create_app()
