def sgd(w, dw, config=None):
    return w - 0.5 * dw, config
