"""One place for the note the stubs print."""


def note(what: str) -> None:
    print(f"[grader] google.colab is not available while grading; ignored: {what}", flush=True)
