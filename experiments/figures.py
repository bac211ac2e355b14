"""Matplotlib helpers shared by the report (``experiments.report``) and the validation figures
(``experiments.validation``): a headless pyplot, and one way to finish and write a figure."""

from __future__ import annotations

from pathlib import Path


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (imported when first needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, title: str | None = None, axes=None,
                used: int | None = None) -> Path:
    """Finish a figure: hide the unused panels of a grid, add the title, lay out, write the
    PNG (creating its directory), close it. Returns the path."""
    if axes is not None and used is not None:
        for ax in list(axes.flat)[used:]:
            ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.set_layout_engine("constrained")  # unlike tight_layout, leaves room for the title
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path
