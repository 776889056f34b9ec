"""ASGI entry point of the simulator: ``uvicorn app.simulator.main:app``."""

from app.simulator.app import create_simulator_app

app = create_simulator_app()
