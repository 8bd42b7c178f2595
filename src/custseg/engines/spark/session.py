"""Starting (or joining) the Spark session a run uses, with errors a user can act on.

pyspark is imported here only, through :func:`custseg.optional.import_optional`: without it,
or without a Java runtime, ``--engine spark`` stops with one line naming what to install.
Inside ``spark-submit`` (or a notebook) the active session is used as it is; otherwise a local
one (``local[*]``, or ``--spark-master``) is started with the ``--spark-conf`` settings.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

from custseg.exceptions import EngineError, MissingDependencyError
from custseg.optional import import_optional

#: Settings custseg needs on any session: integer arithmetic that wraps (the sample's hash).
REQUIRED_CONF = {"spark.sql.ansi.enabled": "false"}
#: Settings of a session custseg starts itself (a user's --spark-conf wins): no web UI and no
#: console progress bars mixed into custseg's own, errors-only logging, loopback only.
LOCAL_CONF = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
              "spark.sql.shuffle.partitions": "8", "spark.driver.memory": "2g",
              "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
              "spark.sql.execution.arrow.pyspark.enabled": "true"}
SPARK_EXTRA = "spark"


def spark_session(master: str | None = None, conf: Sequence[tuple[str, str]] = ()) -> object:
    """The session a run uses: the active one, or a new one on ``master`` (``local[*]``).

    Raises
    ------
    MissingDependencyError
        pyspark is not installed, or no Java runtime is found.
    EngineError
        Spark does not start (a master that cannot be reached, a port in use...).
    """
    # pyspark warns about the pandas it was not yet tested with, at import and at each collect.
    warnings.filterwarnings("ignore", module="pyspark")
    sql = import_optional("pyspark.sql", SPARK_EXTRA, "--engine spark")
    active = sql.SparkSession.getActiveSession()
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # inside spark-submit: its JVM, its settings
    if active is not None and master is None:
        session = active
    elif submitted and master is None:
        builder = sql.SparkSession.builder.appName("custseg")
        for key, value in conf:
            builder = builder.config(key, value)
        session = builder.getOrCreate()
    else:
        if shutil.which("java") is None and not _java_home():
            raise MissingDependencyError(
                "--engine spark needs a Java runtime (Java 17 for Spark 4), which is not "
                "installed. Install it (Debian: apt-get install openjdk-17-jre-headless) or set "
                "JAVA_HOME.")
        builder = sql.SparkSession.builder.appName("custseg").master(master or "local[*]")
        logging = f"-Dlog4j2.configurationFile={_LOG_CONFIG}"
        for key, value in {**LOCAL_CONF, "spark.driver.extraJavaOptions": logging,
                           **dict(conf)}.items():
            builder = builder.config(key, value)
        try:
            with _jvm_output_to(log_file()):
                session = builder.getOrCreate()
        except Exception as exc:  # Py4J and Java errors of many kinds
            raise EngineError(
                f"Spark could not start ({_first_line(exc)}). Check Java 17, --spark-master and "
                f"--spark-conf; "
                "--traceback shows the whole error.") from exc
        session.sparkContext.setLogLevel("ERROR")
    for key, value in {**REQUIRED_CONF, **dict(conf)}.items():
        if key in REQUIRED_CONF or active is not None:
            session.conf.set(key, value)
    return session


_LOG_CONFIG = Path(__file__).with_name("log4j2.properties")


def log_file() -> Path:
    """Where the JVM of a session custseg starts writes its output (warnings, Java errors)."""
    return Path(tempfile.gettempdir()) / "custseg-spark.log"


@contextlib.contextmanager
def _jvm_output_to(path: Path) -> Iterator[None]:
    """Send what the JVM about to start prints (its launcher's warnings, Spark's log) to
    ``path`` instead of the terminal: the child inherits the standard streams at launch."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def _java_home() -> bool:
    home = os.environ.get("JAVA_HOME")
    return bool(home) and os.path.exists(os.path.join(home, "bin", "java"))


def _first_line(exc: BaseException) -> str:
    """The error's first line; for a Java error, its root cause's (Py4J's own is generic)."""
    text = str(exc).strip()
    java = getattr(exc, "java_exception", None)
    if java is not None:
        with contextlib.suppress(Exception):  # the gateway may already be gone
            while java.getCause() is not None:
                java = java.getCause()
            # its first sentence: Java's messages go on with advice for Spark's developers
            text = re.split(r"(?<=[.!])\s", str(java.toString()).strip(), maxsplit=1)[0]
    return text.splitlines()[0][:300] if text else type(exc).__name__
