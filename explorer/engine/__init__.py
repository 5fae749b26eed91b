"""The training engine: pure NumPy, no Qt.

>>> from explorer.engine import LSTMModel
>>> model = LSTMModel(n_inputs=1, n_units=8, n_outputs=1, seed=0)
"""

from .attention import POOLS, SequenceModel, SequenceTrace
from .blas import get_threads, set_threads
from .cells import (CELLS, Cell, GRUCell, Interrupted, LSTMCell, PeepholeLSTMCell, RNNCell, gru_param_count,
                    lstm_param_count, peephole_param_count, rnn_param_count)
from .gates import LSTM_GATES
from .interventions import Clamp, SetWeight
from .losses import softmax
from .model import (MODELS, GradNorms, GRUModel, LSTMModel, ParamCount, PeepholeLSTMModel,
                    RecurrentModel, RNNModel, StateGrads, Trace, make_model)
from .params import PARAM_COUNTS, param_formula, recurrent_param_count, register_param_formula
from .optim import SGD, Adam, Momentum, clip_by_global_norm, make_optimizer
from .trainer import StepSnapshot, TrainData, Trainer

__all__ = [
    "CELLS", "PARAM_COUNTS", "Cell", "GRUCell", "LSTMCell", "PeepholeLSTMCell", "RNNCell",
    "gru_param_count", "lstm_param_count", "peephole_param_count", "rnn_param_count",
    "param_formula", "recurrent_param_count", "register_param_formula", "Interrupted", "Clamp", "SetWeight", "StateGrads",
    "LSTM_GATES", "softmax", "MODELS", "GradNorms", "GRUModel", "LSTMModel", "ParamCount",
    "PeepholeLSTMModel", "RecurrentModel", "RNNModel", "Trace", "make_model",
    "SGD", "Adam", "Momentum", "clip_by_global_norm", "make_optimizer",
    "StepSnapshot", "TrainData", "Trainer", "POOLS", "SequenceModel", "SequenceTrace", "get_threads", "set_threads",
]
