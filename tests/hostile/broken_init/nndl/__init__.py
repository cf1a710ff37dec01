from .fc_net import *
from .layer_tests import *  # a later assignment's module: not shipped
