"""Start and control the emulator in its own process (see :mod:`benchmarks.emulator_main`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

TOKEN = "bench-token-0123456789abcdef"


class EmulatorProcess:
    """``with EmulatorProcess(...) as emu:`` → ``emu.url``, ``emu.token``, ``emu.requests()``, ``emu.mutate()``."""

    def __init__(
        self,
        *,
        seed: int,
        sizes: dict[str, int],
        custom_fields: int,
        latency_ms: float,
        burst: int | None,
        v1_sunset: bool = True,
        log_path: Path | None = None,
        scale: float = 1.0,
    ) -> None:
        self.settings: dict[str, Any] = {
            "seed": seed,
            "scale": scale,
            "sizes": sizes,
            "custom_fields_per_entity": custom_fields,
            "latency_ms": latency_ms,
            "burst": burst,
            "v1_sunset": v1_sunset,
            "api_token": TOKEN,
            "port": 0,
            "daily_budget": 10**9,
        }
        self.log_path = log_path
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.token = TOKEN
        self.startup_s = 0.0

    def __enter__(self) -> EmulatorProcess:
        start = time.perf_counter()
        err = open(self.log_path, "w") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.emulator_main", "--settings", json.dumps(self.settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            self.proc.wait(timeout=10)
            tail = Path(self.log_path).read_text()[-3000:] if self.log_path else ""
            raise RuntimeError(f"the emulator did not start (rc={self.proc.returncode}):\n{tail}")
        hello = json.loads(line)
        self.url = hello["url"].rstrip("/")
        self.token = hello.get("token") or TOKEN
        self._wait_ready()
        self.startup_s = time.perf_counter() - start
        return self

    def _wait_ready(self) -> None:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                requests.get(f"{self.url}/v1/currencies", headers={"x-api-token": self.token}, timeout=5)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("the emulator does not answer")

    def command(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.proc is not None
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        if "error" in answer:
            raise RuntimeError(f"emulator command {cmd['cmd']} failed: {answer['error']}")
        return answer

    def requests(self) -> int:
        """Requests the emulator has served so far."""
        return int(self.command({"cmd": "stats"})["requests"])

    def request_log(self) -> list[list[Any]]:
        """Every request served so far, in order: ``[method, path, query, status]`` each."""
        return list(self.command({"cmd": "log"})["log"])

    def warm(self, streams: list[str]) -> int:
        return int(self.command({"cmd": "warm", "streams": streams})["rendered"])

    def mutate(self, **kwargs: Any) -> dict[str, Any]:
        return self.command({"cmd": "mutate", **kwargs})

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None and self.proc.stdin:
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.flush()
            self.proc.wait(timeout=15)
        except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
            self.proc.kill()
            self.proc.wait()
