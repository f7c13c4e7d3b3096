"""API benchmark (issue 4 targets): metadata-only registration and a large artifact round trip.

Run from the repository root, with PostgreSQL at 127.0.0.1:5432 (user postgres, trust)::

    .venv/bin/python bench/api.py [--workers 4] [--registrations 2000] [--concurrency 8]
                                  [--upload-mib 1024] [--json out.json] [--keep]

What it does, all against 127.0.0.1 only:

1. Creates a fresh database ``modelgate_bench_api`` (dropped first if it exists), migrates
   it, and creates a team ``bench``, a maintainer with a read+write API token, and two
   semantic-versioned models: ``bench/metadata-only`` and ``bench/artifact``.
2. Starts ``gunicorn -c config/gunicorn.py config.wsgi -w WORKERS`` (the production
   settings: gthread workers with keep-alive) on a free port (DEBUG off, PostgreSQL,
   artifacts under /tmp/bench-api-var) and waits until it answers.
3. Metadata-only registration: sequential p50/p95 latency of POST …/versions (warm-up
   first), then CONCURRENCY client threads (each its own connection) registering
   REGISTRATIONS versions in total -> registrations/s; then checks through Django that the
   model's sequence numbers are exactly 1..count (unique, gap-free). Over that window it
   counts the CPU time of the client, of gunicorn and of the benchmark database's
   PostgreSQL backends (per registration, and so the most the CPUs could do), and what
   everything else on the machine used meanwhile.
4. Large artifact: writes UPLOAD_MIB MiB of random bytes to /tmp (hashing as it goes),
   times ``cp`` + ``sync`` of it on the same disk (the baseline), uploads it through the
   chunked protocol (PUTs of the server's chunk size, as the Python client sends them, one
   connection), completes, registers a version with it,
   then streams it back from the download URL verifying the SHA-256. The gunicorn master's
   and workers' RSS (VmRSS) is sampled every 0.2 s throughout.
5. Prints the figures with PASS/FAIL per target (optionally --json), stops gunicorn,
   deletes the temporary files and drops the database (unless --keep).

Exit status: 0 if every target passed, 1 if any failed or the run broke.

Notes on the client: it uses only the standard library (http.client), one persistent
connection per client thread, as the Python client's requests.Session does. The server
keeps connections open (config/gunicorn.py); should it close one, the client reconnects
transparently and the figures include that connect.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import itertools
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DB_NAME = "modelgate_bench_api"
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
VAR_DIR = Path("/tmp/bench-api-var")
TEAM, META_MODEL, ART_MODEL = "bench", "metadata-only", "artifact"
MIB = 1024 * 1024
HTTP_TIMEOUT = 300  # seconds, per request: everything stops by itself
TARGETS = {
    "p50_ms": 20.0,
    "registrations_per_s": 150.0,
    "upload_vs_cp_sync": 0.40,
    "rss_growth_mib": 100.0,
}


def env_for_server() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{DB_NAME}",
        MODELGATE_VAR_DIR=str(VAR_DIR),
        MODELGATE_MODE="development",
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1",
        LOG_LEVEL="WARNING",
    )
    env.pop("MODELGATE_ARTIFACT_DIR", None)
    env.pop("ARTIFACTS_S3_BUCKET", None)
    env.pop("REDIS_URL", None)
    return env


# --- Django-side steps (run in a subprocess with the benchmark environment) --------------


def django_step(step: str, arg: str) -> None:
    """`setup`: team, maintainer, token, models; `check`: the model's sequence numbers."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from accounts import tokens
    from accounts.models import Membership, Team, User
    from registry import services
    from registry.models import ModelVersion

    if step == "setup":
        team = Team.objects.create(name="Bench", slug=TEAM)
        user = User.objects.create_user("bench-maintainer", "bench@example.invalid", None)
        Membership.objects.create(user=user, team=team, role=Membership.Role.MAINTAINER)
        for name in (META_MODEL, ART_MODEL):
            services.create_model(team=team, name=name, actor=user, versioning_scheme="semantic")
        _token, secret = tokens.create(user, name="bench", scopes=["read", "write"])
        print(json.dumps({"token": secret}))
    elif step == "check":
        seqs = list(
            ModelVersion.objects.filter(model__team__slug=TEAM, model__name=arg)
            .order_by("sequence")
            .values_list("sequence", flat=True)
        )
        print(json.dumps({"sequences": seqs}))
    else:
        raise SystemExit(f"unknown step {step}")


