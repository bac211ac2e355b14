"""The results store: one output directory per experiment.

Layout (see ``docs/experiments.md``)::

    DIR/
      manifest.json        what was run, with which seed, versions, commit, start/end, counts
      experiment.toml      a copy of the experiment file (``resume`` reads this one)
      points.parquet       the design: point id, label, scenario, factor values
      parts/               results as they arrive: runs-NNNNNN.parquet, ts-NNNNNN.parquet
      runs.parquet         all runs (after the sweep finishes; parts are merged into it)
      timeseries.parquet   time series, when the experiment records them
      report/              figures and report.md (``carepath report DIR``)

Every file is written to a temporary name in the same directory and renamed into place, so a
reader (or a killed sweep) never sees half a file. A run may appear in more than one part only
when it was re-run (``resume --retry-failed``) or when merging was interrupted; readers keep the
newest row per ``run_id``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import ExperimentError

__all__ = ["Store", "load", "atomic_write_bytes", "now_iso", "recorded_process",
           "sweep_lock_held"]

MANIFEST = "manifest.json"
SPEC_COPY = "experiment.toml"
POINTS = "points.parquet"
RUNS = "runs.parquet"
TIMESERIES = "timeseries.parquet"
PARTS = "parts"
FORMAT = "carepath-experiment/1"
#: Held (an exclusive ``flock``) by the process running a sweep, for the whole session. The
#: kernel drops it when that process ends, however it ends (SIGKILL, power loss), so "is the
#: sweep running?" never depends on process ids, which containers and reboots reuse.
LOCK = ".sweep.lock"
_PART_RE = re.compile(r"^(runs|ts)-(\d{6,})\.parquet$")


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_MODE = _file_mode()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@contextlib.contextmanager
def _atomic_path(path: Path):
    """Yield a temporary file beside ``path``; on success it is synced to disk and renamed onto
    ``path`` (readers see the old file or the new one, never half of one); on failure removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, _MODE)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with _atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _atomic_write_table(table: pa.Table, path: Path) -> None:
    with _atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def _try_lock(path: Path):
    """An open file holding an exclusive lock on ``path`` (created if missing); None if another
    process holds it. Raises OSError where locks are not supported."""
    import fcntl

    fh = open(path, "a+b")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    except BaseException:
        fh.close()
        raise
    return fh


def recorded_process(manifest: dict[str, Any]) -> tuple[str, bool]:
    """Who ran the sweep's last session, as its manifest records it ("process N on this host"
    or "... on host H"), and whether that is this host."""
    import platform

    session = (manifest.get("sessions") or [{}])[-1]
    host = session.get("host")
    here = host == platform.node()
    return f"process {session.get('pid')} on " + ("this host" if here else f"host {host}"), here


def _still_running(root: Path, manifest: dict[str, Any]) -> ExperimentError:
    return ExperimentError(
        f"the sweep in {root} is still running ({recorded_process(manifest)[0]})",
        allowed="wait for it to finish, or stop it (Ctrl-C) and resume then (or use another "
                "--out); carepath status shows its state")


def sweep_lock_held(root: str | Path) -> bool | None:
    """Whether a running sweep holds the lock of the experiment in ``root`` (None: this system
    cannot tell, e.g. no ``fcntl`` or a file system without locks)."""
    path = Path(root) / LOCK
    if not path.exists():
        return False
    try:
        fh = _try_lock(path)
    except (ImportError, OSError):
        return None
    if fh is None:
        return True
    fh.close()  # closing releases it
    return False


