#!/usr/bin/python3
"""Generate the PyTorch optimizer-trajectory fixtures under test/fixtures/optim/.

Run (Debian's python3-torch 1.13, NOT a venv python that cannot see torch):

    apt-get install -y python3-torch python3-numpy libopenblas0-pthread
    /usr/bin/python3 scripts/make_optim_fixtures.py

Deterministic: running it twice gives byte-identical files (fixed seeds,
1 CPU thread, float64 math, the JSON writer of scripts/make_fixtures.py).
Numbers are written exactly like the other fixtures (shortest decimal that
round-trips as float32, every number re-parsed and checked; --repr64 writes
repr(float(np.float32(v))) instead). See test/fixtures/README.md.

Model, data, procedure
======================

SEED = 3001.
  torch.manual_seed(SEED)
  model = nn.Sequential(nn.LSTM(4, 6, 2), nn.Linear(6, 5))   # default init
  every parameter rounded to float32, then model.double()   (float64 leaves)
  Keys (state_dict order): 0.weight_ih_l0 [24,4], 0.weight_hh_l0 [24,6],
  0.bias_ih_l0 [24], 0.bias_hh_l0 [24], 0.weight_ih_l1 [24,6],
  0.weight_hh_l1 [24,6], 0.bias_ih_l1 [24], 0.bias_hh_l1 [24],
  1.weight [5,6], 1.bias [5].  Every case starts from these same values.

Batches: g = torch.Generator().manual_seed(SEED), draws in this order
  x0 ~ randn([5,3,4]) (float32-rounded), y0 ~ randint(0, 5, [5,3]),
  x1, y1, x2, y2 (same shapes); then y1[2][1] = -1 (an ignored target).
Time-major, T=5, B=3, zero initial LSTM state.

Step k = 0, 1, 2 (float64 throughout):
  out, _ = model[0](x_k)                   # [T,B,6]
  logits = model[1](out)                   # Linear at every tick, [T,B,5]
  loss   = CrossEntropyLoss(ignore_index=-1)(logits.reshape(15,5), y_k.reshape(15))
           # mean over the NON-ignored targets (batch 1 divides by 14, not 15)
  opt.zero_grad(); loss.backward()
  gradNorm = sqrt(sum over all params of sum(grad^2))      # before clipping
  clipping (only in the *_clip* cases, before opt.step()):
    clip_grad_norm_(params, max_norm):  total = || [ ||g_i||_2 for each param ] ||_2
        coef = max_norm / (total + 1e-6)          # NOTE the +1e-6
        if coef < 1: every g_i *= coef            # (torch: g *= min(coef, 1))
    clip_grad_value_(params, c):  g = clamp(g, -c, c) elementwise
  opt.step()
  record: loss (before the update), gradNorm, stateDict after the update.
Weight decay is applied INSIDE the optimizer, i.e. after clipping, so the
decay term itself is never clipped.

Update rules (torch 1.13, the default single-tensor for-loop path; the
optimizer runs on the float64 params). Per parameter p with gradient g
(already clipped); t = 1, 2, 3 is the step count; all state starts at 0
unless stated otherwise; x^2, sqrt, / are elementwise.

SGD(lr, momentum=0, dampening=0, weight_decay=0, nesterov=False)
  d = g + weight_decay * p
  if momentum != 0:
      t == 1:  buf = d                      # NO dampening on the first step
      t >  1:  buf = momentum * buf + (1 - dampening) * d
      d = d + momentum * buf   if nesterov   else   d = buf
  p = p - lr * d

RMSprop(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False)
  g = g + weight_decay * p
  v = alpha * v + (1 - alpha) * g^2
  if centered:
      gavg = alpha * gavg + (1 - alpha) * g
      avg  = sqrt(v - gavg^2) + eps         # eps OUTSIDE the sqrt
  else:
      avg  = sqrt(v) + eps                  # eps outside the sqrt
  if momentum > 0:
      buf = momentum * buf + g / avg        # buf starts at 0 (t=1: buf = g/avg)
      p = p - lr * buf
  else:
      p = p - lr * g / avg
  (no bias correction)

Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False)
  g = g + weight_decay * p                  # L2 (coupled) decay, BEFORE the moments
  m = beta1 * m + (1 - beta1) * g
  v = beta2 * v + (1 - beta2) * g^2
  bc1 = 1 - beta1^t ;  bc2 = 1 - beta2^t
  if amsgrad:
      vmax = max(vmax, v)                   # max of the RAW v (not of v/bc2); vmax starts at 0
      denom = sqrt(vmax) / sqrt(bc2) + eps
  else:
      denom = sqrt(v) / sqrt(bc2) + eps     # = sqrt(v_hat) + eps
  p = p - (lr / bc1) * m / denom            # = p - lr * m_hat / (sqrt(v_hat) + eps)

AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, amsgrad=False)
  p = p * (1 - lr * weight_decay)           # decoupled decay FIRST, with plain lr
                                            # (not lr/bc1), using p before this step
  m, v, vmax, bc1, bc2, denom exactly as Adam, from the UNdecayed g
  p = p - (lr / bc1) * m / denom            # applied to the already-decayed p
  i.e. p_new = p - lr*wd*p - (lr/bc1) * m / denom

Adagrad(lr=0.01, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10)
  g   = g + weight_decay * p
  clr = lr / (1 + (t - 1) * lr_decay)       # t = 1 on the first step: clr = lr
  s   = s + g^2                             # s starts at initial_accumulator_value
  p   = p - clr * g / (sqrt(s) + eps)

Self-checks performed by this script
  * every case's whole 3-step trajectory is recomputed in numpy float64 from
    the formulas above (clipping included; from torch's gradients) and must
    match torch to 1e-12 relative (this covers Adam, AdamW, RMSprop-centered
    and all the others);
  * the plausible-but-wrong variants listed in VARIANTS (first-step dampening,
    eps inside the sqrt, amsgrad max of v_hat, AdamW decay after the update,
    Adagrad lr_decay with t instead of t-1, clip without +1e-6, TF-style Adam
    eps) are run too; the script prints how far they land from torch and
    asserts that each differs from torch by more than f32 rounding in the
    stored float32 values of the case it targets, i.e. the fixtures tell
    them apart;
  * the clip-norm cases assert gradNorm > maxNorm at every step (clipping
    active); the clip-value case asserts that some gradient entries exceed
    the clip value at every step;
  * a float32 twin (float32 model + float32 torch optimizer, same inputs) is
    run and its max |difference| from the oracle is printed, as a hint for
    test tolerances.

Output (one compact JSON per case, test/fixtures/optim/<name>.json):
  name, torch, model{lstm{inputSize,hiddenSize,numLayers,bidirectional,batchFirst},
  dense{inputSize,units}}, loss ("crossEntropy"), optimizer{type, options},
  clipGradNorm (number|null), clipGradValue (number|null), initial{stateDict},
  batches[3]{x [5,3,4], y [5,3] ints}, steps[3]{loss, gradNorm, stateDict}.
  optimizer.options holds exactly the keyword arguments passed to torch, in
  camelCase (lr_decay -> lrDecay, ...), as plain JSON numbers/booleans
  (repr of the Python value, e.g. 1e-08), betas as a 2-element array;
  torch's defaults (above) apply to everything not listed.
  Tensors, loss and gradNorm are float32-rounded at write time.
"""

