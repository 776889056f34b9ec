"""The ASGI entry point named by the contract: ``app.main:app``. Importing it reads nothing;
the app is built from the environment when the server starts it (``factory.DeferredApp``)."""

from app.factory import DeferredApp, create_app

app = DeferredApp(create_app)
