"""Reading, validating and writing customer tables (the pipeline's lowest layer above config).

- :mod:`~custseg.io.formats`: which reader a file needs; CSV encoding, delimiter and header.
- :mod:`~custseg.io.chunks`, :mod:`~custseg.io.sources`, :mod:`~custseg.io.csvsource`: a table
  whole or in record batches, with spreadsheet row numbers.
- :mod:`~custseg.io.columns`: find the columns a run asks for (aliases, ``--column-map``).
- :mod:`~custseg.io.numbers`: parse numbers, codes of unusable cells, plausible ranges.
- :mod:`~custseg.io.ids`, :mod:`~custseg.io.validate`: the row checks and duplicate ids.
- :mod:`~custseg.io.rejects`: rejected records with their reasons.
- :mod:`~custseg.io.csvsafe`, :mod:`~custseg.io.outfolder`: spreadsheet-safe writers and the
  all-or-nothing output folder.
- :mod:`~custseg.io.outlock`, :mod:`~custseg.io.publish`, :mod:`~custseg.io.writefail`: one
  command at a time per output, the atomic swap that publishes it, a full disk in plain words.
- :mod:`~custseg.io.yamlsafe`: small option files (``--names``) as plain data: no YAML aliases.
"""