import copy
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.dont_write_bytecode = True  # no scripts/__pycache__ from the import below
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402  (same number writer / checks / helpers)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "test", "fixtures", "optim")

SEED = 3001
I, H, L, U, T, B = 4, 6, 2, 5, 5, 3
N_STEPS = 3
IGNORED = (1, 2, 1)  # batch 1, target [t=2][b=1] := -1

# name: (torch optimizer class name, kwargs (snake_case, in the order passed),
#        clip_grad_norm max_norm or None, clip_grad_value or None)
CASES = [
    ("sgd_plain", "SGD", [("lr", 0.1)], None, None),
    ("sgd_momentum", "SGD",
     [("lr", 0.1), ("momentum", 0.9), ("dampening", 0.1), ("weight_decay", 0.01)], None, None),
    ("sgd_nesterov", "SGD",
     [("lr", 0.1), ("momentum", 0.9), ("nesterov", True), ("weight_decay", 0.01)], None, None),
    ("rmsprop", "RMSprop", [("lr", 0.01)], None, None),
    ("rmsprop_centered_momentum", "RMSprop",
     [("lr", 0.01), ("alpha", 0.9), ("eps", 1e-6), ("momentum", 0.5), ("centered", True),
      ("weight_decay", 0.01)], None, None),
    ("adam", "Adam", [("lr", 1e-3)], None, None),
    ("adam_amsgrad_wd", "Adam",
     [("lr", 1e-2), ("betas", (0.8, 0.95)), ("eps", 1e-7), ("weight_decay", 0.05),
      ("amsgrad", True)], None, None),
    ("adamw", "AdamW", [("lr", 1e-2)], None, None),
    ("adamw_amsgrad", "AdamW",
     [("lr", 1e-2), ("weight_decay", 0.1), ("amsgrad", True)], None, None),
    ("adagrad", "Adagrad",
     [("lr", 0.1), ("lr_decay", 0.01), ("initial_accumulator_value", 0.1), ("eps", 1e-10),
      ("weight_decay", 0.01)], None, None),
    # max_norm: the gradient norms of this model/data are only ~0.08-0.55
    # (printed when the script runs), so 0.05 / 0.03 keep clipping active on
    # every step (asserted below).
    ("adam_clipnorm", "Adam", [("lr", 1e-2)], 0.05, None),
    ("sgd_clipnorm", "SGD", [("lr", 0.1), ("momentum", 0.9)], 0.03, None),
    ("adam_clipvalue", "Adam", [("lr", 1e-2)], None, 0.01),
]

