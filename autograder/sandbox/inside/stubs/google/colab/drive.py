"""``google.colab.drive``: mounting is a no-op; the submission's files are already in place."""

from ._note import note


def mount(mountpoint="/content/drive", force_remount=False, timeout_ms=120000, readonly=False):
    note(f"drive.mount({mountpoint!r})")


def flush_and_unmount(timeout_ms=24 * 60 * 60 * 1000):
    note("drive.flush_and_unmount()")
