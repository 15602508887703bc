from pymultus.cli import main

raise SystemExit(main())
