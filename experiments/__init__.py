"""Experiment machinery and experiment definitions for carepath."""
