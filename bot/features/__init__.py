"""The features, each composed by an ``install(container)`` listed in bot/app.py FEATURES."""
