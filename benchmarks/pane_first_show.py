"""How long the first click on a pane's tab takes, now that panes are built when first shown.

Run inside the app (a real window under Xvfb, or Qt's offscreen platform):

    xvfb-run -a -s "-screen 0 1366x768x24" circuitloupe --model bundled \\
        --script benchmarks/pane_first_show.py

It waits until the start-up is over (the model on screen and the other panes' modules imported
in the background), then shows each pane not built yet, as Ctrl+N would, and prints the time to
build and show it: the wait a person has on first opening that tab.
"""

import statistics
import time

loupe.wait_idle(120)  # noqa: F821 (given by --script)
times = {}
for name in window.panes:  # noqa: F821
    if window.panes.get_built(name) is not None:  # noqa: F821
        continue
    started = time.perf_counter()
    window.show_pane(name)  # noqa: F821
    loupe.process(0)  # noqa: F821 (one turn of the event loop: the pane is laid out and painted)
    times[name] = time.perf_counter() - started
for name, seconds in times.items():
    print(f"{name:14s} {seconds * 1000:6.0f} ms")
print(f"first show of a pane: median {statistics.median(times.values()) * 1000:.0f} ms, "
      f"max {max(times.values()) * 1000:.0f} ms over {len(times)} panes")
loupe.quit(0)  # noqa: F821
