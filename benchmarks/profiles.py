"""Benchmark sizes and emulator settings: ``default`` (the issue's figures), ``quick`` and ``smoke``."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

#: The streams every read scenario syncs, in both our tap and the peer.
READ_STREAMS = ["deals", "persons", "organizations", "activities", "notes"]
#: Custom-field column settings of every benchmarked tap run. The published figures were measured with Pipedrive's
#: 40-hex keys and no option labels; the tap's defaults (readable names with labels) are a separate probe
#: (``python -m benchmarks.cpu_probe --columns default``) so the two are never mixed in one table.
COLUMN_SETTINGS = {"custom_field_names": "key", "resolve_option_labels": False}

#: Page size of a Pipedrive list call (v1 ``limit`` and v2 ``limit`` both max out at 500).
MAX_PAGE = 500
#: Pipedrive's burst window, seconds.
WINDOW_S = 2.0


@dataclass(frozen=True)
class Profile:
    """One benchmark size."""

    name: str
    sizes: dict[str, int]
    custom_fields: int = 30
    latency_ms: float = 150.0
    burst: int = 80
    seed: int = 20261123
    #: fraction of records changed before the incremental run (scenario 2)
    change_fraction: float = 0.01
    #: target scenario: records created, then updated (scenario 4)
    target_records: int = 1000
    #: bulk-delete scenario: number of deal fields / filters created then deleted
    bulk_delete_ids: int = 200
    #: memory scenario: the small size is sizes / memory_factor
    memory_factor: int = 10
    #: target memory scenario: small / large record counts
    target_memory_records: tuple[int, int] = (1000, 10000)
    run_peer: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def total_records(self) -> int:
        return sum(self.sizes.get(s, 0) for s in READ_STREAMS)

    @property
    def read_bound(self) -> float:
        """Records/s allowed by the rate limit: 500 records per request × burst / 2 s."""
        return MAX_PAGE * self.burst / WINDOW_S

    @property
    def write_bound(self) -> float:
        """Requests/s allowed by the rate limit (one record per write)."""
        return self.burst / WINDOW_S

    @property
    def sequential_read_bound(self) -> float:
        """Records/s of a client that waits for each answer (latency only, zero server and client time)."""
        return MAX_PAGE / (self.latency_ms / 1000.0) if self.latency_ms else float("inf")

    def scaled(self, factor: float) -> Profile:
        return replace(self, sizes={k: max(1, int(v * factor)) for k, v in self.sizes.items()})


DEFAULT_SIZES = {"deals": 50_000, "persons": 50_000, "organizations": 20_000, "activities": 100_000, "notes": 20_000}

PROFILES: dict[str, Profile] = {
    "default": Profile(name="default", sizes=DEFAULT_SIZES),
    "quick": Profile(
        name="quick",
        sizes={k: v // 20 for k, v in DEFAULT_SIZES.items()},
        target_records=300,
        bulk_delete_ids=100,
        target_memory_records=(300, 3000),
    ),
    "smoke": Profile(
        name="smoke",
        sizes={"deals": 300, "persons": 250, "organizations": 100, "activities": 400, "notes": 200},
        custom_fields=5,
        latency_ms=10.0,
        burst=400,
        target_records=20,
        bulk_delete_ids=10,
        memory_factor=2,
        target_memory_records=(20, 40),
        run_peer=False,
    ),
}
