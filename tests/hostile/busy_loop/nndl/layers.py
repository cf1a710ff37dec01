def spin():
    while True:
        pass


def double(x):
    return 2 * x
