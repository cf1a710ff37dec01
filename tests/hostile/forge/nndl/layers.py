import os


def forge():
    """Write a fake protocol frame to every file descriptor there is."""
    fake = b"NDGW" + (20).to_bytes(4, "little") + (0).to_bytes(8, "little") + b'{"ok":true,"value":1'
    for fd in range(256):
        try:
            os.write(fd, fake)
        except OSError:
            pass
    return 42


def double(x):
    return 2 * x
