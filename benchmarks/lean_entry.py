"""``python -m benchmarks.lean_entry ARGS``: the tap with the lean path's two remaining hooks patched in.

Development aid for :mod:`benchmarks.cpu_probe` while the hooks wait to be wired into the tap: the session
decodes with :func:`tap_pipedrive.fastpath.fast_json_loads`, and ``post_process`` ends with
:func:`tap_pipedrive.fastpath.normalize_temporal`. Not used by :mod:`benchmarks.run`, which measures the product.
"""

from __future__ import annotations

import sys

from pipedrive_core.http.session import PipedriveSession
from tap_pipedrive import fastpath
from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.tap import TapPipedrive


def main() -> None:
    original_init = PipedriveSession.__init__

    def init(self, *args, **kwargs):
        kwargs.setdefault("json_loads", fastpath.fast_json_loads)
        original_init(self, *args, **kwargs)

    original_post = PipedriveStream.post_process

    def post_process(self, row, context=None):
        self._datetime_columns = ()  # normalize_temporal does these (and the date/time columns)
        row = original_post(self, row, context)
        if row is not None:
            fastpath.normalize_temporal(self, row)
        return row

    import tap_pipedrive.client as client  # noqa: PLC0415
    from pipedrive_core.values import to_datetime  # noqa: PLC0415

    client.normalize_timestamp = to_datetime  # type: ignore[attr-defined]
    PipedriveSession.__init__ = init  # type: ignore[method-assign]
    PipedriveStream.post_process = post_process  # type: ignore[method-assign]
    if "--gc" in sys.argv:
        sys.argv.remove("--gc")
        fastpath.tune_gc()
    sys.argv = ["tap-pipedrive", *sys.argv[1:]]
    TapPipedrive.cli()


if __name__ == "__main__":
    main()
