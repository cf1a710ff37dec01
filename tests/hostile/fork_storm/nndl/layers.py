import os
import time


def storm(token, n):
    """Start n children that try to escape the process group, then hang."""
    for _ in range(n):
        if os.fork() == 0:
            try:
                os.setsid()
                if os.fork() == 0:
                    os.execv("/bin/sleep", ["sleep", token])
            finally:
                os._exit(0)
    while True:
        time.sleep(0.05)
