"""Operator commands against the services' own databases: `python -m services.ops`.

Each group of commands is a module with `register(subcommands)`, which adds its parser
and sets `run` to a coroutine `run(args, settings) -> exit status`; `__main__` lists the
modules: `dead-letters` lists, shows and redrives what consumers refused; `lag` shows
how far each consumer group is behind; `outbox` what each service has not yet sent; `deliveries`
lists notification's deliveries and resends the failed ones; `links` revokes answer links.
"""
