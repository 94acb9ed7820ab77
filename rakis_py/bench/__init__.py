"""`rakis bench`: one command that measures every figure the project is judged on.

cli.py parses the command line and prints; runner.py repeats measurements and shapes results;
core.py, sim.py, browser.py, network.py and machine.py hold one group of figures each."""
