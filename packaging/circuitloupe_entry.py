"""Entry point of the PyInstaller bundle: the same ``main`` as the ``circuitloupe`` script."""

import multiprocessing

from circuitloupe.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # DataLoader workers re-enter here in a frozen app
    raise SystemExit(main())
