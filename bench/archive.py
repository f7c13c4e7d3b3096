"""Archiving benchmark: the archive job's copy (stream, fsync, read back and verify the
SHA-256) against `cp` + `sync` of the same bytes on the same disk, measured in the same
run (target: at least 30% of cp+sync's throughput), and the process's memory while it
archives files of growing size (target: RSS growth under 100 MiB for a 1 GiB file).

    .venv/bin/python bench/archive.py [--sizes 64,256,1024] [--dir DIR] [--runs 2]

Files are written under DIR (default: MODELGATE_VAR_DIR/bench-archive, the disk the hot
and archive storages use) and removed afterwards. The copy is registry.archiving's own
(`_copy`: stream, fsync, read back and check the SHA-256 — the read-back overlapping the
copy in a second thread — between two FileSystemStorage directories), so the figures are
the worker's. Both sides read a source that is in the page cache (each run writes it
first). Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

MIB = 1024**2
THROUGHPUT_TARGET = 0.30
RSS_TARGET_MIB = 100


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class PeakRss:
    """Samples this process's RSS every 20 ms while in the block."""

    def __enter__(self) -> PeakRss:
        self.start = rss_mib()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib())
            time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib())

    @property
    def growth(self) -> float:
        return self.peak - self.start


def write_source(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    block = os.urandom(MIB)
    with path.open("wb") as fh:
        written = 0
        while written < size:
            chunk = block[: min(MIB, size - written)]
            # Vary every MiB so the file does not compress or dedupe anywhere.
            chunk = written.to_bytes(8, "little") + chunk[8:]
            fh.write(chunk)
            digest.update(chunk)
            written += len(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    return digest.hexdigest()


def cp_sync(src: Path, dst: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    subprocess.run(["sync", str(dst)], check=True)  # flush these bytes (and metadata)
    return time.perf_counter() - started


class _Progress:
    def add(self, n: int, force: bool = False) -> None:
        pass


def archive_copy(hot: Path, cold: Path, name: str, sha: str, size: int) -> tuple[float, float]:
    """Seconds and peak RSS growth (MiB) of archiving one blob as the job does."""
    from django.core.files.storage import FileSystemStorage

    from registry import archiving
    from registry.models import Blob

    src, dst = FileSystemStorage(location=hot), FileSystemStorage(location=cold)
    blob = Blob(sha256=sha, size=size)
    with PeakRss() as rss:
        started = time.perf_counter()
        archiving._copy(src, dst, name, blob, _Progress())  # type: ignore[arg-type]
        elapsed = time.perf_counter() - started
    return elapsed, rss.growth


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="64,256,1024", help="file sizes in MiB")
    parser.add_argument("--dir", default=None, help="where to write (same disk as storage)")
    parser.add_argument("--runs", type=int, default=2, help="runs per size (best is kept)")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    base = Path(args.dir or (settings.VAR_DIR / "bench-archive"))
    shutil.rmtree(base, ignore_errors=True)
    (base / "hot").mkdir(parents=True)
    (base / "cold").mkdir()
    (base / "cp").mkdir()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"Archiving throughput vs cp + sync on {base} (same disk), best of {args.runs}")
    print(f"{'size':>8} {'cp+sync MiB/s':>14} {'archive MiB/s':>14} {'ratio':>7} "
          f"{'RSS growth MiB':>15}")  # fmt: skip
    failed = False
    try:
        for size_mib in sizes:
            size = size_mib * MIB
            best_cp = best_archive = float("inf")
            growth = 0.0
            for run in range(args.runs):
                name = f"blobs/{run}-{size_mib}.bin"
                source = base / "hot" / name
                source.parent.mkdir(parents=True, exist_ok=True)
                sha = write_source(source, size)
                best_cp = min(best_cp, cp_sync(source, base / "cp" / f"{run}.bin"))
                elapsed, rss = archive_copy(base / "hot", base / "cold", name, sha, size)
                best_archive = min(best_archive, elapsed)
                growth = max(growth, rss)
                for leftover in (source, base / "cp" / f"{run}.bin", base / "cold" / name):
                    leftover.unlink(missing_ok=True)
            cp_rate, archive_rate = size_mib / best_cp, size_mib / best_archive
            ratio = archive_rate / cp_rate
            print(f"{size_mib:>6} Mi {cp_rate:>14.0f} {archive_rate:>14.0f} {ratio:>6.0%} "
                  f"{growth:>15.1f}")  # fmt: skip
            if ratio < THROUGHPUT_TARGET:
                failed = True
                print(f"  below the target of {THROUGHPUT_TARGET:.0%} of cp + sync")
            if size_mib >= 1024 and growth >= RSS_TARGET_MIB:
                failed = True
                print(f"  RSS grew by {growth:.0f} MiB (target: under {RSS_TARGET_MIB})")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print("targets:", "MISSED" if failed else "met",
          f"(throughput >= {THROUGHPUT_TARGET:.0%} of cp+sync; RSS growth < {RSS_TARGET_MIB} "
          "MiB at 1 GiB)")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
