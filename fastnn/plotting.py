"""Training curves: loss and metrics per epoch from a History (matplotlib, optional)."""
from __future__ import annotations

import math
import os
from typing import Any, Sequence

# Logged every epoch but not a quantity the model is judged by: drawn only on request.
_NOT_DEFAULT = ("learning_rate",)


def plot_history(history: Any, metrics: Sequence[str] | None = None,
                 path: str | os.PathLike | None = None):
    """Draw the training curves of a fit: one subplot per quantity.

    Each subplot shows a quantity per epoch (1, 2, ...): the training value
    (``history["loss"]``) as a line labelled "training" and, when it was logged,
    the validation value (``history["val_loss"]``) labelled "validation".

    Parameters
    ----------
    history : History or dict
        What `fit` returns, or its ``.history`` dict ``{key: [value per epoch]}``.
    metrics : sequence of str, optional
        The quantities to draw, by training name ("loss", "accuracy",
        "learning_rate"); default: "loss" then every other logged quantity in
        log order, except "learning_rate".
    path : str or path-like, optional
        Also save the figure there as a PNG.

    Returns
    -------
    matplotlib.figure.Figure
        Built without pyplot on the headless Agg canvas (no window opens and
        the global backend is left alone); Jupyter displays it.

    Raises
    ------
    ImportError
        When matplotlib is not installed (``pip install "fastnn[plot]"``).
    ValueError
        For an empty history or a requested quantity that was not logged.
    """
    logs, epochs = _history_dict(history)
    available = [k for k in logs if not k.startswith("val_")]
    # A validation key without a training twin is still drawn (under its own name).
    available += [k[4:] for k in logs if k.startswith("val_") and k[4:] not in logs]
    if metrics is None:
        names = sorted((k for k in available if k not in _NOT_DEFAULT), key=lambda k: k != "loss")
    else:
        if isinstance(metrics, str) or not all(isinstance(m, str) for m in metrics):
            raise ValueError(f"metrics: expected a list of names, got {metrics!r}")
        names = list(metrics)
        for m in names:
            if m not in available:
                raise ValueError(f"metrics: {m!r} was not logged; the history holds {available}")
    if not names:
        raise ValueError(f"metrics: nothing to draw; the history holds {available}")

    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as exc:
        raise ImportError("plot_history needs matplotlib, an optional extra: "
                          'pip install "fastnn[plot]" (or pip install matplotlib)') from exc

    cols = min(len(names), 2)
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(5.0 * cols, 3.6 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        for key, label in ((name, "training"), ("val_" + name, "validation")):
            if key in logs:
                ax.plot(epochs[:len(logs[key])], logs[key], marker="o", markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        ax.legend()
    if path is not None:
        fig.savefig(os.fspath(path), format="png", dpi=100)
    return fig


def _history_dict(history: Any) -> tuple[dict[str, list[float]], list[int]]:
    """({key: values}, 1-based epoch numbers) of a History or a dict."""
    epoch_ids = None
    if hasattr(history, "history") and isinstance(history.history, dict):
        epoch_ids = list(getattr(history, "epoch", []) or [])
        history = history.history
    if not isinstance(history, dict):
        raise ValueError(f"history: expected a History or its .history dict, got {type(history).__name__}")
    logs = {}
    for key, values in history.items():
        if not isinstance(key, str):
            raise ValueError(f"history: expected string keys, got {key!r}")
        try:
            logs[key] = [float(v) for v in values]
        except (TypeError, ValueError):
            raise ValueError(f"history[{key!r}]: expected a list of numbers, got {values!r}") from None
    n = max((len(v) for v in logs.values()), default=0)
    if n == 0:
        raise ValueError("history: no epochs recorded")
    if epoch_ids is None or len(epoch_ids) < n:
        epoch_ids = list(range(n))
    return logs, [e + 1 for e in epoch_ids[:n]]