# torch 1.13 defaults (only used by the numpy reference)
DEFAULTS = {
    "SGD": dict(momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False),
    "RMSprop": dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                    centered=False),
    "Adam": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False),
    "AdamW": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False),
    "Adagrad": dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                    eps=1e-10),
}

# Wrong-but-plausible rules: (case it targets, variant flag, description).
VARIANTS = [
    ("sgd_momentum", "damp_first", "SGD: dampening also on the first step (buf = (1-d)*g)"),
    ("rmsprop_centered_momentum", "eps_in_sqrt", "RMSprop: eps inside the sqrt"),
    ("adam_amsgrad_wd", "amsgrad_vhat", "Adam amsgrad: max of v_hat = v/bc2 instead of raw v"),
    ("adam_amsgrad_wd", "adam_decoupled", "Adam weight_decay: decoupled (AdamW-style)"),
    ("adamw", "adamw_decay_after", "AdamW: decay applied after the Adam update"),
    ("adamw", "adamw_decay_lr_bc1", "AdamW: decay scaled by lr/bc1 instead of lr"),
    ("adagrad", "adagrad_t", "Adagrad: clr = lr/(1 + t*lr_decay) instead of (t-1)"),
    ("sgd_clipnorm", "clip_no_eps", "clip_grad_norm_: coef = max/total (no +1e-6)"),
    ("adam_clipnorm", "clip_no_eps", "clip_grad_norm_: coef = max/total (no +1e-6)"),
    ("adam", "adam_tf_eps", "Adam: TF-style eps, lr*sqrt(bc2)/bc1 * m/(sqrt(v)+eps)"),
]


def camel(name):
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def options_json(kwargs):
    out = {}
    for k, v in kwargs:
        if isinstance(v, tuple):
            v = [float(u) for u in v]
        elif isinstance(v, bool):
            pass
        else:
            v = float(v)
        out[camel(k)] = v
    return out


