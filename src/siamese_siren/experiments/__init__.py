"""Experiments beyond the paper, each opt-in (``config/experiments/<name>.yaml``).

Nothing else in the package imports this one: only the experiments' own rules and scripts do, so deleting this
folder and its rules leaves a working workflow. An experiment is promoted to the defaults only when it measured
positive, and then its code moves to the layer it belongs to.
"""
