"""``stage bench``: what a turn costs, measured against raw llama.cpp and a naive loop, in one run.

Timings on a shared machine are noisy, so every comparison is a ratio inside one run, with the baseline and the
stage interleaved (A/B/A/B) and medians reported. Nothing here is asserted on time; the tests only check shapes.
"""
