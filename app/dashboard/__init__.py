"""The ops dashboard's files: ``static/`` holds its one page, its script (ES modules, one per
concern; ``dashboard.js`` is the entry and lists them) and one stylesheet, served by
``app/api/dashboard.py`` (no build step, nothing from another origin)."""
