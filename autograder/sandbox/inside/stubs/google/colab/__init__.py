"""Stand-in for Colab's ``google.colab`` inside the grading sandbox (never on the grader's path).

Notebooks written on Colab import it to mount Google Drive or upload files. Here there is no
Drive and no browser: every call prints a note and returns something harmless, so the
notebook's real work still runs.
"""

from . import drive, files, output  # noqa: F401

__all__ = ["drive", "files", "output"]
