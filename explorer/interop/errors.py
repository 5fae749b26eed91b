"""The one error of the interop package: a model file that cannot be mapped, in one sentence."""

from __future__ import annotations


class ModelFileError(ValueError):
    """A model file that cannot be opened or mapped onto the engine; the message is one sentence
    naming the file, the tensor (key) or value, and what to do."""


class MissingExtraError(ModelFileError):
    """A file format whose optional dependency is not installed (h5py for Keras files)."""


KERAS_EXTRA_HINT = ("opening Keras files needs h5py, which is not installed: "
                    "pip install 'lstm-explorer[keras]' (or pip install h5py)")


def pickle_refusal(label: str) -> str:
    """The one sentence for a pickled model (``torch.save``, a ``.pkl``): never unpickled."""
    return (f"{label} is a pickle (PyTorch's torch.save writes one), which LSTM Explorer never opens "
            "because unpickling a file can run any code in it; in PyTorch save the state dict with "
            "safetensors.torch.save_file(model.state_dict(), \"model.safetensors\") and open that file.")
