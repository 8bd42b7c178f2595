"""Month after month: segment identity across runs, customer migration, drift and run history.

- :mod:`~custseg.tracking.matching`: match new segments to previous ones (stable ids).
- :mod:`~custseg.tracking.migration`: who moved where, counted batch by batch.
- :mod:`~custseg.tracking.flows`: splits and merges read from the flows.
- :mod:`~custseg.tracking.drift`: PSI, size changes, atypical customers, keep or re-fit.
- :mod:`~custseg.tracking.previous`: a finished run read back.
- :mod:`~custseg.tracking.changes`: all of it between two runs.
- :mod:`~custseg.tracking.history`: the run history beside the run folders.
"""
