"""Gunicorn settings for the web process (`gunicorn -c config/gunicorn.py config.wsgi`).

The Procfile (`make prod`) and bench/api.py use this file; the command line still sets the
bind address and the number of worker processes (WEB_CONCURRENCY), and any setting here can
be overridden there.

- Threaded workers (gthread) with keep-alive: API clients (the Python client, CI jobs)
  send many small requests on one connection, and the default sync workers close the
  connection after every response, so each request paid for a new TCP connection. With
  gthread an idle keep-alive connection waits in the worker's poller, not in a thread.
  WEB_THREADS threads per process, default 1. On 2 shared cores bench/api.py measured
  about the same gunicorn CPU per registration with 4 workers of 1 thread (7.6-10.4 ms,
  by the machine's load) as with 4 workers of 4 threads (9.4-10.4 ms): the threads of one
  process share its GIL, so they add no CPU for CPU-bound API load, while every thread
  costs a database connection and, during uploads, two 16 MiB chunk buffers (RSS growth
  during a 1 GiB upload: 32 MiB with 1 thread). Add processes for CPU; raise WEB_THREADS
  where requests mostly wait (slow clients, remote storage). Each thread keeps its own
  database connection (CONN_MAX_AGE), so PostgreSQL sees up to WEB_CONCURRENCY x
  WEB_THREADS connections, twice that once uploads have run: a thread that received
  upload chunks has a writer thread storing them in the background
  (registry.background_writes), with a connection of its own.
- Request bodies are read in blocks of up to 1 MiB (config/gunicorn_reads.py): gunicorn
  reads them 1 KiB at a time, which made reading an 8 MiB upload chunk cost ~30 ms.
- preload_app: Django is imported and set up once, in the master, before the workers
  fork (a faster start and shared memory pages). Nothing opens a database or Redis
  connection at import time, so no connection is shared across the fork.
"""

from __future__ import annotations

import os

from config import gunicorn_reads

worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "1"))
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Seconds an idle keep-alive connection stays open (behind a proxy, keep it above
# the proxy's upstream idle timeout only if the proxy reuses connections).
keepalive = int(os.environ.get("WEB_KEEPALIVE", "15"))
preload_app = True
# A chunked upload's PUT carries up to 16 MiB; a slow client gets this long per request.
timeout = int(os.environ.get("WEB_TIMEOUT", "120"))
graceful_timeout = 30

gunicorn_reads.install()