# ---------------------------------------------------------------- model / data

def make_model():
    torch.manual_seed(SEED)
    lstm = nn.LSTM(I, H, L)
    lin = nn.Linear(H, U)
    return mf.prepare(nn.Sequential(lstm, lin))


def make_batches():
    g = torch.Generator().manual_seed(SEED)
    batches = []
    for _ in range(N_STEPS):
        x = mf.randn(g, (T, B, I))
        y = torch.randint(0, U, (T, B), generator=g, dtype=torch.int64)
        batches.append((x, y))
    k, t, b = IGNORED
    batches[k][1][t, b] = -1
    return batches


def forward_loss(model, x, y):
    out, _ = model[0](x)
    logits = model[1](out).reshape(T * B, U)
    yf = y.reshape(T * B)
    loss = nn.CrossEntropyLoss(ignore_index=-1)(logits, yf)
    # by hand: mean of -log_softmax[target] over the non-ignored targets only
    keep = yf != -1
    manual = -torch.log_softmax(logits.detach(), 1)[keep, yf[keep]].mean()
    tol = 1e-14 if logits.dtype == torch.float64 else 1e-6
    assert abs(loss.item() - manual.item()) <= tol, (loss.item(), manual.item())
    return loss


def run_torch(model, batches, opt_type, kwargs, clip_norm, clip_value):
    """Train 3 steps. Returns per step (loss, gradNorm, raw grads, params after)."""
    params = list(model.parameters())
    names = [k for k, _ in model.named_parameters()]
    assert names == list(model.state_dict().keys())
    opt = getattr(torch.optim, opt_type)(params, **dict(kwargs))
    dtype = params[0].dtype
    steps = []
    for x, y in batches:
        opt.zero_grad()
        loss = forward_loss(model, x.to(dtype), y)
        loss.backward()
        raw = {k: p.grad.detach().clone() for k, p in zip(names, params)}
        gnorm = torch.sqrt(sum((p.grad.detach() ** 2).sum() for p in params))
        if clip_norm is not None:
            total = torch.nn.utils.clip_grad_norm_(params, clip_norm)
            tol = 1e-12 if dtype == torch.float64 else 1e-5
            assert abs(total.item() - gnorm.item()) <= tol * gnorm.item()
        if clip_value is not None:
            torch.nn.utils.clip_grad_value_(params, clip_value)
        opt.step()
        after = {k: p.detach().clone() for k, p in zip(names, params)}
        steps.append((loss.item(), gnorm.item(), raw, after))
    return steps


# ---------------------------------------------------------------- numpy reference

def np_trajectory(initial, grads_per_step, opt_type, kwargs, clip_norm, clip_value, variant=None):
    """The header's formulas in numpy float64, from torch's (unclipped) grads."""
    o = dict(DEFAULTS[opt_type])
    o.update(dict(kwargs))
    p = {k: v.copy() for k, v in initial.items()}
    st = {k: {} for k in p}
    out = []
    for t, raw in enumerate(grads_per_step, start=1):
        g = {k: v.copy() for k, v in raw.items()}
        if clip_norm is not None:
            total = np.sqrt(sum(np.sum(v * v) for v in g.values()))
            coef = clip_norm / total if variant == "clip_no_eps" else clip_norm / (total + 1e-6)
            if coef < 1.0:
                g = {k: v * coef for k, v in g.items()}
        if clip_value is not None:
            g = {k: np.clip(v, -clip_value, clip_value) for k, v in g.items()}
        for k in p:
            p[k] = np_update(p[k], g[k], st[k], t, opt_type, o, variant)
        out.append({k: v.copy() for k, v in p.items()})
    return out


