"""The training engine: pure NumPy, no Qt.

>>> from explorer.engine import LSTMModel
>>> model = LSTMModel(n_inputs=1, n_units=8, n_outputs=1, seed=0)
"""

from .cells import CELLS, Cell, LSTMCell, lstm_param_count
from .gates import LSTM_GATES
from .losses import softmax
from .model import GradNorms, LSTMModel, ParamCount, RecurrentModel, Trace, make_model
from .optim import SGD, Adam, Momentum, clip_by_global_norm, make_optimizer
from .trainer import StepSnapshot, TrainData, Trainer

__all__ = [
    "CELLS", "Cell", "LSTMCell", "lstm_param_count", "LSTM_GATES", "softmax",
    "GradNorms", "LSTMModel", "ParamCount", "RecurrentModel", "Trace", "make_model",
    "SGD", "Adam", "Momentum", "clip_by_global_norm", "make_optimizer",
    "StepSnapshot", "TrainData", "Trainer",
]
