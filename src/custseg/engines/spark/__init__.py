"""The Spark engine (``--engine spark``, ``pip install 'custseg[spark]'``): the same pipeline,
with Spark reading, checking, aggregating and writing (:mod:`~custseg.engines.spark.engine`).

pyspark is imported only inside functions: ``import custseg.engines.spark`` works without it.
"""

from __future__ import annotations

from custseg.config import RunConfig
from custseg.exceptions import OutputError


def open_spark(config: RunConfig) -> object:
    """The Spark engine for ``config``: its session (started, or the active one) and its input.

    Raises
    ------
    MissingDependencyError
        pyspark or Java is missing.
    EngineError
        Spark does not start.
    InputFileError
        The input cannot be read by Spark.
    OutputError
        ``--output-table`` exists and ``--if-exists`` is ``fail``.
    """
    from custseg.engines.spark.engine import SparkEngine
    from custseg.engines.spark.reader import spark_source
    from custseg.engines.spark.session import spark_session

    session = spark_session(config.spark_master, config.spark_conf)
    if (config.output_table is not None and config.if_exists == "fail"
            and session.catalog.tableExists(config.output_table)):
        raise OutputError(f"Table {config.output_table} already exists. Use --if-exists replace "
                          "to overwrite it, or --if-exists append to add this run to it.")
    return SparkEngine(spark_source(config, session), session)
