"""``ability bench``: an open-loop benchmark with SLAs.

- ``loadgen``: the schedule, timing from due times, overflow
- ``recording``: HDR histograms, errors and time series per endpoint
- ``workload`` / ``mix``: who does what, and how often
- ``server``: the own server and its seeded dataset
- ``runner``: log in, warm up, measure, sweep
- ``results`` / ``sla``: the figures, the JSON file, the objectives
- ``report`` / ``html`` / ``svg``: terminal tables, the HTML report
- ``cli``: the Typer commands
"""
