"""A PostgreSQL server of the tests' own: a private copy of the installation (with the
TimescaleDB extension built into it by scripts/build_timescaledb.sh), its own data folder
and port, started with the settings a test asks for. The system server is never touched.
Outside the product: the product never imports it."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from localservices import free_port, wait_until

VERSION = "2.28.3"
# readable by the postgres user, outside any clone (scripts/build_timescaledb.sh)
CACHE = os.environ.get("TELEMATICS_BUILD_CACHE", "/var/tmp/telematics-gateway")  # noqa: S108
BUILD = Path(CACHE) / f"pg15-timescaledb-{VERSION}"
ARCHIVES = (Path(__file__).resolve().parent.parent.parent / "shared" / "vendor"
            / f"timescaledb-{VERSION}.tar.gz",
            Path("/work/shared/vendor") / f"timescaledb-{VERSION}.tar.gz")


def archive_present() -> bool:
    """Whether the vendored TimescaleDB source is on this machine (then it must be built)."""
    return any(a.exists() for a in ARCHIVES)


def timescaledb_bin() -> Path | None:
    """The bin folder of the PostgreSQL copy with TimescaleDB, None when not built."""
    return BUILD / "usr/lib/postgresql/15/bin" if (BUILD / ".built").exists() else None


class PostgresServer:
    """``postgres`` from ``bin_dir`` on a free port; ``preload``: shared_preload_libraries.
    Run as the postgres user when we are root (initdb refuses to run as root). Otherwise the
    settings of a fresh ``initdb``, like the system server's."""

    def __init__(self, bin_dir: Path, preload: str = "timescaledb", fsync: bool = False,
                 settings: dict[str, str] | None = None) -> None:
        self.bin = bin_dir
        self.settings = settings or {}  # more server settings, e.g. shared_buffers
        self.preload = preload
        self.fsync = fsync  # on for benchmarks beside the system server, off for tests
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="tg-pg-"))
        self.data = self.dir / "data"
        self.proc: subprocess.Popen[bytes] | None = None
        self._as: list[str] = []
        if os.getuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def admin_url(self) -> str:
        """The superuser's URL (trust authentication on loopback)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """initdb, then start and wait until it accepts connections."""
        subprocess.run([*self._as, str(self.bin / "initdb"), "-D", str(self.data), "-U",
                        "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True)
        options = ["-c", "listen_addresses=127.0.0.1", "-c", f"port={self.port}",
                   "-c", f"unix_socket_directories={self.dir}",
                   "-c", f"fsync={'on' if self.fsync else 'off'}",
                   "-c", "max_connections=200", "-c", "timescaledb.telemetry_level=off"]
        if self.preload:
            options += ["-c", f"shared_preload_libraries={self.preload}"]
        for key, value in self.settings.items():
            options += ["-c", f"{key}={value}"]
        log = (self.dir / "server.log").open("wb")
        self.proc = subprocess.Popen([*self._as, str(self.bin / "postgres"), "-D",
                                      str(self.data), *options], stdout=log,
                                     stderr=subprocess.STDOUT)
        wait_until(self._accepting, 60, f"PostgreSQL on port {self.port}")

    def _accepting(self) -> bool:
        try:
            psycopg.connect(self.admin_url, connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False

    def stop(self) -> None:
        """Fast shutdown, then remove the data folder."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
