"""A real PostgreSQL server for tests and the bench: initdb and pg_ctl in a temporary folder, on loopback.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user (Debian's package creates it;
created here with useradd when missing). The binaries are looked up on PATH, then in /usr/lib/postgresql/*/bin
(Debian's layout), then /usr/local/bin.
"""

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

USER = "postgres"


def find_bin_dir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres, or None when PostgreSQL is not installed."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).parent] if on_path else []
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    candidates += [Path(p) for p in debian] + [Path("/usr/local/bin")]
    for folder in candidates:
        if all((folder / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_user() -> None:
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
                       check=True, capture_output=True)


class PostgresServer:
    """One server in its own folder: `start`, `stop`, `restart`, and a fresh database per test (`new_database`)."""

    def __init__(self, bin_dir: Path, *, fsync: bool = False):
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="nmcore-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self._fsync = fsync
        self._databases = 0
        self._as_root = os.geteuid() == 0

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", USER, "--"] if self._as_root else []
        result = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr or result.stdout}"
                               f"\n--- server log ---\n{self.server_log()}")

    def server_log(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def init(self) -> "PostgresServer":
        self.sockets.mkdir()
        if self._as_root:
            _ensure_user()
            user = pwd.getpwnam(USER)
            for path in (self.root, self.sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust", "--no-sync",
                  "-E", "UTF8", "--locale=C")
        return self

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync={'on' if self._fsync else 'off'}"
                   " -c max_connections=200 -c shared_buffers=64MB")
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "-m", mode, "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A new empty database; its URL."""
        self._databases += 1
        name = f"nmcore_{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def cleanup(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_server(bin_dir: Path, *, fsync: bool = False) -> Iterator[PostgresServer]:
    server = PostgresServer(bin_dir, fsync=fsync).init()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


def wait_until_accepting(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
