"""A run's outputs: the clustered files (written during the assignment pass), the summary, the
model files, the figures and the report (:mod:`~custseg.outputs.write`), in one staging folder
the run commits at once."""
