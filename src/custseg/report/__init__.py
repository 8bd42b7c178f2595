"""Figures and the self-contained HTML report.

- :mod:`~custseg.report.plots`: draw on a given ``ax`` (compute, draw and save stay separate).
- :mod:`~custseg.report.figures`: which figures a run gets, saved as PNG.
- :mod:`~custseg.report.html`: ``report.html`` from ``segments.json`` and the figures.
"""