def run_step(step: str, arg: str = "") -> dict[str, Any]:
    proc = subprocess.run(
        [PYTHON, str(Path(__file__).resolve()), "--django-step", step, "--step-arg", arg],
        cwd=ROOT,
        env=env_for_server(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"django step {step} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- database and server -------------------------------------------------------------------


def recreate_database() -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=10, **PG) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def drop_database() -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=10, **PG) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def migrate() -> None:
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env_for_server(),
        check=True,
        timeout=600,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, workers: int, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        gunicorn = str(Path(PYTHON).parent / "gunicorn")
        self.proc = subprocess.Popen(
            [
                gunicorn,
                "-c",
                str(ROOT / "config" / "gunicorn.py"),
                "config.wsgi",
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--timeout",
                "300",
                "--graceful-timeout",
                "10",
            ],
            cwd=ROOT,
            env=env_for_server(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/api/v1/openapi.json")
                resp = conn.getresponse()
                resp.read()
                conn.close()
                if resp.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError("gunicorn did not answer in time")

    def pids(self) -> list[int]:
        """The master and its children (the workers)."""
        master = self.proc.pid
        children: list[int] = []
        try:
            text = Path(f"/proc/{master}/task/{master}/children").read_text()
            children = [int(p) for p in text.split()]
        except OSError:
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        for line in (entry / "status").read_text().splitlines():
                            if line.startswith("PPid:") and int(line.split()[1]) == master:
                                children.append(int(entry.name))
                    except OSError:
                        continue
        return [master, *children]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes, in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def bench_database_backends() -> list[int]:
    """The PostgreSQL backends serving the benchmark's database (their process titles name
    it), not those of anything else using the same server."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() != "postgres":
                    continue
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if f" {DB_NAME} " in title:
                pids.append(int(entry.name))
    return pids


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent running anything (not idle, not stolen)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


class CpuWatch:
    """CPU time over a window: this process (the client), the gunicorn processes, the
    database's backends (sampled every 0.5 s, so one that exits keeps what it used) and
    the machine as a whole, to show how much of it went to anything else."""

    def __init__(self, server_pids: list[int]) -> None:
        self.server_pids = server_pids
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.pg_start: dict[int, float] = {}
        self.pg_last: dict[int, float] = {}

    def _sample_pg(self) -> None:
        for pid in bench_database_backends():
            self.pg_last[pid] = cpu_seconds([pid])

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._sample_pg()

    def start(self) -> None:
        self._sample_pg()
        self.pg_start = dict(self.pg_last)
        self.t0 = (time.process_time(), cpu_seconds(self.server_pids), machine_busy_seconds())
        self.load0 = os.getloadavg()[0]
        self._thread.start()

    def stop(self) -> dict[str, float]:
        t1 = (time.process_time(), cpu_seconds(self.server_pids), machine_busy_seconds())
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample_pg()
        pg = sum(cpu - self.pg_start.get(pid, 0.0) for pid, cpu in self.pg_last.items())
        client, gunicorn, busy = (b - a for a, b in zip(self.t0, t1, strict=True))
        return {
            "client": round(client, 1),
            "gunicorn": round(gunicorn, 1),
            "postgres": round(pg, 1),
            "machine_busy": round(busy, 1),
            "elsewhere": round(max(0.0, busy - client - gunicorn - pg), 1),
            "load_average": round(max(self.load0, os.getloadavg()[0]), 2),
        }


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """Samples every gunicorn process's VmRSS every `interval` s, tagged with a phase."""

    def __init__(self, server: Server, interval: float = 0.2) -> None:
        self.server, self.interval = server, interval
        self.phase = "idle"
        self.samples: list[tuple[str, dict[int, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def sample(self) -> None:
        pids = self.server.pids()
        self.samples.append((self.phase, {pid: rss_kib(pid) for pid in pids}))

    def mark(self, phase: str) -> None:
        """End the current phase with a sample and start `phase` with one."""
        self.sample()
        self.phase = phase
        self.sample()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def baseline(self, phase: str) -> dict[int, int]:
        """Per-process median RSS over the phase's samples."""
        per: dict[int, list[int]] = {}
        for tag, sample in self.samples:
            if tag == phase:
                for pid, kib in sample.items():
                    per.setdefault(pid, []).append(kib)
        return {pid: sorted(v)[len(v) // 2] for pid, v in per.items()}

    def growth(self, phase: str, base: dict[int, int]) -> dict[str, float]:
        """Peak growth over the baseline in MiB: of the sum of all processes and of any
        single process."""
        base_total = sum(base.values())
        peak_total, peak_single, n = 0.0, 0.0, 0
        for tag, sample in self.samples:
            if tag != phase:
                continue
            n += 1
            total = sum(sample.values())
            peak_total = max(peak_total, total - base_total)
            for pid, kib in sample.items():
                peak_single = max(peak_single, kib - base.get(pid, kib))
        return {
            "total_mib": round(peak_total / 1024, 1),
            "single_process_mib": round(peak_single / 1024, 1),
            "samples": n,
            "baseline_total_mib": round(base_total / 1024, 1),
        }


# --- HTTP client ----------------------------------------------------------------------------


class ServerError(Exception):
    pass


@dataclass
class Client:
    port: int
    token: str
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        hdrs = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                return resp.status, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # a closed keep-alive connection; retry once on a fresh one
                self.conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, payload: Any, expect: int) -> Any:
        status, data = self.request(
            method, path, json.dumps(payload).encode(), {"Content-Type": "application/json"}
        )
        if status != expect:
            msg = f"{method} {path} -> {status}: {data[:500].decode(errors='replace')}"
            self.errors.append(msg)
            raise ServerError(msg)
        return json.loads(data) if data else None

    def close(self) -> None:
        self.conn.close()


def version_payload(version: str, i: int) -> dict[str, Any]:
    return {
        "version": version,
        "description": f"bench run {i}",
        "metrics": {
            "test": {"auc": 0.9 + (i % 97) / 10000, "loss": 0.1 + (i % 13) / 100},
            "validation": {"accuracy": 0.8 + (i % 7) / 100},
        },
        "params": {
            "lr": 0.001 * (1 + i % 5),
            "epochs": 10 + i % 3,
            "batch_size": 32,
            "optimizer": "adam",
        },
        "tags": {"run": str(i)},
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


# --- phases ---------------------------------------------------------------------------------


def bench_metadata(server: Server, token: str, args: argparse.Namespace) -> dict[str, Any]:
    port = server.port
    path = f"/api/v1/models/{TEAM}/{META_MODEL}/versions"
    counter = itertools.count()
    client = Client(port, token)
    for _ in range(args.warmup):
        i = next(counter)
        client.json("POST", path, version_payload(f"1.0.{i}", i), 201)
    timings = []
    for _ in range(args.sequential):
        i = next(counter)
        t0 = time.perf_counter()
        client.json("POST", path, version_payload(f"1.0.{i}", i), 201)
        timings.append((time.perf_counter() - t0) * 1000)
    client.close()
    sequential = {
        "requests": len(timings),
        "p50_ms": round(percentile(timings, 0.5), 2),
        "p95_ms": round(percentile(timings, 0.95), 2),
        "max_ms": round(max(timings), 2),
    }

    first = args.warmup + args.sequential
    total = args.registrations
    lock = threading.Lock()
    issued = itertools.count(first)
    stop_at = first + total
    latencies: list[float] = []
    errors: list[str] = []
    barrier = threading.Barrier(args.concurrency + 1)

    def worker() -> None:
        c = Client(port, token)
        mine: list[float] = []
        barrier.wait(timeout=60)
        try:
            while True:
                with lock:
                    i = next(issued)
                if i >= stop_at:
                    break
                t0 = time.perf_counter()
                try:
                    c.json("POST", path, version_payload(f"1.0.{i}", i), 201)
                except (ServerError, OSError) as exc:
                    errors.append(str(exc))
                    if len(errors) > 50:
                        break
                    continue
                mine.append((time.perf_counter() - t0) * 1000)
        finally:
            c.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    watch = CpuWatch(server.pids())
    barrier.wait(timeout=60)
    t0 = time.perf_counter()
    watch.start()
    for t in threads:
        t.join(timeout=1800)
    elapsed = time.perf_counter() - t0
    cpu = watch.stop()
    ok = len(latencies)
    ours = cpu["client"] + cpu["gunicorn"] + cpu["postgres"]
    per_registration_ms = ours / ok * 1000 if ok else 0.0
    concurrent = {
        "clients": args.concurrency,
        "registrations": ok,
        "errors": len(errors),
        "error_samples": errors[:5],
        "seconds": round(elapsed, 2),
        "registrations_per_s": round(ok / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(percentile(latencies, 0.5), 2) if latencies else None,
        "p95_ms": round(percentile(latencies, 0.95), 2) if latencies else None,
        "cpu_s": cpu,
        # What the registrations cost in CPU (client, server and database together), and
        # so the most the machine's CPUs could do with nothing else running.
        "cpu_ms_per_registration": {
            name: round(cpu[name] / ok * 1000, 2) if ok else None
            for name in ("client", "gunicorn", "postgres")
        },
        "cpu_bound_registrations_per_s": (
            round((os.cpu_count() or 1) * 1000 / per_registration_ms, 1)
            if per_registration_ms
            else None
        ),
    }

    expected = first + ok
    seqs = run_step("check", META_MODEL)["sequences"]
    gap_free = seqs == list(range(1, len(seqs) + 1))
    sequences = {
        "expected_versions": expected,
        "versions": len(seqs),
        "unique": len(set(seqs)) == len(seqs),
        "gap_free": gap_free,
        "min": seqs[0] if seqs else None,
        "max": seqs[-1] if seqs else None,
        "ok": gap_free and len(seqs) == expected,
    }
    return {"sequential": sequential, "concurrent": concurrent, "sequences": sequences}


def make_file(path: Path, mib: int) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        for _ in range(mib):
            block = os.urandom(MIB)
            digest.update(block)
            fh.write(block)
        fh.flush()
        os.fsync(fh.fileno())
    return digest.hexdigest()


def cp_sync_baseline(src: Path, dst: Path) -> float:
    subprocess.run(["sync"], check=True, timeout=600)
    t0 = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True, timeout=600)
    subprocess.run(["sync"], check=True, timeout=600)
    elapsed = time.perf_counter() - t0
    dst.unlink()
    subprocess.run(["sync"], check=True, timeout=600)
    return elapsed


def bench_artifact(
    server: Server, token: str, args: argparse.Namespace, tmp: Path
) -> dict[str, Any]:
    src = tmp / "artifact.bin"
    mib = args.upload_mib
    t0 = time.perf_counter()
    sha = make_file(src, mib)
    gen_s = time.perf_counter() - t0
    size = src.stat().st_size
    cp_s = cp_sync_baseline(src, tmp / "artifact-copy.bin")
    cp_mibs = mib / cp_s

    sampler = RssSampler(server)
    sampler.phase = "before"
    sampler.start()
    time.sleep(2.0)  # about 10 baseline samples
    base = sampler.baseline("before")

    client = Client(server.port, token)
    result: dict[str, Any] = {
        "size_mib": mib,
        "sha256": sha,
        "generate_s": round(gen_s, 2),
        "cp_sync_s": round(cp_s, 2),
        "cp_sync_mib_s": round(cp_mibs, 1),
    }
    try:
        sampler.mark("upload")
        t_up = time.perf_counter()
        session = client.json("POST", "/api/v1/uploads", {"sha256": sha, "size": size}, 201)
        chunk_size = int(session["chunk_size"])
        put_times = []
        with open(src, "rb") as fh:
            offset = 0
            while offset < size:
                data = fh.read(chunk_size)
                end = offset + len(data) - 1
                tp = time.perf_counter()
                status, body = client.request(
                    "PUT",
                    f"/api/v1/uploads/{session['id']}",
                    data,
                    {
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"bytes {offset}-{end}/{size}",
                    },
                )
                put_times.append(time.perf_counter() - tp)
                if status != 200:
                    raise ServerError(f"PUT chunk at {offset} -> {status}: {body[:300]!r}")
                offset = json.loads(body)["offset"]
        t_chunks = time.perf_counter() - t_up
        tc = time.perf_counter()
        client.json("POST", f"/api/v1/uploads/{session['id']}/complete", {}, 200)
        complete_s = time.perf_counter() - tc
        tr = time.perf_counter()
        registered = client.json(
            "POST",
            f"/api/v1/models/{TEAM}/{ART_MODEL}/versions",
            {
                "version": "1.0.0",
                "files": [{"path": "model.bin", "sha256": sha}],
                "metrics": {"test": {"auc": 0.9}},
            },
            201,
        )
        register_s = time.perf_counter() - tr
        up_s = time.perf_counter() - t_up
        up_mibs = mib / up_s
        result["upload"] = {
            "seconds": round(up_s, 2),
            "mib_s": round(up_mibs, 1),
            "vs_cp_sync": round(up_mibs / cp_mibs, 3),
            "chunks": len(put_times),
            "chunks_s": round(t_chunks, 2),
            "put_p50_ms": round(percentile(put_times, 0.5) * 1000, 1),
            "put_max_ms": round(max(put_times) * 1000, 1),
            "complete_s": round(complete_s, 2),
            "register_s": round(register_s, 2),
        }
        sampler.mark("between")
        time.sleep(1.0)

        # Download: GET the version, then stream its artifact, hashing.
        status, body = client.request("GET", f"/api/v1/models/{TEAM}/{ART_MODEL}/versions/1.0.0")
        if status != 200:
            raise ServerError(f"GET version -> {status}: {body[:300]!r}")
        artifact = json.loads(body)["artifacts"][0]
        url = urlsplit(artifact["download_url"])
        if url.hostname != "127.0.0.1":
            raise RuntimeError(f"download_url points elsewhere: {artifact['download_url']}")
        assert registered["artifacts"][0]["sha256"] == sha
        sampler.mark("download")
        td = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=HTTP_TIMEOUT)
        conn.request("GET", url.path, headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise ServerError(f"download -> {resp.status}: {resp.read(300)!r}")
        digest, got = hashlib.sha256(), 0
        while True:
            block = resp.read(MIB)
            if not block:
                break
            digest.update(block)
            got += len(block)
        conn.close()
        down_s = time.perf_counter() - td
        sampler.mark("after")
        time.sleep(1.0)
        result["download"] = {
            "seconds": round(down_s, 2),
            "mib_s": round(got / MIB / down_s, 1),
            "bytes": got,
            "sha256_ok": digest.hexdigest() == sha and got == size,
            "x_checksum_header_ok": resp.getheader("X-Checksum-SHA256") == sha,
        }
    finally:
        sampler.stop()
        client.close()
        src.unlink(missing_ok=True)
    up = sampler.growth("upload", base)
    down = sampler.growth("download", base)
    result["rss"] = {
        "baseline_total_mib": up["baseline_total_mib"],
        "processes": len(base),
        "upload_growth": up,
        "download_growth": down,
        "peak_growth_mib": max(up["total_mib"], down["total_mib"]),
    }
    return result


# --- report ---------------------------------------------------------------------------------


def verdicts(res: dict[str, Any]) -> list[tuple[str, str, bool]]:
    out = []
    meta = res.get("metadata")
    if meta:
        p50 = meta["sequential"]["p50_ms"]
        out.append(
            (
                f"metadata registration p50 < {TARGETS['p50_ms']:.0f} ms",
                f"{p50} ms",
                p50 < TARGETS["p50_ms"],
            )
        )
        rps = meta["concurrent"]["registrations_per_s"]
        out.append(
            (
                f"{meta['concurrent']['clients']} clients >= {TARGETS['registrations_per_s']:.0f} "
                "registrations/s",
                f"{rps}/s",
                rps >= TARGETS["registrations_per_s"],
            )
        )
        seq = meta["sequences"]
        out.append(
            (
                "sequence numbers unique and gap-free (1..n)",
                f"{seq['versions']} versions, {seq['min']}..{seq['max']}",
                seq["ok"] and meta["concurrent"]["errors"] == 0,
            )
        )
    art = res.get("artifact")
    if art and "upload" in art:
        ratio = art["upload"]["vs_cp_sync"]
        out.append(
            (
                f"upload >= {TARGETS['upload_vs_cp_sync']:.0%} of cp+sync",
                f"{ratio:.0%} ({art['upload']['mib_s']} vs {art['cp_sync_mib_s']} MiB/s)",
                ratio >= TARGETS["upload_vs_cp_sync"],
            )
        )
        growth = art["rss"]["peak_growth_mib"]
        out.append(
            (
                f"server peak RSS growth < {TARGETS['rss_growth_mib']:.0f} MiB",
                f"{growth} MiB",
                growth < TARGETS["rss_growth_mib"],
            )
        )
        if "download" in art:
            out.append(
                (
                    "download SHA-256 verified",
                    str(art["download"]["sha256_ok"]),
                    art["download"]["sha256_ok"],
                )
            )
    return out


def report(res: dict[str, Any]) -> bool:
    print()
    print(
        f"Modelgate API benchmark  (gunicorn -w {res['workers']}, PostgreSQL, "
        f"{os.cpu_count()} CPUs)"
    )
    meta = res.get("metadata")
    if meta:
        s, c = meta["sequential"], meta["concurrent"]
        print("\nMetadata-only registration")
        print(
            f"  sequential: {s['requests']} requests  p50 {s['p50_ms']} ms  "
            f"p95 {s['p95_ms']} ms  max {s['max_ms']} ms"
        )
        print(
            f"  concurrent: {c['clients']} clients, {c['registrations']} registrations in "
            f"{c['seconds']} s = {c['registrations_per_s']}/s  "
            f"(p50 {c['p50_ms']} ms, p95 {c['p95_ms']} ms, errors {c['errors']})"
        )
        cpu, per = c["cpu_s"], c["cpu_ms_per_registration"]
        print(
            f"    CPU seconds in that window ({c['seconds']} s wall, {os.cpu_count()} CPUs): "
            f"client {cpu['client']}, gunicorn {cpu['gunicorn']}, postgres (benchmark "
            f"database) {cpu['postgres']}; anything else on the machine {cpu['elsewhere']} "
            f"(load average up to {cpu['load_average']})"
        )
        if c["cpu_bound_registrations_per_s"]:
            print(
                f"    CPU per registration: client {per['client']} ms, gunicorn "
                f"{per['gunicorn']} ms, postgres {per['postgres']} ms: {os.cpu_count()} CPUs "
                f"can do at most {c['cpu_bound_registrations_per_s']}/s with nothing else "
                "running"
            )
        for e in c["error_samples"]:
            print(f"    error: {e}")
        q = meta["sequences"]
        print(
            f"  sequences: {q['versions']} versions (expected {q['expected_versions']}), "
            f"unique={q['unique']} gap_free={q['gap_free']} range {q['min']}..{q['max']}"
        )
    art = res.get("artifact")
    if art and "size_mib" in art:
        print(f"\nArtifact of {art['size_mib']} MiB (generated in {art['generate_s']} s)")
        print(f"  cp + sync baseline: {art['cp_sync_s']} s = {art['cp_sync_mib_s']} MiB/s")
        if "upload" in art:
            u = art["upload"]
            print(
                f"  upload: {u['seconds']} s = {u['mib_s']} MiB/s ({u['vs_cp_sync']:.0%} of "
                f"cp+sync); {u['chunks']} PUTs in {u['chunks_s']} s (p50 {u['put_p50_ms']} "
                f"ms, max {u['put_max_ms']} ms), complete {u['complete_s']} s, "
                f"register {u['register_s']} s"
            )
        if "download" in art:
            d = art["download"]
            print(
                f"  download: {d['seconds']} s = {d['mib_s']} MiB/s, sha256 ok "
                f"{d['sha256_ok']}, X-Checksum-SHA256 ok {d['x_checksum_header_ok']}"
            )
        if "rss" in art:
            r = art["rss"]
            print(
                f"  RSS: baseline {r['baseline_total_mib']} MiB over {r['processes']} "
                "processes (master + workers)"
            )
            for phase in ("upload", "download"):
                g = r[f"{phase}_growth"]
                print(
                    f"    during {phase}: peak growth {g['total_mib']} MiB total, "
                    f"{g['single_process_mib']} MiB in one process ({g['samples']} samples)"
                )
    if res.get("error"):
        print(f"\nRUN ERROR: {res['error']}")
    if res.get("server_log_errors"):
        print("\nServer log (errors):")
        for line in res["server_log_errors"]:
            print(f"  {line}")
    print("\nTargets")
    results = verdicts(res)
    for name, value, ok in results:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {value}")
    all_ok = bool(results) and all(ok for _n, _v, ok in results) and not res.get("error")
    print(f"\n{'ALL PASS' if all_ok else 'SOME TARGETS FAILED'}")
    return all_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--registrations", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sequential", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--upload-mib", type=int, default=1024)
    parser.add_argument("--tmp", default="/tmp", help="where the artifact file is written")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--django-step", help=argparse.SUPPRESS)
    parser.add_argument("--step-arg", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.django_step:
        django_step(args.django_step, args.step_arg)
        return 0

    tmp = Path(args.tmp) / f"bench-api-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    need = args.upload_mib * MIB * 2.2
    free = shutil.disk_usage(tmp).free
    if free < need:
        print(
            f"not enough space in {tmp}: {free / MIB:.0f} MiB free, about "
            f"{need / MIB:.0f} MiB needed; use a smaller --upload-mib",
            file=sys.stderr,
        )
        return 1
    shutil.rmtree(VAR_DIR, ignore_errors=True)
    res: dict[str, Any] = {"workers": args.workers}
    server: Server | None = None
    try:
        print(f"creating database {DB_NAME} and migrating…", flush=True)
        recreate_database()
        migrate()
        token = run_step("setup")["token"]
        server = Server(args.workers, tmp / "gunicorn.log")
        server.wait_ready()
        print(
            f"gunicorn -w {args.workers} on 127.0.0.1:{server.port} (pid {server.proc.pid})",
            flush=True,
        )
        print("metadata-only registration…", flush=True)
        res["metadata"] = bench_metadata(server, token, args)
        print(f"artifact of {args.upload_mib} MiB…", flush=True)
        res["artifact"] = {}
        res["artifact"] = bench_artifact(server, token, args, tmp)
    except Exception as exc:  # noqa: BLE001 - reported, and the run fails
        res["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        if server is not None:
            server.stop()
            log = server.log_path.read_text(errors="replace").splitlines()
            res["server_log_errors"] = [
                line
                for line in log
                if any(
                    w in line
                    for w in (
                        "Error",
                        "ERROR",
                        "Traceback",
                        "WORKER TIMEOUT",
                        "Internal Server Error",
                    )
                )
            ][:20]
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(VAR_DIR, ignore_errors=True)
        if not args.keep:
            try:
                drop_database()
            except Exception as exc:  # noqa: BLE001
                print(f"could not drop {DB_NAME}: {exc}", file=sys.stderr)
    ok = report(res)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
