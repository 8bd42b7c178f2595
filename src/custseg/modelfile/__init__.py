"""custseg's own model file (``segments_model.custseg.json``): build, write, read, score.

Loading a model file never executes anything in it (:mod:`~custseg.modelfile.parse`); the seed's
pickle is loaded only on request (:mod:`~custseg.modelfile.pickles`).

- :mod:`~custseg.modelfile.format`: the format, its version and checksum.
- :mod:`~custseg.modelfile.model`: :class:`SegmentModel` and its JSON document.
- :mod:`~custseg.modelfile.build`: a model from a finished fit.
- :mod:`~custseg.modelfile.files`: save and load.
- :mod:`~custseg.modelfile.scorer`: scoring data frames (shared with trusted pickles).

The package imports its modules when a name is first used
(:func:`custseg.optional.lazy_exports`): loading and scoring a model file never imports
scikit-learn, which building a model and the seed's pickle need.
"""

from custseg.optional import lazy_exports

#: Each public name and the module that defines it.
_EXPORTS = {
    "TrainingData": "custseg.modelfile.build",
    "build_model": "custseg.modelfile.build",
    "distance_thresholds": "custseg.modelfile.build",
    "is_pickle": "custseg.modelfile.files",
    "load_model": "custseg.modelfile.files",
    "save_model": "custseg.modelfile.files",
    "FORMAT_VERSION": "custseg.modelfile.format",
    "MODEL_FILE": "custseg.modelfile.format",
    "checksum": "custseg.modelfile.format",
    "SegmentModel": "custseg.modelfile.model",
    "model_document": "custseg.modelfile.model",
    "PickledModel": "custseg.modelfile.pickles",
    "load_trusted_pickle": "custseg.modelfile.pickles",
    "Scorer": "custseg.modelfile.scorer",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
