"""gunicorn settings, read from the repository root by default (`gunicorn artsearch.wsgi ...`
started there; command-line options override these).

A request line longer than `limit_request_line` is answered by gunicorn itself, with an HTML
error page, before Django sees it. 8190 bytes is gunicorn's highest finite limit (the default is
4094): a long text query reaches the app, whose JSON API refuses a parameter over
ARTSEARCH_MAX_PARAM_CHARS (2,000 characters) with a JSON 400 (recommender.middleware). Only a
request line over 8 KiB still gets gunicorn's own answer.
"""

limit_request_line = 8190
