"""Entry points: the `ioc` command, its subcommands, the supervisor of `ioc run` and gunicorn's configuration.

The top of the house: the only package besides the app's own top (webapp, benchmarks, tests) that may import
`simulators`, `webapp` and the app; the core (`ioc/`) imports nothing from here.
"""
