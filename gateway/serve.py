"""Run the WSGI app under gunicorn (never the Flask dev server), optionally over TLS.

May import: gunicorn, gateway.app, gateway.transports.tls, stdlib. TLS: minimum version 1.2
(HIPAA 164.312(e)); HSTS is added by the app on secure requests.
"""
from __future__ import annotations

import os
import ssl

from gunicorn.app.base import BaseApplication

from gateway.transports.tls import server_context


class GatewayServer(BaseApplication):
    """gunicorn application that builds the app with create_app in each worker."""

    def __init__(self, options: dict, app_factory) -> None:
        self.options = options
        self.app_factory = app_factory
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if value is not None and key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):
        return self.app_factory()


def gunicorn_options(host: str, port: int, workers: int, threads: int = 1,
                     certfile: str | None = None, keyfile: str | None = None) -> dict:
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        # Sync workers for CPU-bound routes (gevent measured p99 80-1300 ms here); threads > 1
        # switches to gthread for slow clients.
        "worker_class": "gthread" if threads > 1 else "sync",
        "threads": threads,
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": None,  # access logs carry query strings, which can carry PHI
        "errorlog": "-",
        "loglevel": "info",
    }
    if certfile:
        options.update(certfile=certfile, keyfile=keyfile, ssl_context=_ssl_context)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        options["child_exit"] = _metrics_worker_exit
    return options


def _metrics_worker_exit(_server, worker) -> None:
    """prometheus_client multiprocess mode: drop a dead worker's live gauges (its counters
    stay summed in /metrics)."""
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def _ssl_context(config, _default_factory) -> ssl.SSLContext:
    """gunicorn's ssl_context hook: TLS 1.2 minimum (HIPAA 164.312(e)(1), NIST SP 800-52r2),
    forward-secret AEAD ciphers only for TLS 1.2 (TLS 1.3 suites are all modern)."""
    context = server_context(config.certfile, config.keyfile)
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!MD5:!DSS")
    return context


def serve(host: str, port: int, workers: int, threads: int = 1,
          certfile: str | None = None, keyfile: str | None = None) -> None:
    from gateway.app import create_app
    GatewayServer(gunicorn_options(host, port, workers, threads, certfile, keyfile), create_app).run()
