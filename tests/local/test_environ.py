"""Per-thread environments: functions running at once in the local runtime each see their own variables."""

from __future__ import annotations

import os
import threading

from infra.local.environ import install, overlay


def test_each_thread_sees_its_own_overlay_over_the_process_environment() -> None:
    install()
    os.environ["GENSAIL_ENVIRON_TEST_SHARED"] = "shared"
    seen: dict[str, tuple[str | None, str | None]] = {}
    inside = threading.Barrier(2, timeout=10)

    def run(name: str) -> None:
        with overlay({"GENSAIL_ENVIRON_TEST_OWN": name}):
            inside.wait()  # both overlays are in place at once
            seen[name] = (os.getenv("GENSAIL_ENVIRON_TEST_OWN"), os.environ.get("GENSAIL_ENVIRON_TEST_SHARED"))
            inside.wait()

    threads = [threading.Thread(target=run, args=(name,)) for name in ("api", "poller")]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        del os.environ["GENSAIL_ENVIRON_TEST_SHARED"]

    assert seen == {"api": ("api", "shared"), "poller": ("poller", "shared")}
    assert "GENSAIL_ENVIRON_TEST_OWN" not in os.environ  # nothing leaks to the process or other threads


def test_writes_inside_an_overlay_reach_the_process_environment() -> None:
    with overlay({"GENSAIL_ENVIRON_TEST_OWN": "x"}):
        os.environ["GENSAIL_ENVIRON_TEST_WRITTEN"] = "y"
        assert dict(os.environ)["GENSAIL_ENVIRON_TEST_OWN"] == "x"
    try:
        assert os.environ["GENSAIL_ENVIRON_TEST_WRITTEN"] == "y"
    finally:
        os.environ.pop("GENSAIL_ENVIRON_TEST_WRITTEN")
