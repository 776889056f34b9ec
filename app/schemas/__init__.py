"""The gateway's wire models: what its own API accepts and answers (OpenAPI is built from these),
one module per surface (``admin``: the admin API's answers). Rivya-compatible routes answer
Rivya's JSON as-is and need none of these, but for ``compat``'s request body, which documents
the drop-in create.
"""
