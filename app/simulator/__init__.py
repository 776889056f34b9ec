"""The Rivya simulator: a stand-in for Rivya's public API v1 with in-memory state and faults.

It imports only the catalogue, the clock and the Rivya wire models from the project, so the
gateway cannot lean on anything Rivya itself would not give it.
"""
