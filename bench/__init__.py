"""nmcore's benchmark harness: each scenario against its peers in the same run, on loopback only.

`python -m bench` (or `nox -s bench`) runs S1-S5, prints one table and writes bench/RESULTS.md. Sinks and load
generators are separate processes (`python -m bench.sink`, `bench.loadgen`, `bench.senders`), so the numbers
measure the system under test, not the harness sharing its event loop.
"""
