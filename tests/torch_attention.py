"""A torch reference of whole-sequence models, written from the equations (float64).

rnn, gru and lstm run torch's own ``nn.RNN``/``nn.GRU``/``nn.LSTM`` over a
``pack_padded_sequence``; the peephole LSTM (no torch module) runs one sequence at a time, cut
to its length, through a torch loop of its equations. Pooling, head and loss in torch on top.
Used by tests/test_engine_attention.py and tools/attention_golden.py.
"""

import numpy as np

TORCH_CLASSES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def _peephole_layer(torch, sd, suffix, x):
    """One direction of one peephole layer over one sequence x (T, m), zero initial state."""
    W, U = sd["weight_ih" + suffix], sd["weight_hh" + suffix]
    b = sd["bias_ih" + suffix] + sd["bias_hh" + suffix]
    pi, pf, po = sd["peephole_i" + suffix], sd["peephole_f" + suffix], sd["peephole_o" + suffix]
    n = U.shape[1]
    h = x.new_zeros(n)
    c = x.new_zeros(n)
    out = []
    for t in range(x.shape[0]):
        z = W @ x[t] + U @ h + b
        i = torch.sigmoid(z[:n] + pi * c)
        f = torch.sigmoid(z[n:2 * n] + pf * c)
        g = torch.tanh(z[2 * n:3 * n])
        c = f * c + i * g
        o = torch.sigmoid(z[3 * n:] + po * c)
        h = o * torch.tanh(c)
        out.append(h)
    return torch.stack(out)


def _peephole_top(torch, model, sd, tx, lengths):
    """Top-layer outputs (B, T, D·n), zero past each length, and the last-pooled rows (B, D·n)."""
    B, T = tx.shape[0], tx.shape[1]
    tops, lasts = [], []
    for b in range(B):
        inp = tx[b, :lengths[b]]
        for k in range(model.num_layers):
            fwd = _peephole_layer(torch, sd, f"_l{k}", inp)
            outs = [fwd]
            if model.bidirectional:
                outs.append(_peephole_layer(torch, sd, f"_l{k}_reverse", inp.flip(0)).flip(0))
            inp = torch.cat(outs, dim=1)
        n = model.n_units
        last = inp[-1] if not model.bidirectional else torch.cat([inp[-1, :n], inp[0, n:]])
        tops.append(torch.cat([inp, inp.new_zeros(T - lengths[b], inp.shape[1])]))
        lasts.append(last)
    return torch.stack(tops), torch.stack(lasts)


def torch_reference(torch, model, x, lengths, target, loss):
    """``(loss, y, alpha or None, grads)`` of ``model``'s equations in torch: ``grads`` by state-dict
    key, plus ``"x"`` for float inputs."""
    sd = {k: torch.from_numpy(np.ascontiguousarray(v)).requires_grad_(True) for k, v in model.state_dict().items()}
    tx = torch.from_numpy(np.asarray(x, dtype=np.float64)).requires_grad_(True)
    B, T = tx.shape[0], tx.shape[1]
    D, n = model.num_directions, model.n_units
    if model.kind == "peephole":
        top, last = _peephole_top(torch, model, sd, tx, list(lengths))
    else:
        kw = {"nonlinearity": "tanh"} if model.kind == "rnn" else {}
        rec = getattr(torch.nn, TORCH_CLASSES[model.kind])(
            model.n_inputs, n, num_layers=model.num_layers, bidirectional=model.bidirectional,
            batch_first=True, **kw).double()
        rec.load_state_dict({k: v.detach() for k, v in sd.items() if "." not in k}, strict=True)
        sd.update(dict(rec.named_parameters()))
        packed = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.as_tensor(lengths), batch_first=True,
                                                         enforce_sorted=False)
        out, h_n = rec(packed)
        h_n = h_n[0] if model.kind == "lstm" else h_n
        top, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
        last = torch.cat([h_n[-D + d] for d in range(D)], dim=1)
    alpha = None
    if model.pool == "attention":
        u = torch.tanh(top @ sd["attention.weight"].T + sd["attention.bias"])
        e = u @ sd["attention.v"]
        mask = torch.arange(T)[None, :] < torch.as_tensor(lengths)[:, None]
        alpha = torch.softmax(e.masked_fill(~mask, float("-inf")), dim=1)
        context = (alpha[:, :, None] * top).sum(dim=1)
    else:
        context = last
    y = context @ sd["head.weight"].T + sd["head.bias"]
    if loss == "cross_entropy":
        value = torch.nn.functional.cross_entropy(y, torch.from_numpy(np.asarray(target)))
    else:
        value = torch.nn.functional.mse_loss(y, torch.from_numpy(np.asarray(target, dtype=np.float64)))
    value.backward()
    grads = {k: v.grad.numpy() for k, v in sd.items()}
    grads["x"] = tx.grad.numpy()
    return (value.item(), y.detach().numpy(), None if alpha is None else alpha.detach().numpy(), grads)
