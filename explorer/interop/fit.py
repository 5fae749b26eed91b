"""An opened model on a person's data: sizes checked, a new head where the file had none, a run.

:func:`run_for_model` is what ``lstm-explorer train FILE --init MODEL``, ``lstm-explorer FILE
--model MODEL`` and the window's File › Open Model call (Qt-free)."""

from __future__ import annotations

from pathlib import Path

from .errors import ModelFileError
from .mapping import LoadedModel, make_engine_model


def fit_model(loaded: LoadedModel, n_inputs: int, n_outputs: int, data_label: str = "the data",
              seed: int = 0):
    """``loaded.model`` if it takes ``n_inputs`` and gives ``n_outputs``; the same recurrent
    weights with a new head of ``n_outputs`` (seeded) when the file had no head; otherwise
    :class:`ModelFileError` with one sentence."""
    model = loaded.model
    name = loaded.path.name
    if model.n_inputs != n_inputs:
        raise ModelFileError(
            f"{name} takes {model.n_inputs} input{'s' * (model.n_inputs != 1)} per step but "
            f"{data_label} gives {n_inputs}; choose {model.n_inputs} input column"
            f"{'s' * (model.n_inputs != 1)} or a model made for this data.")
    if model.n_outputs == n_outputs:
        return model
    if loaded.has_head:
        raise ModelFileError(
            f"{name}'s head {loaded.head} gives {model.n_outputs} output{'s' * (model.n_outputs != 1)} "
            f"but {data_label} needs {n_outputs}; choose a target that fits or a model made for this data.")
    new = make_engine_model(model.kind, model.n_inputs, model.n_units, n_outputs, model.num_layers,
                            model.num_directions, seed=seed)
    state = model.state_dict()
    fresh = new.state_dict()
    state["head.weight"], state["head.bias"] = fresh["head.weight"], fresh["head.bias"]
    new.load_state_dict(state)
    return new


def run_for_model(loaded: LoadedModel, dataset, settings=None):
    """A :class:`~explorer.runs.store.Run` of ``dataset`` that starts from ``loaded``'s weights.

    ``settings`` (a ``ModelSettings``, default the defaults) gives the training options; the
    cell, the units, the layers and the directions are the model's. Raises
    :class:`ModelFileError` when the data's input or output size does not fit.
    """
    from explorer.runs.store import ModelSettings, Run

    label = Path(str(dataset.source)).name if getattr(dataset, "source", None) else "the data"
    base = settings or ModelSettings()
    model = fit_model(loaded, dataset.n_inputs, dataset.n_outputs, data_label=label, seed=base.seed)
    over = {"cell": model.kind, "units": model.n_units, "layers": model.num_layers,
            "bidirectional": bool(model.bidirectional)}
    return Run(dataset, ModelSettings(**{**base.__dict__, **over}), model=model)
