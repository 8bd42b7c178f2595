"""Stage 0 of a run: which columns are the features.

``--features`` wins. Otherwise the default features (the Mall data's) are used when the input
has any of them (a missing one is an error naming its closest match), and when it has none,
the run chooses the table's numeric behaviour columns from its first records
(:func:`custseg.io.autofeatures.choose_features`, read through the engine so every engine sees
the same rows). ``--exclude`` drops columns from either.
"""

from __future__ import annotations

from custseg.config import DEFAULT_FEATURES, RunConfig
from custseg.engines import Engine
from custseg.exceptions import ConfigError
from custseg.io.autofeatures import PROBE_ROWS, FeatureChoice, choose_features
from custseg.io.columns import resolve_column


def resolve_features(engine: Engine, config: RunConfig) -> tuple[RunConfig, FeatureChoice | None]:
    """The run's options with its features settled, and the automatic choice if one was made.

    Raises
    ------
    ConfigError
        ``--exclude`` removes every named feature.
    DataValidationError
        No usable column to choose (see :func:`custseg.io.autofeatures.choose_features`).
    """
    source = engine.source
    column_map = dict(config.column_map)
    present = list(source.columns)
    # A table with some of the default features is a Mall-like table with a column misnamed:
    # the run says which is missing (and its closest match) rather than choosing others.
    some_defaults = any(resolve_column(f, present, column_map) is not None
                        for f in DEFAULT_FEATURES)
    if config.features_required or config.features != DEFAULT_FEATURES or some_defaults:
        if not config.exclude:
            return config, None
        kept = tuple(f for f in config.features if f not in config.exclude
                     and resolve_column(f, present, column_map) not in config.exclude)
        if not kept:
            raise ConfigError("--exclude leaves no feature: name the features with --features.")
        return config.with_(features=kept), None
    id_column = resolve_column(config.id_column, present, column_map, source.name)
    choice = choose_features(engine.head(PROBE_ROWS), id_column, source.name,
                             exclude=config.exclude,
                             categorical=[c for name in config.categorical
                                          if (c := resolve_column(name, present, column_map))],
                             decimal_comma=source.info().decimal_comma,
                             thousands=source.info().thousands)
    return config.with_(features=choice.features), choice
