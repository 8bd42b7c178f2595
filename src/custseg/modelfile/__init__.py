"""custseg's own model file (``segments_model.custseg.json``): build, write, read, score.

Loading a model file never executes anything in it (:mod:`~custseg.modelfile.parse`); the seed's
pickle is loaded only on request (:mod:`~custseg.modelfile.pickles`).

- :mod:`~custseg.modelfile.format`: the format, its version and checksum.
- :mod:`~custseg.modelfile.model`: :class:`SegmentModel` and its JSON document.
- :mod:`~custseg.modelfile.build`: a model from a finished fit.
- :mod:`~custseg.modelfile.files`: save and load.
- :mod:`~custseg.modelfile.scorer`: scoring data frames (shared with trusted pickles).
"""

from custseg.modelfile.build import TrainingData, build_model, distance_thresholds
from custseg.modelfile.files import is_pickle, load_model, save_model
from custseg.modelfile.format import FORMAT_VERSION, MODEL_FILE, checksum
from custseg.modelfile.model import SegmentModel, model_document
from custseg.modelfile.pickles import PickledModel, load_trusted_pickle
from custseg.modelfile.scorer import Scorer

__all__ = ["FORMAT_VERSION", "MODEL_FILE", "PickledModel", "Scorer", "SegmentModel", "TrainingData",
           "build_model", "checksum", "distance_thresholds", "is_pickle", "load_model",
           "load_trusted_pickle", "model_document", "save_model"]
