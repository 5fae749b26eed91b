"""A ConvLSTM that gives one class per sequence of frames, with exact backpropagation.

The layers are :class:`~explorer.engine.convlstm.ConvLSTMModel`'s. The top layer's last output
h_T (B, F, H, W) is averaged over the frame's pixels (global average pooling) and the head maps
that to the logits of K classes::

    p = mean over (y, x) of h_T[:, :, y, x]        (B, F)
    logits = head.weight[:, :, 0, 0] · p + head.bias  (B, K)
    loss = mean over the batch of −log softmax(logits)[label]

The head keeps the next-frame model's names and shapes (``head.weight`` (K, F, 1, 1),
``head.bias`` (K)): a 1×1 convolution at every pixel averaged over the frame is the same map as
that convolution of the average, so a state dict reads as a next-frame model's does. Targets are
class ids (B,) of 0 … K − 1; the loss is ``"cross_entropy"``; ``forward(x).y`` and
``predict(x)`` are the logits (B, K).

``make_model("convlstm", n_inputs=C, n_units=F, n_outputs=K, kernel=k, ..., pool="mean")`` makes one.
"""

from __future__ import annotations

import numpy as np

from .convlstm import ConvLSTMModel, ConvTrace

POOL = "mean"
LOSS = "cross_entropy"


class ConvLSTMClassifier(ConvLSTMModel):
    """Stacked ConvLSTM layers, h_T averaged over space, a linear head to K classes (the module's text)."""

    pool = POOL

    def describe(self) -> str:
        return super().describe() + f"; {self.n_outputs} classes from h_T averaged over the frame"

    def _labels(self, target, x) -> np.ndarray:
        y = np.asarray(target)
        if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"target must be class ids of shape ({x.shape[0]},); got {y.dtype} {y.shape}")
        if y.size and (y.min() < 0 or y.max() >= self.n_outputs):
            raise ValueError(f"class ids must lie in 0 … {self.n_outputs - 1}; got {y.min()} … {y.max()}")
        return y.astype(np.int64)

    def _pooled(self, wss) -> np.ndarray:
        """The top layer's last output averaged over the pixels, (B, F)."""
        return self._top(wss[-1])[-1].mean(axis=(1, 2))

    def _logits(self, params, pooled) -> np.ndarray:
        return pooled @ self._view(params, "head.weight")[:, :, 0, 0].T + self._view(params, "head.bias")

    @staticmethod
    def _cross_entropy(logits, labels):
        """(mean −log p[label], dL/dlogits)."""
        B = logits.shape[0]
        shifted = logits - logits.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        value = -float(logp[np.arange(B), labels].sum()) / B
        d = np.exp(logp)
        d[np.arange(B), labels] -= 1.0
        d /= B
        return value, d

    def forward(self, x, interrupt=None) -> ConvTrace:
        """The :class:`~explorer.engine.convlstm.ConvTrace` of x (B, T, C, H, W); its ``y`` is the
        logits (B, K), ``pooled`` (B, F) what the head saw."""
        x = self._prepare(x)
        wss = self._run(x, self.params, interrupt)
        pooled = self._pooled(wss)
        layers = self._trace_layers(x, wss)
        return ConvTrace({**layers[0], "y": self._logits(self.params, pooled), "pooled": pooled.copy()}, layers, 0)

    def predict(self, x, batch_size: int = 64, interrupt=None) -> np.ndarray:
        """Logits (B, K), in batches."""
        x = self._prepare(x)
        out = np.empty((x.shape[0], self.n_outputs), self.dtype)
        for s in range(0, x.shape[0], batch_size):
            out[s:s + batch_size] = self._logits(self.params, self._pooled(self._run(x[s:s + batch_size], self.params,
                                                                                     interrupt)))
        return out

    def predict_classes(self, x, batch_size: int = 64, interrupt=None) -> np.ndarray:
        """The most likely class of every sequence (B,)."""
        return self.predict(x, batch_size, interrupt).argmax(axis=1)

    def evaluate(self, x, target, loss=LOSS, batch_size: int = 64, interrupt=None) -> float:
        """Mean cross-entropy over a dataset in batches (no gradients)."""
        self._check_loss(loss)
        x = self._prepare(x)
        N = x.shape[0]
        if N == 0:
            return float("nan")
        labels = self._labels(target, x)
        logits = self.predict(x, batch_size, interrupt)
        return self._cross_entropy(logits, labels)[0]

    @staticmethod
    def _check_loss(loss) -> None:
        if loss != LOSS:
            raise ValueError(f"a ConvLSTM classifier's loss is {LOSS}, not {loss!r}")

    def compute_grads(self, x, target, loss=LOSS, want_dx=False, interrupt=None):
        """Cross-entropy and gradients into :attr:`grad`; ``(loss, norms, extra)`` as
        :meth:`ConvLSTMModel.compute_grads` returns them."""
        self._check_loss(loss)
        x = self._prepare(x)
        labels = self._labels(target, x)
        params, grad = self.params, self.grad
        wss = self._run(x, params, interrupt)
        pooled = self._pooled(wss)
        value, dlogits = self._cross_entropy(self._logits(params, pooled), labels)
        w = self._view(params, "head.weight")[:, :, 0, 0]                 # (K, F)
        self._view(grad, "head.weight")[:, :, 0, 0] = dlogits.T @ pooled
        self._view(grad, "head.bias")[...] = dlogits.sum(axis=0)
        top = self._top(wss[-1])                                           # (T, B, H, W, F)
        T, B, H, W, F = top.shape
        dH = np.zeros(top.shape, self.dtype)
        dH[-1] = (dlogits @ w)[:, None, None, :] / (H * W)
        norms, extra = self._backward_layers(wss, dH, want_dx, interrupt)
        return value, norms, extra

    def loss_and_grads(self, x, target, loss: str = LOSS, with_norms: bool = False, with_input_grads: bool = False):
        """As :meth:`ConvLSTMModel.loss_and_grads`, with class ids (B,) as the target."""
        return super().loss_and_grads(x, target, loss, with_norms, with_input_grads)


__all__ = ["ConvLSTMClassifier", "POOL", "LOSS"]
