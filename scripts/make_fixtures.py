#!/usr/bin/python3
"""Generate the PyTorch oracle fixtures under test/fixtures/.

Run (Debian's python3-torch, NOT a venv python that cannot see torch):

    apt-get install -y python3-torch python3-numpy libopenblas0-pthread
    /usr/bin/python3 scripts/make_fixtures.py

The output is deterministic: running the script twice gives byte-identical
files (fixed seeds, single-threaded CPU, float64 math, fixed JSON formatting).

Formulas / procedure
====================

Every case has a fixed integer seed S (see CASES / SEQ_CASES below).

Parameters
  torch.manual_seed(S)                       # seeds PyTorch's default init
  lstm = nn.LSTM(I, H, L, bidirectional=bd, batch_first=bf)
      # default init: every weight/bias ~ U(-1/sqrt(H), 1/sqrt(H))
  (Sequential cases additionally: lin = nn.Linear(H, U), created right
   after the LSTM, default init W, b ~ U(-1/sqrt(H), 1/sqrt(H)).)
  Every parameter is rounded to float32 (it already is float32), and the
  module is then converted with .double(): the float64 computation is exact
  with respect to the float32 parameters/inputs that the fixture stores, so
  the fixture is the "true" answer for float32 inputs, rounded once to
  float32 when written.

Inputs (drawn in this order from g = torch.Generator().manual_seed(S),
every draw rounded to float32 before use):
  D   = 2 if bidirectional else 1
  x       ~ randn([T,B,I])   ([B,T,I] if batchFirst)
  h0      ~ 0.5 * randn([L*D, B, H])      (omitted for `nostate`)
  c0      ~ 0.5 * randn([L*D, B, H])      (omitted for `nostate`)
  dOutput ~ randn(output.shape)           ([T,B,D*H] or [B,T,D*H])
  dHN     ~ randn([L*D, B, H])            (omitted for `nostate`)
  dCN     ~ randn([L*D, B, H])            (omitted for `nostate`)
  (for `nostate` only x and dOutput are drawn, in that order.)

Forward / backward (float64):
  output, (hN, cN) = lstm(x, (h0, c0))     # lstm(x) for `nostate`
  Lsc = sum(output * dOutput) + sum(hN * dHN) + sum(cN * dCN)
        # `nostate`: Lsc = sum(output * dOutput)  (dHN = dCN = 0)
  dInput = dLsc/dx, dH0 = dLsc/dh0, dC0 = dLsc/dc0,
  grads[k] = dLsc/dparam[k] for every key k of lstm.state_dict().
  So output/hN/cN's upstream gradients are exactly dOutput/dHN/dCN.
  For `nostate`, dH0/dC0 are the gradients w.r.t. the implicit zero
  initial state (computed by a second run with explicit zero h0/c0 that
  require grad; the script asserts it reproduces the hx=None run exactly).

Sequential training cases (time-major, model = nn.Sequential(lstm, lin),
so parameter names are "0.weight_ih_l0", ..., "1.weight", "1.bias"):
  g = torch.Generator().manual_seed(S), draws in order:
  x ~ randn([T,B,I]) (float32-rounded)
  y: seq_ce  -> randint(0, U, [T,B]) (int64 class ids)
     seq_mse -> randn([T,B,U]) (float32-rounded)
  out, _  = lstm(x)                      # zero initial state
  logits  = lin(out)                     # Linear applied at every tick, [T,B,U]
  seq_ce : loss = CrossEntropyLoss(mean)(logits.reshape(T*B,U), y.reshape(T*B))
  seq_mse: loss = MSELoss(mean)(logits, y)   # mean over all T*B*U elements
  grads = d loss / d param
  one plain SGD step: torch.optim.SGD(model.parameters(), lr=0.1).step()
      i.e. p_after = p - 0.1 * grad   (computed in float64, then rounded)

Output format (one compact JSON file per case, test/fixtures/<name>.json)
  tensor := {"shape": [...], "data": [flat row-major numbers]}
  Tensor numbers (and lossValue) are float32 values (float64 results are
  rounded to float32 once, at write time) written as the SHORTEST decimal
  that round-trips as float32 (numpy's str(np.float32(v)), e.g. 0.1 instead
  of repr(float(np.float32(0.1))) = 0.10000000149011612). This keeps the
  fixtures ~45% smaller. The script verifies every written number: parsing
  it as a double (JSON.parse / Python float, correctly rounded) and then
  rounding to float32 (Float32Array / Math.fround / `as f32`) must give back
  exactly the float32 value; parsing directly as f32 (serde) is exact too.
  Should any shortest string fail that double-rounding check, the script
  falls back to repr(float(np.float32(v))) for that number (exactly
  representable in float64, so any parser is exact). Pass --repr64 to write
  every number with repr(float(np.float32(v))).
  Integer targets (seq_ce "y") are written as JSON integers; "lr" is the
  plain Python float 0.1.
  See test/fixtures/README.md for the field lists.
"""

