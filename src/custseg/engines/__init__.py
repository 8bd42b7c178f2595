"""K-Means back-ends behind one small interface.

Each engine takes a scaled matrix (or a source of batches) and returns a :class:`KMeansFit`.
``local`` runs scikit-learn in memory.
"""

from custseg.engines.base import KMeansFit
from custseg.engines.local import fit_kmeans

__all__ = ["KMeansFit", "fit_kmeans"]
