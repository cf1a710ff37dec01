"""``google.colab.output``: widget and display helpers become no-ops."""

from ._note import note


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)

    def _noop(*args, **kwargs):
        note(f"output.{name}()")

    return _noop