import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "test", "fixtures")

# name: (seed, input, hidden, layers, bidirectional, batchFirst, T, B, withState)
CASES = [
    ("single", 1001, 5, 7, 1, False, False, 6, 3, True),
    ("stacked3", 1002, 4, 6, 3, False, False, 5, 2, True),
    ("bidir2", 1003, 3, 5, 2, True, False, 7, 2, True),
    ("long1000", 1004, 3, 8, 1, False, False, 1000, 2, True),
    ("batchfirst_bidir", 1005, 4, 3, 1, True, True, 4, 3, True),
    ("nostate", 1006, 3, 4, 2, False, False, 3, 2, False),
]

# name: (seed, input, hidden, layers, units, loss, T, B)
SEQ_CASES = [
    ("seq_ce", 2001, 4, 6, 2, 5, "crossEntropy", 5, 3),
    ("seq_mse", 2002, 3, 5, 1, 2, "mse", 4, 2),
]

LR = 0.1


# ---------------------------------------------------------------- helpers

def f32(t):
    """Round a tensor to float32 values, returned as float64 (exact)."""
    return t.detach().to(torch.float32).to(torch.float64)


def randn(g, shape, scale=1.0):
    t = torch.randn(*shape, generator=g, dtype=torch.float32)
    if scale != 1.0:
        t = t * scale  # float32 multiply: result is a float32 value
    return f32(t)


def tensor_json(t):
    a = t.detach().cpu().numpy()
    if np.issubdtype(a.dtype, np.integer):
        data = [int(v) for v in a.reshape(-1)]
    else:
        a32 = a.astype(np.float32).reshape(-1)
        if not np.all(np.isfinite(a32)):
            raise ValueError("non-finite value in fixture tensor")
        data = list(a32)  # np.float32 scalars, formatted by fmt32()
    return {"shape": list(a.shape), "data": data}


def num_json(v):
    v32 = np.float32(v)
    if not np.isfinite(v32):
        raise ValueError("non-finite scalar")
    return v32


REPR64 = False  # --repr64: write repr(float(np.float32(v))) everywhere
N_FALLBACK = 0


def fmt32(v):
    """Decimal text for a float32 value that parses back to exactly v."""
    global N_FALLBACK
    v = np.float32(v)
    full = repr(float(v))
    if REPR64:
        return full
    short = str(v)
    # JS path: JSON.parse -> double (correctly rounded) -> Float32Array.
    if np.float32(float(short)).tobytes() == v.tobytes():
        return short
    N_FALLBACK += 1
    return full


def encode(o):
    """Compact JSON (like json.dumps(separators=(',',':'))), f32-aware."""
    if isinstance(o, np.float32):
        return fmt32(o)
    if isinstance(o, bool) or o is None:
        return json.dumps(o)
    if isinstance(o, (int, np.integer)):
        return str(int(o))
    if isinstance(o, float):
        if not math.isfinite(o):
            raise ValueError("non-finite")
        return repr(o)
    if isinstance(o, str):
        return json.dumps(o)
    if isinstance(o, list):
        return "[" + ",".join(encode(v) for v in o) + "]"
    if isinstance(o, dict):
        return "{" + ",".join(json.dumps(k) + ":" + encode(v) for k, v in o.items()) + "}"
    raise TypeError(type(o))


def state_dict_json(module):
    return {k: tensor_json(v) for k, v in module.state_dict().items()}


def grads_json(module):
    params = dict(module.named_parameters())
    out = {}
    for k in module.state_dict().keys():
        g = params[k].grad
        assert g is not None, k
        out[k] = tensor_json(g)
    return out


