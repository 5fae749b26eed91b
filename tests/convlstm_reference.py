"""A ConvLSTM written on ``torch.nn.functional.conv2d`` with autograd: the reference the engine's
:mod:`explorer.engine.convlstm` must equal (tests, tools/convlstm_golden.py, the benchmark).

It reads the engine's state dict (torch names) and computes, per layer and step,
z = conv2d(x_t, weight_ih, bias_ih, padding=k // 2) + conv2d(h, weight_hh, bias_hh, padding=k // 2)
with gates i, f, g, o and Shi et al.'s peepholes, then a 1×1 conv2d head.
"""

from __future__ import annotations

import numpy as np


def _layers(P: dict, xt, num_layers: int, peephole: bool, torch):
    """Every layer over xt (B, T, C, H, W): the top layer's outputs [h_1 … h_T] and layer 0's
    {i, f, g, o, c, h: [per step]}."""
    conv2d = torch.nn.functional.conv2d
    dtype = xt.dtype
    B, T, _, H, W = xt.shape
    inp = [xt[:, t] for t in range(T)]
    first = None
    for layer in range(num_layers):
        wi, wh = P[f"weight_ih_l{layer}"], P[f"weight_hh_l{layer}"]
        bi, bh = P[f"bias_ih_l{layer}"], P[f"bias_hh_l{layer}"]
        F, pad = wh.shape[1], wh.shape[2] // 2
        h = torch.zeros((B, F, H, W), dtype=dtype)
        c = torch.zeros((B, F, H, W), dtype=dtype)
        rec = {n: [] for n in "ifgoch"}
        out = []
        for t in range(T):
            z = conv2d(inp[t], wi, bi, padding=pad) + conv2d(h, wh, bh, padding=pad)
            zi, zf, zg, zo = z.split(F, dim=1)
            if peephole:
                zi = zi + P[f"peephole_i_l{layer}"] * c
                zf = zf + P[f"peephole_f_l{layer}"] * c
            i, f, g = torch.sigmoid(zi), torch.sigmoid(zf), torch.tanh(zg)
            c = f * c + i * g
            if peephole:
                zo = zo + P[f"peephole_o_l{layer}"] * c
            o = torch.sigmoid(zo)
            h = o * torch.tanh(c)
            for n, v in zip("ifgoch", (i, f, g, o, c, h)):
                rec[n].append(v)
            out.append(h)
        if first is None:
            first = rec
        inp = out
    return inp, first


def _params(state: dict, x: np.ndarray, torch, requires_grad: bool):
    dtype = torch.float64 if x.dtype == np.float64 else torch.float32
    P = {k: torch.tensor(np.asarray(v), dtype=dtype, requires_grad=requires_grad) for k, v in state.items()}
    return P, torch.tensor(x, dtype=dtype, requires_grad=requires_grad), dtype


def reference(state: dict, x: np.ndarray, target: np.ndarray, loss: str, num_layers: int, peephole: bool,
              torch_module, requires_grad: bool = True) -> dict:
    """Loss, y (B, T, C_out, H, W), layer 0's i, f, g, o, c, h (T, B, F, H, W) and, with
    ``requires_grad``, the gradient of every state-dict key and of ``"x"``."""
    torch = torch_module
    conv2d = torch.nn.functional.conv2d
    P, xt, dtype = _params(state, x, torch, requires_grad)
    inp, first = _layers(P, xt, num_layers, peephole, torch)
    y = torch.stack([conv2d(h, P["head.weight"], P["head.bias"]) for h in inp], dim=1)
    tt = torch.tensor(target, dtype=dtype)
    if loss == "mse":
        value = ((y - tt) ** 2).mean()
    else:
        value = torch.nn.functional.binary_cross_entropy_with_logits(y, tt)
    res = {"loss": float(value.detach()), "y": y.detach().numpy()}
    for n in "ifgoch":
        res[n] = torch.stack(first[n]).detach().numpy()
    if requires_grad:
        value.backward()
        res["grads"] = {k: v.grad.numpy() for k, v in P.items()}
        res["grads"]["x"] = xt.grad.numpy()
    return res


def classifier_reference(state: dict, x: np.ndarray, labels: np.ndarray, num_layers: int, peephole: bool,
                         torch_module) -> dict:
    """The classifier (explorer.engine.convlstm_classes): h_T of the top layer averaged over the
    pixels, a linear head (the 1×1 head's weights), ``torch.nn.functional.cross_entropy``. Returns
    the loss, the logits (B, K) and the gradient of every state-dict key and of ``"x"``."""
    torch = torch_module
    P, xt, _ = _params(state, x, torch, True)
    inp, _ = _layers(P, xt, num_layers, peephole, torch)
    pooled = inp[-1].mean(dim=(2, 3))
    logits = pooled @ P["head.weight"][:, :, 0, 0].T + P["head.bias"]
    value = torch.nn.functional.cross_entropy(logits, torch.tensor(labels, dtype=torch.int64))
    value.backward()
    grads = {k: v.grad.numpy() for k, v in P.items()}
    grads["x"] = xt.grad.numpy()
    return {"loss": float(value.detach()), "logits": logits.detach().numpy(), "grads": grads}
