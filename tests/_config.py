"""Test settings: SKL_SPARSE_TEST_DEVICE=cuda runs the device-dependent tests on a GPU."""

import os

DEVICE = os.environ.get("SKL_SPARSE_TEST_DEVICE", "cpu")