class Store:
    """An experiment's output directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.parts = self.root / PARTS
        self._seq: int | None = None

    # ------------------------------------------------------------------ creation / opening

    @classmethod
    def create(cls, root: str | Path, manifest: dict[str, Any], spec_text: str,
               points: Any, overwrite: bool = False) -> Store:
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise ExperimentError("the output path exists and is not a directory",
                                  file=str(root), allowed="a new or empty directory")
        if (root / MANIFEST).exists() and not overwrite:
            raise ExperimentError(
                "the output directory already holds an experiment", file=str(root),
                allowed=f"`carepath resume {root}` to continue it, another --out, or --overwrite")
        if root.exists() and any(root.iterdir()) and not (root / MANIFEST).exists():
            raise ExperimentError("the output directory is not empty", file=str(root),
                                  allowed="a new or empty directory")
        if overwrite and (root / MANIFEST).exists():
            import shutil

            if sweep_lock_held(root):
                raise _still_running(root, cls(root).read_manifest())

            for name in (PARTS, "report"):
                shutil.rmtree(root / name, ignore_errors=True)
            for name in (RUNS, TIMESERIES, POINTS, MANIFEST, SPEC_COPY):
                _unlink(root / name)
        store = cls(root)
        store.parts.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(root / SPEC_COPY, spec_text.encode("utf-8"))
        _atomic_write_table(pa.Table.from_pandas(points, preserve_index=False), root / POINTS)
        manifest = {"format": FORMAT} | manifest
        store.write_manifest(manifest)
        return store

    @classmethod
    def open(cls, root: str | Path) -> Store:
        root = Path(root)
        if not (root / MANIFEST).is_file():
            raise ExperimentError("not an experiment directory (no manifest.json)",
                                  file=str(root), allowed="a directory made by `carepath sweep`")
        store = cls(root)
        store.parts.mkdir(exist_ok=True)
        return store

    # ------------------------------------------------------------------ manifest

    def read_manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ExperimentError(f"cannot read manifest.json ({exc})", file=str(self.root)) \
                from None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        data = json.dumps(manifest, indent=2, sort_keys=False, default=str) + "\n"
        atomic_write_bytes(self.manifest_path, data.encode("utf-8"))

    @property
    def spec_path(self) -> Path:
        return self.root / SPEC_COPY

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    # ------------------------------------------------------------------ parts

    def _part_files(self, kind: str) -> list[tuple[int, Path]]:
        out = []
        if self.parts.is_dir():
            for p in self.parts.iterdir():
                m = _PART_RE.match(p.name)
                if m and m.group(1) == kind:
                    out.append((int(m.group(2)), p))
        return sorted(out)

    def _next_seq(self) -> int:
        if self._seq is None:
            seqs = [s for kind in ("runs", "ts") for s, _ in self._part_files(kind)]
            self._seq = max(seqs, default=0)
        self._seq += 1
        return self._seq

    @contextlib.contextmanager
    def session_lock(self):
        """Hold the sweep lock (:data:`LOCK`) while the body runs; a sweep already running in
        this directory (any process, on this machine) is an error. Where the system has no file
        locks, the sweep runs unlocked."""
        try:
            fh = _try_lock(self.root / LOCK)
        except (ImportError, OSError):
            fh = contextlib.nullcontext()
        if fh is None:
            raise _still_running(self.root, self.read_manifest())
        with fh:
            yield

    def clean_temporaries(self) -> None:
        """Remove half-written temporary files left by a killed process."""
        for d in (self.root, self.parts):
            if d.is_dir():
                for p in d.glob(".*.tmp"):
                    _unlink(p)

    def write_part(self, records: list[dict[str, Any]], timeseries: list[Any]) -> None:
        """Write one batch of finished runs (and their time series) atomically."""
        if not records:
            return
        seq = self._next_seq()
        if timeseries:
            import pandas as pd

            ts = pd.concat(timeseries, ignore_index=True)
            _atomic_write_table(pa.Table.from_pandas(ts, preserve_index=False),
                                self.parts / f"ts-{seq:06d}.parquet")
        # the runs part is renamed last: once it exists, its time series exist too
        # Columns from every record, not only the first (Table.from_pylist infers the schema
        # from the first row: a failed run first in a batch would drop its successors' metrics).
        keys = list(dict.fromkeys(k for r in records for k in r))
        table = pa.Table.from_pydict({k: [r.get(k) for r in records] for k in keys})
        _atomic_write_table(table, self.parts / f"runs-{seq:06d}.parquet")

    # ------------------------------------------------------------------ reading

    def _run_sources(self) -> list[tuple[int, Path]]:
        """(seq, path) of every file holding runs; the merged file counts as oldest (0)."""
        out = [(0, self.root / RUNS)] if (self.root / RUNS).is_file() else []
        return out + self._part_files("runs")

    def _ts_sources(self) -> list[tuple[int, Path]]:
        out = [(0, self.root / TIMESERIES)] if (self.root / TIMESERIES).is_file() else []
        return out + self._part_files("ts")

    def _winners(self) -> dict[str, int]:
        """run_id -> seq of the file holding its newest row."""
        win: dict[str, int] = {}
        for seq, path in self._run_sources():
            for rid in pq.read_table(path, columns=["run_id"]).column("run_id").to_pylist():
                win[rid] = seq
        return win

    def read_columns(self, columns: Iterable[str]) -> Any:
        """Selected columns of the runs table (newest row per run), as a pandas DataFrame."""
        import pandas as pd

        columns = list(dict.fromkeys(["run_id", *columns]))
        frames = []
        for seq, path in self._run_sources():
            schema = pq.read_schema(path)
            present = [c for c in columns if c in schema.names]
            df = pq.read_table(path, columns=present).to_pandas()
            for c in columns:
                if c not in df:
                    df[c] = float("nan")
            df["_seq"] = seq
            frames.append(df[columns + ["_seq"]])
        if not frames:
            return pd.DataFrame({c: [] for c in columns})
        df = pd.concat(frames, ignore_index=True)
        df = df.sort_values("_seq", kind="stable").drop_duplicates("run_id", keep="last")
        return df.drop(columns="_seq").reset_index(drop=True)

    def runs(self) -> Any:
        """The runs table (pandas), newest row per run, sorted by point and replication."""
        import pandas as pd

        frames = []
        for seq, path in self._run_sources():
            df = pq.read_table(path).to_pandas()
            df["_seq"] = seq
            frames.append(df)
        if not frames:
            return pd.DataFrame(columns=["run_id", "point_id", "replication", "status"])
        df = pd.concat(frames, ignore_index=True)
        df = df.sort_values("_seq", kind="stable").drop_duplicates("run_id", keep="last")
        df = df.drop(columns="_seq")
        df = _normalise_text(df, ("run_id", "point", "scenario", "status", "error", "traceback"))
        return df.sort_values(["point_id", "replication"]).reset_index(drop=True)

    def timeseries(self) -> Any | None:
        import pandas as pd

        sources = self._ts_sources()
        if not sources:
            return None
        win = self._winners()
        frames = []
        for seq, path in sources:
            df = pq.read_table(path).to_pandas()
            keep = df["run_id"].map(win) == seq
            frames.append(df[keep.to_numpy()])
        df = pd.concat(frames, ignore_index=True)
        return df.sort_values(["point_id", "replication", "step"]).reset_index(drop=True)

    def points(self) -> Any:
        return pq.read_table(self.root / POINTS).to_pandas()

    # ------------------------------------------------------------------ merging

    def consolidate(self) -> None:
        """Merge the parts into ``runs.parquet`` / ``timeseries.parquet``, streaming.

        Rows are written in the order they arrived (query with ORDER BY, or use
        :func:`experiments.load`, which sorts). Interrupting this is safe: the parts are
        removed only after the merged files are in place, and readers de-duplicate.
        """
        if not self._part_files("runs") and not self._part_files("ts"):
            return
        win = self._winners()
        self._merge(self._run_sources(), self.root / RUNS, win)
        ts_sources = self._ts_sources()
        if ts_sources:
            self._merge(ts_sources, self.root / TIMESERIES, win)
        for _, p in self._part_files("runs"):  # runs parts first: see module docstring
            _unlink(p)
        for _, p in self._part_files("ts"):
            _unlink(p)

    @staticmethod
    def _merge(sources, target: Path, win: dict[str, int]) -> None:
        schemas = [pq.read_schema(p) for _, p in sources]
        schemas = [s.remove_metadata() for s in schemas]
        schema = pa.unify_schemas(schemas, promote_options="permissive")
        # a column that is null in every part stays null-typed: store it as string
        schema = pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f
                            for f in schema])
        with _atomic_path(target) as tmp:
            with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
                for seq, path in sources:
                    table = pq.read_table(path)
                    ids = table.column("run_id").to_pylist()
                    mask = pa.array([win.get(r) == seq for r in ids])
                    table = table.filter(mask)
                    if table.num_rows == 0:
                        continue
                    cols = []
                    for f in schema:
                        if f.name in table.column_names:
                            cols.append(table.column(f.name).cast(f.type))
                        else:
                            cols.append(pa.nulls(table.num_rows, f.type))
                    writer.write_table(pa.Table.from_arrays(cols, schema=schema))


def _normalise_text(df, columns):
    """Give text columns this pandas' default string dtype, also when they are all missing."""
    import pandas as pd

    target = pd.Series(["x"]).dtype
    for c in columns:
        if c in df:
            col = df[c].astype(object).where(df[c].notna(), None)
            df[c] = col if target == object else col.astype(target)
    return df


def load(directory: str | Path) -> dict[str, Any]:
    """The tables of an experiment directory, as pandas DataFrames.

    Returns ``{"runs": ..., "points": ..., "timeseries": ... or None, "manifest": dict}``. Works
    on a finished, running or interrupted sweep (parts not yet merged are included).
    """
    store = Store.open(directory)
    return {"runs": store.runs(), "points": store.points(), "timeseries": store.timeseries(),
            "manifest": store.read_manifest()}
