"""Benchmark harness for tap-pipedrive / target-pipedrive against the Pipedrive emulator.

Run everything with ``python -m benchmarks.run`` (``--quick`` for a small development size).
See ``docs/benchmarks.md``.
"""
