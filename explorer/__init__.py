"""LSTM Explorer: watch an LSTM think.

``explorer.engine`` is the pure-NumPy training engine (no Qt), ``explorer.data`` loads
sequence files (no Qt), ``explorer.gui`` is the Qt window and the plots.
"""

__version__ = "0.1.0"


def explore(model, data=None, head=None):
    """Open the window on an in-memory model (a ``torch.nn.LSTM``/``GRU``/``RNN`` module with an
    optional ``head`` module, a state dict, or an engine model) and ``data`` (a NumPy series, a
    pair ``(x, y)``, a dataset, a file path, or None for a built-in example), and return the
    :class:`~explorer.gui.main_window.MainWindow` (creating the QApplication if there is none).
    From IPython, run ``%gui qt`` first. See :mod:`explorer.gui.explore`."""
    import importlib

    # imported when called: ``import explorer`` (and the Qt-free layers) never load Qt
    return importlib.import_module("explorer.gui.explore").explore(model, data=data, head=head)
