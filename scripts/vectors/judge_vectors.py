#!/usr/bin/env python3
"""Reference values for mlops-deploy's canary judge (mlops_deploy::judge).

Writes mlops-deploy/tests/data/judge_vectors.json and the offline-judge fixture
examples/tests/data/judge_looks.csv (+ judge_looks.expected.jsonl). Run it with the
workspace venv (SciPy and numpy come with MLflow):

    .venv/bin/python scripts/vectors/judge_vectors.py

The judge is re-implemented here from its definition with SciPy's special functions:
  - ln Phi(x): scipy.special.log_ndtr.
  - Normal mixture (JKPW in information time 1/s^2, prior N(0, tau^2) on the effect):
        ln L = 1/2 ln(s2/(s2+tau^2)) + tau^2 d^2 / (2 s2 (s2+tau^2)).
  - Half-normal mixture over effects below zero:
        ln L- = ln 2 + log_ndtr(-d tau / (s sqrt(s2+tau^2))) + ln L;  above: d -> -d.
  - Confidence-sequence radius: u* s, with u* the root of
        ln L+(u s) = ln(1/alpha) (scipy.optimize.brentq, xtol 1e-15).
  - Judge: with a horizon and horizon_alpha a > 0, the harm test runs sequentially at
        alpha - a and takes one pooled z-test at a at the look that reaches the horizon;
        without them it runs at alpha. Rollback when ln L-(d, pooled s2) >=
        ln(1/(alpha - a)), or at the horizon when Phi(d / sqrt(pooled s2)) <= a; promote
        when ln L+(d + margin, unpooled s2) >= ln(1/alpha); rollback wins ties (the
        sequential harm test, then the horizon test, then promotion); no decision before
        min_samples per arm, nor while a variance is zero; no_decision once
        control_n + canary_n >= horizon. p-values: promotion min(1, exp(-max ln L+ so
        far)); harm min(1, exp(-max ln L- so far) * alpha / (alpha - a)), and at the
        horizon also min'd with Phi(z) * alpha / a.
Streams are drawn with numpy (seeded) and judged here; the Rust tests judge the same
counts and must agree on decision, look and every number (1e-9 relative).
"""
import csv
import json
import math
import os

import numpy as np
import scipy
from scipy import optimize, special, stats

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
OUT = os.path.join(ROOT, "mlops-deploy", "tests", "data", "judge_vectors.json")
CSV_OUT = os.path.join(ROOT, "examples", "tests", "data", "judge_looks.csv")
JSONL_OUT = os.path.join(ROOT, "examples", "tests", "data", "judge_looks.expected.jsonl")


def ln_mix(d, s2, tau):
    t2 = tau * tau
    v = s2 + t2
    return 0.5 * (math.log(s2) - math.log(v)) + t2 * d * d / (2 * s2 * v)


def ln_below(d, s2, tau):
    scale = tau / (math.sqrt(s2) * math.sqrt(s2 + tau * tau))
    return math.log(2) + float(special.log_ndtr(-d * scale)) + ln_mix(d, s2, tau)


def ln_above(d, s2, tau):
    return ln_below(-d, s2, tau)


def cs_radius(s2, tau, alpha):
    s = math.sqrt(s2)
    target = math.log(1 / alpha)
    f = lambda u: ln_above(u * s, s2, tau) - target  # noqa: E731
    hi = 1.0
    while f(hi) < 0:
        hi *= 2
    return optimize.brentq(f, 0.0, hi, xtol=1e-15, rtol=1e-15, maxiter=500) * s


def arm_stats(kind, arm):
    if kind == "proportion":
        n, x = arm
        p = x / n
        return n, p, n * p * (1 - p), p * (1 - p)
    n, s, ss = arm
    m = s / n
    m2 = max(ss - s * s / n, 0.0)
    return n, m, m2, m2 / (n - 1)


def evidence(kind, sign, control, canary):
    nb, mb, m2b, vb = arm_stats(kind, control)
    nc, mc, m2c, vc = arm_stats(kind, canary)
    if kind == "mean" and (nc < 2 or nb < 2):
        return None
    raw = mc - mb
    inv = 1 / nc + 1 / nb
    if kind == "proportion":
        p = (control[1] + canary[1]) / (nc + nb)
        s2p = p * (1 - p) * inv
    else:
        m2 = m2c + m2b + raw * raw * nc * nb / (nc + nb)
        s2p = m2 / (nc + nb - 1) * inv
    s2u = vc / nc + vb / nb
    return sign * raw, s2p, s2u, raw, mb, mc


