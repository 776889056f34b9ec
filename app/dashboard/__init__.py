"""The ops dashboard's files: ``static/`` holds its one page, one script and one stylesheet,
served by ``app/api/dashboard.py`` (no build step, nothing from another origin)."""
