"""CIFAR-10 loading and the homework's standard preprocessing.

Imports only numpy and the standard library, so importing it costs nothing and needs neither
matplotlib nor six.

When the environment variable ``NNDL_GRADER_DATA`` names a folder, ``get_CIFAR10_data`` returns
the already-preprocessed splits saved there as ``X_train.npy``, ``y_train.npy``, ``X_val.npy``,
``y_val.npy``, ``X_test.npy``, ``y_test.npy`` (memory-mapped): that is how the grader hands data
to a notebook without giving it the raw dataset.
"""

import os
import pickle

import numpy as np

GRADER_DATA_ENV = 'NNDL_GRADER_DATA'
SPLIT_NAMES = ('X_train', 'y_train', 'X_val', 'y_val', 'X_test', 'y_test')


def load_pickle(f):
    """Unpickle a dataset file, decoding Python 2 strings as latin-1 (how CIFAR-10 ships)."""
    return pickle.load(f, encoding='latin1')


def _entry(batch, key):
    # Batches written by Python 2 load with str keys, ones written by Python 3 with bytes keys.
    return batch[key] if key in batch else batch[key.encode()]


def load_CIFAR_batch(filename):
    """One CIFAR-10 batch file -> (X float64 (N, 32, 32, 3), Y int array (N,))."""
    with open(filename, 'rb') as f:
        batch = load_pickle(f)
    X = np.asarray(_entry(batch, 'data'))
    Y = np.array(_entry(batch, 'labels'))
    X = X.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype('float')
    return X, Y


def load_CIFAR10(ROOT):
    """All of CIFAR-10 from its python-version folder -> (Xtr, Ytr, Xte, Yte), images NHWC."""
    xs, ys = [], []
    for b in range(1, 6):
        X, Y = load_CIFAR_batch(os.path.join(ROOT, 'data_batch_%d' % b))
        xs.append(X)
        ys.append(Y)
    Xtr = np.concatenate(xs)
    Ytr = np.concatenate(ys)
    Xte, Yte = load_CIFAR_batch(os.path.join(ROOT, 'test_batch'))
    return Xtr, Ytr, Xte, Yte


def get_CIFAR10_data(num_training=49000, num_validation=1000, num_test=1000,
                     subtract_mean=True):
    """Train / validation / test splits, channels first, as float64.

    Train is the first num_training training images, validation the next num_validation,
    test the first num_test test images. With subtract_mean the mean training image is
    subtracted from every split (no scaling to [0, 1]).

    Returns a dict with X_train (N, 3, 32, 32), y_train, X_val, y_val, X_test, y_test.
    """
    grader_dir = os.environ.get(GRADER_DATA_ENV)
    if grader_dir:
        return _load_grader_splits(grader_dir, num_training, num_validation, num_test)

    cifar10_dir = 'cs231n/datasets/cifar-10-batches-py'
    X_train, y_train, X_test, y_test = load_CIFAR10(cifar10_dir)

    val_rows = list(range(num_training, num_training + num_validation))
    X_val, y_val = X_train[val_rows], y_train[val_rows]
    X_train, y_train = X_train[:num_training], y_train[:num_training]
    X_test, y_test = X_test[:num_test], y_test[:num_test]

    if subtract_mean:
        mean_image = np.mean(X_train, axis=0)
        X_train -= mean_image
        X_val -= mean_image
        X_test -= mean_image

    return {
        'X_train': X_train.transpose(0, 3, 1, 2).copy(), 'y_train': y_train,
        'X_val': X_val.transpose(0, 3, 1, 2).copy(), 'y_val': y_val,
        'X_test': X_test.transpose(0, 3, 1, 2).copy(), 'y_test': y_test,
    }


def _load_grader_splits(folder, num_training, num_validation, num_test):
    """The grader's prepared splits, sliced to the requested sizes; absent files are left out.

    Arrays are memory-mapped copy-on-write: a notebook that edits them in place (say, rescales
    X_train) works on its private copy and never changes the shared files.
    """
    sizes = {'train': num_training, 'val': num_validation, 'test': num_test}
    data = {}
    for name in SPLIT_NAMES:
        path = os.path.join(folder, name + '.npy')
        if not os.path.isfile(path):
            continue
        array = np.load(path, mmap_mode='c', allow_pickle=False)
        data[name] = array[:sizes[name.split('_', 1)[1]]]
    return data
