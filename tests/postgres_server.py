"""A throwaway PostgreSQL server for the tests and the SQL benchmark: a real ``postgres`` process,
its data folder in a temporary folder, listening on 127.0.0.1 only (and a Unix socket there).

The binaries are found on ``PATH`` (``initdb``, ``pg_ctl``) or where Debian's ``postgresql``
package puts them (``/usr/lib/postgresql/<version>/bin``). ``initdb`` refuses to run as root:
as root the server runs as the ``postgres`` user (Debian's package creates it), else as
``nobody``, through ``runuser``.

The server's superuser is :data:`USER` with password :data:`PASSWORD`; connections over TCP
must give it (SCRAM), so the tests can also check a wrong password is refused.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

USER = "custseg"
PASSWORD = "s3cret-Pw"  # a throwaway server's; the tests check it never leaks into outputs
DATABASE = "shop"


def find_binaries() -> Path | None:
    """Folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or None when not installed."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


def _run_as() -> list[str]:
    """Prefix running a command as an unprivileged user when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return []
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"]
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running server: its folder, port and URLs."""

    folder: Path
    port: int
    bin: Path
    prefix: list[str]

    def url(self, database: str = DATABASE, password: str | None = PASSWORD,
            scheme: str = "postgresql") -> str:
        """SQLAlchemy URL of ``database`` (with the password unless ``password`` is None)."""
        auth = USER if password is None else f"{USER}:{password}"
        return f"{scheme}://{auth}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = DATABASE) -> str:
        """Run SQL with ``psql`` over TCP; return its output (tuples only, unaligned)."""
        env = {**os.environ, "PGPASSWORD": PASSWORD}
        psql = self.bin / "psql" if (self.bin / "psql").exists() else Path(shutil.which("psql") or "psql")
        done = subprocess.run([str(psql), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                               "-p", str(self.port), "-U", USER, "-d", database, "-c", sql],
                              env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip())
        return done.stdout

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        subprocess.run([*self.prefix, str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"),
                        "-m", "immediate", "-w", "stop"], capture_output=True, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def start(binaries: Path | None = None) -> Server:
    """initdb a data folder in a new temporary folder and start a server on 127.0.0.1.

    Raises
    ------
    RuntimeError
        The binaries are missing, or initdb or the server fails (their output in the message).
    """
    binaries = binaries or find_binaries()
    if binaries is None:
        raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) not found")
    prefix = _run_as()
    folder = Path(tempfile.mkdtemp(prefix="custseg-pg-"))
    if prefix:
        owner = pwd.getpwnam(prefix[2])
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    folder.chmod(0o700)
    pwfile = folder / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if prefix:
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    port = _free_port()
    data = folder / "data"
    steps = [
        [str(binaries / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}",
         "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C"],
        [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60",
         "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off", "start"],
    ]
    server = Server(folder, port, binaries, prefix)
    for step in steps:
        done = subprocess.run([*prefix, *step], capture_output=True, text=True, check=False,
                              cwd=folder)
        if done.returncode != 0:
            log = (folder / "server.log").read_text() if (folder / "server.log").exists() else ""
            server.stop()
            raise RuntimeError(f"{Path(step[0]).name} failed: {done.stdout}{done.stderr}{log}"[-2000:])
    server.psql(f"CREATE DATABASE {DATABASE}", database="postgres")
    return server
