"""The second-process probe (:mod:`benchmarks.process_probe`) turns pages into the same RECORD lines in a worker
process as in the tap's own process, so its figures compare like with like."""

from __future__ import annotations

import re

import pytest

from benchmarks import process_probe


def test_the_probe_writes_the_same_lines_in_a_worker_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert process_probe.main(["--scale", "0.004", "--repeat", "1", "--workers", "1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "|---" not in line]
    table = {row.split("|")[1].strip(): [cell.strip() for cell in row.split("|")[2:-1]] for row in rows[1:]}
    assert set(table) == {"this process", "1 worker process"}
    for way, (rate, here, workers, same) in table.items():
        assert same == "yes", way
        assert float(rate.replace(",", "")) > 0
        assert re.fullmatch(r"[\d,.]+", here) and re.fullmatch(r"[\d,.]+", workers)
    assert float(table["1 worker process"][2]) > 0, "the worker's CPU was not measured"
    assert float(table["this process"][2]) == 0
