"""Finding the segments: K chosen with evidence on the sample, the best start, the final fit.

- :mod:`~custseg.segmentation.selection` and :mod:`~custseg.segmentation.criteria`: choosing K.
- :mod:`~custseg.segmentation.kmeans` and :mod:`~custseg.segmentation.swap`: K-Means on the sample
  (k-means++ starts, random swap).
- :mod:`~custseg.segmentation.lloyd`: Lloyd passes over every row through an engine.
- :mod:`~custseg.segmentation.estimator`: the scikit-learn style :class:`Segmenter`.
- :mod:`~custseg.segmentation.metrics`: silhouette and friends, bounded in cost.
"""
