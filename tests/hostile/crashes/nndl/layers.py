import ctypes
import os


def quit_now():
    os._exit(3)


def segfault():
    ctypes.string_at(0)


def double(x):
    return 2 * x
