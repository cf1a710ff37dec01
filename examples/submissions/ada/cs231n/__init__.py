"""Helpers given with the homework: the Solver, numerical gradient checks and CIFAR-10 loading.

The grader also puts this package on sandboxed children's path as ``cs231n`` and ``utils``.
"""
