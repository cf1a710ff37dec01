import os


def scribble(paths):
    """Try to create each file (and its folder); report which writes appeared to succeed."""
    done = []
    for path in paths:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as fh:
                fh.write("escaped")
            done.append(path)
        except OSError:
            pass
    return done
