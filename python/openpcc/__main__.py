from openpcc.cli import main

raise SystemExit(main())
