"""Trained model bundles (data, not code): a package only so that pip installs ``default.joblib``."""
