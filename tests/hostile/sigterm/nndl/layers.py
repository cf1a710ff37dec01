import signal
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)


def hang():
    while True:
        time.sleep(0.01)


def double(x):
    return 2 * x