def judge_stream(cfg, looks):
    """looks: list of (look, control, canary). Returns the decision dict."""
    kind, sign = cfg["kind"], (1 if cfg["higher_is_better"] else -1)
    alpha, tau, margin = cfg["alpha"], cfg["tau"], cfg["margin"]
    a = cfg["horizon_alpha"] if cfg["horizon"] is not None else 0.0
    seq_alpha = alpha - a
    thr_h = math.log(1 / seq_alpha)
    thr_p = math.log(1 / alpha)
    max_h = max_p = -math.inf
    for look, control, canary in looks:
        nb, nc = control[0], canary[0]
        at_horizon = cfg["horizon"] is not None and nb + nc >= cfg["horizon"]
        harm = prom = False
        p_z = None
        if min(nb, nc) >= cfg["min_samples"]:
            ev = evidence(kind, sign, control, canary)
            if ev is not None:
                d, s2p, s2u, _, _, _ = ev
                if s2p > 0:
                    lh = ln_below(d, s2p, tau)
                    max_h = max(max_h, lh)
                    harm = lh >= thr_h
                    if at_horizon and a > 0:
                        p_z = float(special.ndtr(d / math.sqrt(s2p)))
                if s2u > 0:
                    lp = ln_above(d + margin, s2u, tau)
                    max_p = max(max_p, lp)
                    prom = lp >= thr_p
        p_h = min(1.0, math.exp(-max_h) * alpha / seq_alpha)
        if p_z is not None:
            p_h = min(p_h, min(1.0, p_z * alpha / a))
        p_p = min(1.0, math.exp(-max_p))
        outcome = None
        if harm:
            outcome, pv, boundary = "rollback", p_h, "harm"
        elif p_z is not None and p_z <= a:
            outcome, pv, boundary = "rollback", p_h, "horizon_harm"
        elif prom:
            outcome, pv, boundary = "promote", p_p, "non_inferiority" if margin > 0 else "superiority"
        elif at_horizon:
            outcome, pv, boundary = "no_decision", p_h, "horizon"
        if outcome is not None:
            break
    if outcome is None:
        return None
    ev = evidence(kind, sign, control, canary)
    if ev is not None and ev[2] > 0:
        r = cs_radius(ev[2], tau, alpha)
        ci = [ev[3] - r, ev[3] + r]
    else:
        ci = [None, None]
    mb, mc = arm_stats(kind, control)[1], arm_stats(kind, canary)[1]
    return {
        "decision": outcome,
        "boundary": boundary,
        "look": look,
        "control_n": nb,
        "canary_n": nc,
        "estimate": mc - mb,
        "p_value": pv,
        "p_harm": p_h,
        "p_promote": p_p,
        "ci": ci,
    }


def draw_stream(rng, kind, p_control, p_canary, looks, per_look, share, sd=1.0):
    nc_look = round(per_look * share)
    nb_look = per_look - nc_look
    out = []
    if kind == "proportion":
        xc = xb = 0
        for j in range(1, looks + 1):
            xc += int(rng.binomial(nc_look, p_canary))
            xb += int(rng.binomial(nb_look, p_control))
            out.append((j, (nb_look * j, xb), (nc_look * j, xc)))
    else:
        sc = ssc = sb = ssb = 0.0
        for j in range(1, looks + 1):
            a = rng.normal(p_canary, sd, nc_look)
            b = rng.normal(p_control, sd, nb_look)
            sc += float(a.sum()); ssc += float((a * a).sum())
            sb += float(b.sum()); ssb += float((b * b).sum())
            out.append((j, (nb_look * j, sb, ssb), (nc_look * j, sc, ssc)))
    return out


