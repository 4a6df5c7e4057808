from particle_py.cli.particle.main import main

raise SystemExit(main())