def np_update(p, g, s, t, opt_type, o, variant):
    wd = o["weight_decay"]
    if opt_type == "SGD":
        d = g + wd * p
        mom = o["momentum"]
        if mom != 0:
            if t == 1:
                s["buf"] = d.copy() if variant != "damp_first" else (1 - o["dampening"]) * d
            else:
                s["buf"] = mom * s["buf"] + (1 - o["dampening"]) * d
            d = d + mom * s["buf"] if o["nesterov"] else s["buf"]
        return p - o["lr"] * d
    if opt_type == "RMSprop":
        a, eps = o["alpha"], o["eps"]
        g = g + wd * p
        s["v"] = a * s.get("v", 0.0) + (1 - a) * g * g
        if o["centered"]:
            s["gavg"] = a * s.get("gavg", 0.0) + (1 - a) * g
            var = s["v"] - s["gavg"] ** 2
        else:
            var = s["v"]
        avg = np.sqrt(var + eps) if variant == "eps_in_sqrt" else np.sqrt(var) + eps
        if o["momentum"] > 0:
            s["buf"] = o["momentum"] * s.get("buf", 0.0) + g / avg
            return p - o["lr"] * s["buf"]
        return p - o["lr"] * g / avg
    if opt_type in ("Adam", "AdamW"):
        lr, (b1, b2), eps = o["lr"], o["betas"], o["eps"]
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        decoupled = opt_type == "AdamW" or variant == "adam_decoupled"
        p0 = p
        if decoupled and variant not in ("adamw_decay_after", "adamw_decay_lr_bc1"):
            p = p * (1 - lr * wd)
        elif not decoupled:
            g = g + wd * p
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        v = s["v"]
        if o["amsgrad"]:
            if variant == "amsgrad_vhat":
                s["vmax_hat"] = np.maximum(s.get("vmax_hat", 0.0), s["v"] / bc2)
                v = s["vmax_hat"] * bc2
            else:
                s["vmax"] = np.maximum(s.get("vmax", 0.0), s["v"])
                v = s["vmax"]
        if variant == "adam_tf_eps":
            p = p - lr * np.sqrt(bc2) / bc1 * s["m"] / (np.sqrt(v) + eps)
        else:
            p = p - (lr / bc1) * s["m"] / (np.sqrt(v) / np.sqrt(bc2) + eps)
        if variant == "adamw_decay_after":
            p = p * (1 - lr * wd)
        elif variant == "adamw_decay_lr_bc1":
            p = p - (lr / bc1) * wd * p0
        return p
    if opt_type == "Adagrad":
        g = g + wd * p
        n = t if variant == "adagrad_t" else t - 1
        clr = o["lr"] / (1 + n * o["lr_decay"])
        s["sum"] = s.get("sum", o["initial_accumulator_value"]) + g * g
        return p - clr * g / (np.sqrt(s["sum"]) + o["eps"])
    raise ValueError(opt_type)


def max_rel_err(a_steps, b_steps):
    err = 0.0
    for a, b in zip(a_steps, b_steps):
        for k in a:
            d = np.abs(a[k] - b[k]) / np.maximum(1.0, np.abs(b[k]))
            err = max(err, float(d.max()))
    return err


def f32_mismatches(a_steps, b_steps):
    """How many stored float32 values would differ by more than 2 ulp(f32)."""
    n = 0
    for a, b in zip(a_steps, b_steps):
        for k in a:
            a32 = a[k].astype(np.float32).astype(np.float64)
            b32 = b[k].astype(np.float32).astype(np.float64)
            ulp = np.spacing(np.abs(b[k]).astype(np.float32)).astype(np.float64)
            n += int(np.sum(np.abs(a32 - b32) > 2 * ulp))
    return n


# ---------------------------------------------------------------- main

