"""gunicorn settings for the web process, taken from the same IOC_* variables as the rest of the system.

A module of the installed package, so gunicorn finds it wherever it runs, from a checkout or an installed wheel:
`ioc web` runs `gunicorn -c python:cli.gunicorn_conf webapp:server` (the same by hand). Extra gunicorn options can
be given in GUNICORN_CMD_ARGS, e.g. `--access-logfile -` to turn the access log on.
"""

from __future__ import annotations

from typing import Any

from cli.main import configure_logging, resolve_redis
from ioc.datadir import set_private_umask
from ioc.settings import load_settings

_settings = load_settings()
_host = f"[{_settings.web_host}]" if ":" in _settings.web_host else _settings.web_host

wsgi_app = "webapp:server"  # a top-level module of the package, importable wherever cli is
bind = [f"{_host}:{_settings.web_port}"]
workers = _settings.web_workers
# Threads, not sync workers: a slow or long request must not block a whole worker. Each open wall push stream holds
# a thread of its own (at most IOC_PUSH_STREAMS per worker), so four more are always left for every other request.
REQUEST_THREADS = 4
worker_class = "gthread"
threads = REQUEST_THREADS + _settings.push_streams
worker_connections = 1000 + _settings.push_streams  # gthread's bound on a worker's open connections (default 1000)
timeout = 30
graceful_timeout = 10
keepalive = 5
proc_name = "ioc-web"
accesslog = None
errorlog = "-"
# gunicorn 27 opens a control socket under ~/.gunicorn shared by every instance on the machine; not needed here.
control_socket_disable = True


def on_starting(server: Any) -> None:
    """In the master, before workers fork: files private to the owner (also when run without `ioc web`), app
    logging, and the embedded Redis started once if needed."""
    set_private_umask()
    configure_logging("web")
    resolve_redis(_settings)


def post_worker_init(worker: Any) -> None:
    """In each worker, after the app is loaded and before it accepts connections: finish Dash's set-up."""
    from webapp import warm_up

    warm_up()
