"""Imported once by the fork server of a process-pool sweep (``runner._mp_context``).

Importing this module imports the worker and the model and runs a tiny model for two weeks, so
that numba's compiled kernels are loaded into the fork server; every worker forked from it starts
with the machine code in memory instead of loading it from the on-disk cache (~0.5 s each), and
with the code fingerprint of what was loaded (:mod:`experiments.provenance` hashes the files
when the worker module imports it).
"""

from __future__ import annotations

from experiments import worker  # noqa: F401
from model.run import warm_up

warm_up()
