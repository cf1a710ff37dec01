"""Reference solution of the homework's ``nndl`` package (layers, layer helpers, nets, optimizers).

Kept empty on purpose: importing the package must not pull in anything else.
"""