def prepare(module):
    """Round every parameter to float32, then switch to float64."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(p.to(torch.float32))
    return module.double()


def write(name, obj):
    path = os.path.join(OUT_DIR, name + ".json")
    text = encode(obj)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
        f.write("\n")
    verify_file(path, obj)
    return path


def verify_file(path, obj):
    """Re-parse: every float must parse (double -> f32) to the f32 written."""
    with open(path, encoding="utf-8") as f:
        back = json.load(f)

    def walk(a, b):
        if isinstance(a, dict):
            assert isinstance(b, dict) and list(a.keys()) == list(b.keys())
            for k in a:
                walk(a[k], b[k])
        elif isinstance(a, list):
            assert len(a) == len(b)
            for u, v in zip(a, b):
                walk(u, v)
        elif isinstance(a, np.float32):
            # parsed double -> float32 must be bit-identical (incl. -0.0)
            assert isinstance(b, float), (a, b)
            assert np.float32(b).tobytes() == a.tobytes(), (a, b)
        elif isinstance(a, float):
            assert isinstance(b, float) and a == b, (a, b)
        else:
            assert type(a) is type(b) or isinstance(a, np.integer), (a, b)
            assert a == b, (a, b)

    walk(obj, back)
    for v in _tensors(back):
        n = 1
        for s in v["shape"]:
            n *= s
        assert n == len(v["data"]), path


def _tensors(o):
    if isinstance(o, dict):
        if set(o.keys()) == {"shape", "data"}:
            yield o
        else:
            for v in o.values():
                yield from _tensors(v)


def lstm_config(I, H, L, bd, bf):
    return {
        "inputSize": I,
        "hiddenSize": H,
        "numLayers": L,
        "bidirectional": bd,
        "batchFirst": bf,
    }


# ---------------------------------------------------------------- LSTM cases

def make_lstm_case(name, seed, I, H, L, bd, bf, T, B, with_state):
    D = 2 if bd else 1
    torch.manual_seed(seed)
    lstm = prepare(nn.LSTM(I, H, L, bidirectional=bd, batch_first=bf))
    # float32 twin with identical weights (only for the printed sanity diff)
    lstm32 = nn.LSTM(I, H, L, bidirectional=bd, batch_first=bf)
    lstm32.load_state_dict({k: v.float() for k, v in lstm.state_dict().items()})

    g = torch.Generator().manual_seed(seed)
    x_shape = (B, T, I) if bf else (T, B, I)
    out_shape = (B, T, D * H) if bf else (T, B, D * H)
    st_shape = (L * D, B, H)

    x = randn(g, x_shape).requires_grad_(True)
    if with_state:
        h0 = randn(g, st_shape, 0.5).requires_grad_(True)
        c0 = randn(g, st_shape, 0.5).requires_grad_(True)
    dOut = randn(g, out_shape)
    if with_state:
        dHN = randn(g, st_shape)
        dCN = randn(g, st_shape)

    if with_state:
        out, (hN, cN) = lstm(x, (h0, c0))
        assert out.dtype == torch.float64
        loss = (out * dOut).sum() + (hN * dHN).sum() + (cN * dCN).sum()
        loss.backward()
        dH0, dC0 = h0.grad, c0.grad
        out32, (hN32, cN32) = lstm32(x.float(), (h0.float(), c0.float()))
    else:
        out, (hN, cN) = lstm(x)
        loss = (out * dOut).sum()
        loss.backward()
        # gradient w.r.t. the implicit zero initial state: second run with
        # explicit zeros that require grad (must reproduce the hx=None run).
        z_h = torch.zeros(st_shape, dtype=torch.float64, requires_grad=True)
        z_c = torch.zeros(st_shape, dtype=torch.float64, requires_grad=True)
        lstm_b = prepare(nn.LSTM(I, H, L, bidirectional=bd, batch_first=bf))
        lstm_b.load_state_dict(lstm.state_dict())
        x_b = x.detach().clone().requires_grad_(True)
        out_b, (hN_b, cN_b) = lstm_b(x_b, (z_h, z_c))
        (out_b * dOut).sum().backward()
        assert torch.equal(out_b, out) and torch.equal(hN_b, hN) and torch.equal(cN_b, cN)
        assert torch.equal(x_b.grad, x.grad)
        dH0, dC0 = z_h.grad, z_c.grad
        out32, (hN32, cN32) = lstm32(x.float())

    diff = max(
        (out32.double() - out).abs().max().item(),
        (hN32.double() - hN).abs().max().item(),
        (cN32.double() - cN).abs().max().item(),
    )

    obj = {
        "name": name,
        "torch": str(torch.__version__),
        "config": lstm_config(I, H, L, bd, bf),
        "T": T,
        "B": B,
        "stateDict": state_dict_json(lstm),
        "x": tensor_json(x),
        "h0": tensor_json(h0) if with_state else None,
        "c0": tensor_json(c0) if with_state else None,
        "output": tensor_json(out),
        "hN": tensor_json(hN),
        "cN": tensor_json(cN),
        "dOutput": tensor_json(dOut),
        "dHN": tensor_json(dHN) if with_state else None,
        "dCN": tensor_json(dCN) if with_state else None,
        "dInput": tensor_json(x.grad),
        "dH0": tensor_json(dH0),
        "dC0": tensor_json(dC0),
        "grads": grads_json(lstm),
    }
    return obj, diff


# ---------------------------------------------------------------- Sequential

def make_seq_case(name, seed, I, H, L, U, loss_kind, T, B):
    torch.manual_seed(seed)
    lstm = nn.LSTM(I, H, L)
    lin = nn.Linear(H, U)
    model = prepare(nn.Sequential(lstm, lin))

    g = torch.Generator().manual_seed(seed)
    x = randn(g, (T, B, I))
    if loss_kind == "crossEntropy":
        y = torch.randint(0, U, (T, B), generator=g, dtype=torch.int64)
    else:
        y = randn(g, (T, B, U))

    state_before = state_dict_json(model)

    out, _ = model[0](x)
    logits = model[1](out)  # [T,B,U]
    if loss_kind == "crossEntropy":
        loss = nn.CrossEntropyLoss()(logits.reshape(T * B, U), y.reshape(T * B))
    else:
        loss = nn.MSELoss()(logits, y)

    opt = torch.optim.SGD(model.parameters(), lr=LR)
    opt.zero_grad()
    loss.backward()
    grads = grads_json(model)
    # check SGD against the explicit formula
    expected = {k: (p.detach() - LR * p.grad).clone() for k, p in model.named_parameters()}
    opt.step()
    for k, p in model.named_parameters():
        # torch's add_(grad, alpha=-lr) may fuse (FMA): equal up to 1 ulp(f64)
        assert torch.allclose(p.detach(), expected[k], rtol=1e-15, atol=1e-17), k

    obj = {
        "name": name,
        "torch": str(torch.__version__),
        "lstm": lstm_config(I, H, L, False, False),
        "dense": {"inputSize": H, "units": U},
        "loss": loss_kind,
        "T": T,
        "B": B,
        "lr": LR,
        "stateDict": state_before,
        "x": tensor_json(x),
        "y": tensor_json(y),
        "logits": tensor_json(logits),
        "lossValue": num_json(loss.item()),
        "grads": grads,
        "stateDictAfterStep": state_dict_json(model),
    }
    return obj


# ---------------------------------------------------------------- main

def main():
    global REPR64
    REPR64 = "--repr64" in sys.argv[1:]
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT_DIR, exist_ok=True)

    total = 0
    for (name, seed, I, H, L, bd, bf, T, B, ws) in CASES:
        obj, diff = make_lstm_case(name, seed, I, H, L, bd, bf, T, B, ws)
        path = write(name, obj)
        size = os.path.getsize(path)
        total += size
        print(f"{name:18s} {size:8d} B  max|f32 torch - f64 oracle| fwd = {diff:.3e}")
    for (name, seed, I, H, L, U, lk, T, B) in SEQ_CASES:
        obj = make_seq_case(name, seed, I, H, L, U, lk, T, B)
        path = write(name, obj)
        size = os.path.getsize(path)
        total += size
        print(f"{name:18s} {size:8d} B  loss = {obj['lossValue']!r}")
    print(f"total {total} B, torch {torch.__version__}, "
          f"shortest-f32 fallbacks to repr64: {N_FALLBACK}")


if __name__ == "__main__":
    sys.exit(main())
