"""`rakis bench`: one command that measures every figure the project is judged on.

cli.py parses the command line and prints; runner.py repeats measurements and shapes results;
core.py, sim.py, build.py, browser.py and network.py hold the groups of figures (datasets.py: the
figures of the node tabs' exported datasets); machine.py describes the machine."""