def main():
    mf.REPR64 = "--repr64" in sys.argv[1:]
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT_DIR, exist_ok=True)

    base = make_model()
    batches = make_batches()
    initial_json = mf.state_dict_json(base)
    initial_np = {k: v.detach().numpy().copy() for k, v in base.state_dict().items()}
    batches_json = [{"x": mf.tensor_json(x), "y": mf.tensor_json(y)} for x, y in batches]

    total = 0
    results = {}
    for name, opt_type, kwargs, clip_norm, clip_value in CASES:
        model = copy.deepcopy(base)
        steps = run_torch(model, batches, opt_type, kwargs, clip_norm, clip_value)

        # numpy reference of the documented formulas
        grads_np = [{k: v.numpy() for k, v in raw.items()} for _, _, raw, _ in steps]
        torch_np = [{k: v.numpy() for k, v in after.items()} for _, _, _, after in steps]
        ref = np_trajectory(initial_np, grads_np, opt_type, kwargs, clip_norm, clip_value)
        err = max_rel_err(ref, torch_np)
        assert err < 1e-12, (name, err)

        # clipping must be active
        norms = [gn for _, gn, _, _ in steps]
        if clip_norm is not None:
            assert all(gn > clip_norm for gn in norms), (name, norms)
        if clip_value is not None:
            for _, _, raw, _ in steps:
                n_clip = sum(int((v.abs() > clip_value).sum()) for v in raw.values())
                n_all = sum(v.numel() for v in raw.values())
                assert 0 < n_clip < n_all, (name, n_clip, n_all)

        # float32 twin, for the printed tolerance hint
        m32 = copy.deepcopy(base).float()
        s32 = run_torch(m32, [(x.float(), y) for x, y in batches], opt_type, kwargs,
                        clip_norm, clip_value)
        d32 = max(float((a32.double() - a).abs().max())
                  for (_, _, _, A32), (_, _, _, A) in zip(s32, steps)
                  for a32, a in zip(A32.values(), A.values()))
        dl32 = max(abs(l32 - lv) for (l32, _, _, _), (lv, _, _, _) in zip(s32, steps))

        obj = {
            "name": name,
            "torch": str(torch.__version__),
            "model": {
                "lstm": mf.lstm_config(I, H, L, False, False),
                "dense": {"inputSize": H, "units": U},
            },
            "loss": "crossEntropy",
            "optimizer": {"type": opt_type, "options": options_json(kwargs)},
            "clipGradNorm": None if clip_norm is None else float(clip_norm),
            "clipGradValue": None if clip_value is None else float(clip_value),
            "initial": initial_json,
            "batches": batches_json,
            "steps": [
                {
                    "loss": mf.num_json(lv),
                    "gradNorm": mf.num_json(gn),
                    "stateDict": {k: mf.tensor_json(v) for k, v in after.items()},
                }
                for lv, gn, _, after in steps
            ],
        }
        path = write(name, obj)
        size = os.path.getsize(path)
        total += size
        results[name] = (opt_type, kwargs, clip_norm, clip_value, grads_np, torch_np)
        extra = ""
        if clip_norm is not None or clip_value is not None:
            extra = "  gradNorm " + ", ".join(f"{gn:.6f}" for gn in norms)
        print(f"{name:26s} {size:7d} B  numpy-ref rel err {err:.1e}  "
              f"f32 twin: max|dp| {d32:.1e} max|dloss| {dl32:.1e}{extra}")

    print("\nwrong-rule variants (max |alt - torch| over all params/steps; stored f32 values off by > 2 ulp):")
    for case, variant, desc in VARIANTS:
        opt_type, kwargs, clip_norm, clip_value, grads_np, torch_np = results[case]
        alt = np_trajectory(initial_np, grads_np, opt_type, kwargs, clip_norm, clip_value, variant)
        n_bad = f32_mismatches(alt, torch_np)
        print(f"  {case:26s} {max_rel_err(alt, torch_np):.1e}  {n_bad:5d}  {desc}")
        assert n_bad > 0, (case, variant)

    print(f"\ntotal {total} B, torch {torch.__version__}, "
          f"shortest-f32 fallbacks to repr64: {mf.N_FALLBACK}")


def write(name, obj):
    path = os.path.join(OUT_DIR, name + ".json")
    text = mf.encode(obj)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
        f.write("\n")
    mf.verify_file(path, obj)
    return path


if __name__ == "__main__":
    sys.exit(main())
