"""LSTM Explorer: watch an LSTM think.

``explorer.engine`` is the pure-NumPy training engine (no Qt), ``explorer.data`` loads
sequence files (no Qt), ``explorer.gui`` is the Qt window and the plots.
"""

__version__ = "0.1.0"
