"""Gunicorn settings for the web process (`gunicorn -c config/gunicorn.py config.wsgi`).

The Procfile (`make prod`) and bench/api.py use this file; the command line still sets the
bind address and the number of worker processes (WEB_CONCURRENCY), and any setting here can
be overridden there.

- Threaded workers (gthread) with keep-alive: API clients (the Python client, CI jobs)
  send many small requests on one connection, and the default sync workers close the
  connection after every response, so each request paid for a new TCP connection. With
  gthread an idle keep-alive connection waits in the worker's poller, not in a thread.
  WEB_THREADS threads per process, default 1: measured with bench/api.py on 2 cores, 4
  workers of 1 thread spent 7.6 ms of gunicorn CPU per registration where 4 workers of 4
  threads spent 9.4-10 ms (the threads of one process contend for its GIL), so add
  processes for CPU-bound load and threads only where requests mostly wait (slow clients,
  remote storage). Each thread keeps its own database connection (CONN_MAX_AGE), so
  PostgreSQL sees up to WEB_CONCURRENCY x WEB_THREADS connections.
- preload_app: Django is imported and set up once, in the master, before the workers
  fork (a faster start and shared memory pages). Nothing opens a database or Redis
  connection at import time, so no connection is shared across the fork.
"""

from __future__ import annotations

import os

worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "1"))
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Seconds an idle keep-alive connection stays open (behind a proxy, keep it above
# the proxy's upstream idle timeout only if the proxy reuses connections).
keepalive = int(os.environ.get("WEB_KEEPALIVE", "15"))
preload_app = True
# A chunked upload's PUT carries up to 8 MiB; a slow client gets this long per request.
timeout = int(os.environ.get("WEB_TIMEOUT", "120"))
graceful_timeout = 30
