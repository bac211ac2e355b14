"""Regenerate the fixed-seed baseline used by tests/test_model.py (only when behaviour is meant
to change): ``python -m tests.make_baseline``."""

import json
from pathlib import Path

from model import CarePathwayModel

SEED, STEPS, WINDOW = 7, 104, 52


def main() -> None:
    m = CarePathwayModel(rng=SEED)
    for _ in range(STEPS):
        m.step()
    out = Path(__file__).parent / "baseline" / "england_cmht_seed7.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"seed": SEED, "steps": STEPS, "window": WINDOW,
                               "summary": m.summary(WINDOW)}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
