"""The gate order, defined once: every weight block, trace field and plot follows it."""

LSTM_GATES = ("i", "f", "g", "o")
"""LSTM gate blocks in the order PyTorch uses: input, forget, candidate (cell), output."""
