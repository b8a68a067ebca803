"""The judge against human ESCI labels: AUC, Cohen's kappa, confusion matrix, calibration."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from components.judge.reading import RELEVANT, SoftLabel
from components.judge.rubric import GRADES


def judge_quality(labels: Sequence[SoftLabel], human: Sequence[str], bins: int = 10) -> dict:
    """Metrics of readable labels against human grades (E/S/C/I); counts the unreadable."""
    if len(labels) != len(human):
        raise ValueError(f"{len(labels)} labels for {len(human)} human grades")
    ok = [(lab, h) for lab, h in zip(labels, human, strict=True) if lab.status == "ok"]
    out: dict = {"n": len(labels), "n_unreadable": len(labels) - len(ok),
                 "human_grades": {g: sum(h == g for h in human) for g in GRADES}}
    if not ok:
        return out
    p = np.array([lab.p_relevant for lab, _ in ok])
    y = np.array([h in RELEVANT for _, h in ok], dtype=int)
    pred = [lab.grade for lab, _ in ok]
    truth = [h for _, h in ok]
    out["auc_relevant"] = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None
    out["kappa_grade"] = float(cohen_kappa_score(truth, pred, labels=list(GRADES)))
    out["kappa_relevant"] = float(cohen_kappa_score(y, (p >= 0.5).astype(int)))
    out["accuracy_grade"] = float(np.mean([a == b for a, b in zip(truth, pred, strict=True)]))
    out["brier_relevant"] = float(np.mean((p - y) ** 2))
    out["confusion"] = {h: {g: sum(t == h and q == g for t, q in zip(truth, pred, strict=True))
                            for g in GRADES} for h in GRADES}
    out["predicted_grades"] = {g: pred.count(g) for g in GRADES}
    out["calibration"] = calibration_bins(p, y, bins)
    out["ece_relevant"] = float(sum(b["n"] * abs(b["mean_p"] - b["frac_relevant"])
                                    for b in out["calibration"]) / len(p))
    return out


def calibration_bins(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict]:
    """Equal-width bins of P(relevant): mean prediction vs observed share relevant."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        sel = index == b
        if sel.any():
            out.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": int(sel.sum()),
                        "mean_p": float(p[sel].mean()), "frac_relevant": float(y[sel].mean())})
    return out


def plot_calibration(results: dict[str, dict], path: Path) -> Path:
    """Reliability diagram of P(relevant) for each judge model."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
    for name, res in results.items():
        bins = res.get("calibration") or []
        if bins:
            ax.plot([b["mean_p"] for b in bins], [b["frac_relevant"] for b in bins], "o-",
                    label=f"{name} (AUC {res.get('auc_relevant') or float('nan'):.2f})")
    ax.set_xlabel("judge P(relevant) = P(E) + P(S)")
    ax.set_ylabel("share E/S by human label")
    ax.set_title("Judge calibration against ESCI labels")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