def main():
    # 1. ln Phi over both tails.
    xs = [-200.0, -60.0, -38.5, -30.5, -29.5, -20.0, -10.0, -5.0, -1.0, -1e-3, 0.0, 0.5, 1.0, 3.0, 8.0, 20.0]
    ln_cdf = [{"x": x, "value": float(special.log_ndtr(x))} for x in xs]

    # 2. Mixture statistics and CS radii over a grid.
    mixtures = []
    for d in [-0.02, -0.005, -0.001, 0.0, 0.0004, 0.003, 0.01, 0.05]:
        for s2 in [1e-8, 2.5e-6, 4e-5, 1e-3]:
            for tau in [0.0025, 0.005, 0.02, 0.5]:
                mixtures.append({
                    "d": d, "s2": s2, "tau": tau,
                    "ln_normal": ln_mix(d, s2, tau),
                    "ln_below": ln_below(d, s2, tau),
                    "ln_above": ln_above(d, s2, tau),
                })
    radii = []
    for s2 in [1e-8, 2.5e-6, 4e-5, 1e-3, 0.25]:
        for tau in [0.0025, 0.005, 0.02, 0.5]:
            for alpha in [0.01, 0.05, 0.2]:
                radii.append({"s2": s2, "tau": tau, "alpha": alpha, "radius": cs_radius(s2, tau, alpha)})
    quantiles = [{"alpha": a, "value": float(stats.norm.isf(a))} for a in [0.001, 0.01, 0.025, 0.05, 0.1, 0.3]]

    # 3. Whole streams judged by the reference.
    rng = np.random.default_rng(20261201)
    base = {"alpha": 0.05, "tau": 0.008, "margin": 0.0025, "min_samples": 100, "horizon": 200000,
            "horizon_alpha": 0.01, "kind": "proportion", "higher_is_better": True}
    specs = []
    for name, pc in [("aa", 0.05), ("worse20", 0.04), ("worse10", 0.045), ("better10", 0.055), ("better5", 0.0525)]:
        for k in range(4):
            specs.append((f"{name}_{k}", dict(base), 0.05, pc, 200, 1000, 0.1))
    # Lower-is-better error rate, a larger margin, a short horizon, a minimum that holds back.
    specs.append(("errors_worse", dict(base, higher_is_better=False, tau=0.01, margin=0.0), 0.02, 0.03, 100, 1000, 0.2))
    specs.append(("errors_better", dict(base, higher_is_better=False, tau=0.01, margin=0.005), 0.05, 0.03, 100, 1000, 0.2))
    specs.append(("short_horizon", dict(base, horizon=20000), 0.05, 0.05, 50, 1000, 0.1))
    specs.append(("min_samples", dict(base, min_samples=5000, alpha=0.1), 0.05, 0.03, 100, 1000, 0.1))
    specs.append(("rare_events", dict(base, tau=0.001, margin=0.0005), 0.002, 0.002, 200, 1000, 0.1))
    means = []
    for name, mc in [("latency_worse", 1.15), ("latency_same", 1.0), ("latency_better", 0.9)]:
        means.append((name, dict(base, kind="mean", higher_is_better=False, tau=0.1, margin=0.02), 1.0, mc, 150, 200, 0.25))
    # Added after the first set so its streams keep their draws: small harms that the
    # horizon test decides, and the purely sequential test (horizon_alpha 0).
    later = []
    for k in range(6):
        later.append((f"worse7_{k}", dict(base), 0.05, 0.0465, 200, 1000, 0.1))
    for k in range(2):
        later.append((f"worse7_sequential_{k}", dict(base, horizon_alpha=0.0), 0.05, 0.0465, 200, 1000, 0.1))
    streams = []
    for name, cfg, p0, p1, looks, per, share in specs + means + later:
        data = draw_stream(rng, cfg["kind"], p0, p1, looks, per, share)
        expected = judge_stream(cfg, data)
        # The JSON keeps the looks up to the decision (the judge stops there); the CLI
        # fixture keeps them all, so `mlops judge` is seen to ignore later looks.
        kept = data[: expected["look"]] if expected else data
        streams.append({
            "name": name,
            "config": cfg,
            "looks": [{"look": j, "control": list(c), "canary": list(t)} for j, c, t in kept],
            "all_looks": data,
            "expected": expected,
        })

    doc = {
        "generator": "scripts/vectors/judge_vectors.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__},
        "ln_norm_cdf": ln_cdf,
        "mixtures": mixtures,
        "cs_radius": radii,
        "normal_upper_quantile": quantiles,
        "streams": streams,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    full = {s["name"]: s.pop("all_looks") for s in streams}
    with open(OUT, "w") as f:
        json.dump(doc, f, sort_keys=True, separators=(",", ":"))
        f.write("\n")

    # 4. The CLI fixture: proportion streams with the documented defaults, CSV in,
    #    expected JSON lines out (one per stream, in order of first appearance).
    os.makedirs(os.path.dirname(CSV_OUT), exist_ok=True)
    with open(CSV_OUT, "w", newline="") as f, open(JSONL_OUT, "w") as g:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["stream", "look", "control_n", "control_successes", "canary_n", "canary_successes"])
        for s in streams:
            cfg = s["config"]
            if cfg != base:
                continue
            for j, c, t in full[s["name"]]:
                w.writerow([s["name"], j, c[0], c[1], t[0], t[1]])
            e = s["expected"]
            g.write(json.dumps({"stream": s["name"], "decision": e["decision"], "look": e["look"],
                                "control_n": e["control_n"], "canary_n": e["canary_n"],
                                "p_value": e["p_value"], "ci": e["ci"]}) + "\n")
    print(f"wrote {OUT}, {CSV_OUT}, {JSONL_OUT}")


if __name__ == "__main__":
    main()
