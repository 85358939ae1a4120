from circuitloupe.cli import main

raise SystemExit(main())
