"""Compatibility layer imported before chainer everywhere in the package.

Chainer 7.8.1 is frozen (2020). This module makes ``import chainer`` work on the
Python / NumPy / setuptools versions listed in README.md. Each patch below is
applied only when the running versions need it.
"""
