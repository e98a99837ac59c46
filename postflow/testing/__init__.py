"""Support shared by the tests and the benchmarks (never imported by the product): the whole
stack as real processes, free ports, polling with a deadline."""
