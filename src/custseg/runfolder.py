"""Names of the files in a run's output folder, defined once for every layer that reads or writes
them (the writers, the report rebuilder, the loader of a previous run).

Examples
--------
>>> clustered_file_name("Mall_Customers.csv", "csv")
'mall_customers_clustered.csv'
>>> clustered_file_name(None, "parquet")
'customers_clustered.parquet'
"""

from __future__ import annotations

from pathlib import Path

#: Machine-readable summary of a run (JSON Schema: ``custseg/schemas/segments.schema.json``).
SUMMARY_FILE = "segments.json"
#: custseg's own model file (JSON; loading it runs no code).
MODEL_FILE = "segments_model.custseg.json"
#: The seed's scikit-learn pipeline (a pickle: load only files you trust).
MODEL_PICKLE = "kmeans_customer_segmentation_model.pkl"
REPORT_FILE = "report.html"
REJECTS_FILE = "rejected_rows.csv"
PROFILES_FILE = "segment_profiles.csv"
MIGRATION_FILE = "migration.csv"
TRANSITIONS_FILE = "transition_matrix.csv"
CHANGES_FILE = "changes.json"
K_SELECTION_FILE = "k_selection.json"
SEGMENTS_DIR = "segments"
FIGURES_DIR = "figures"
#: Suffix of the clustered customers file: ``<input stem, lower-case>_clustered.<format>``.
CLUSTERED_SUFFIX = "_clustered"


def clustered_file_name(input_name: str | None, output_format: str) -> str:
    """``<input stem, lower-case>_clustered.<format>``; ``customers`` when there is no file."""
    stem = Path(input_name).stem.lower() if input_name else "customers"
    return f"{stem}{CLUSTERED_SUFFIX}.{output_format}"


# Beside the run folders (in the folder holding them, with the run history), by `custseg history
# DIR --report`:
#: The monthly view: every recorded run on one self-contained page.
HISTORY_REPORT_FILE = "history.html"
#: Customers per (run, segment), for other tools.
HISTORY_SIZES_FILE = "history_sizes.csv"
#: Customers per (run pair, from segment, to segment), new and departed customers included.
HISTORY_FLOWS_FILE = "history_flows.csv"
