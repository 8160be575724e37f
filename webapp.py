"""The app gunicorn serves (`gunicorn webapp:server`): built once per process by app_factory.create_app from the
settings in the environment.

`warm_up()` finishes Dash's one-time set-up before a worker serves (cli/gunicorn_conf.py calls it in each worker); an
inline script in the page reloads it when Dash's own scripts failed to start (layouts/shell.py), so a wall
recovers unattended.
"""

from __future__ import annotations

import app_factory
from ioc.settings import load_settings

app = app_factory.create_app(load_settings())
server = app.server


def warm_up() -> None:
    """Run Dash's first-request set-up of this process's app before it serves (see app_factory.warm_up)."""
    app_factory.warm_up(app)
