"""Mutation runs: plant one formula bug at a time in a copy of the repository and see which the
test suite kills. Not collected by pytest (no ``test_`` file names); run with
``python -m tests.mutation.run``."""
