"""Model registries behind :class:`domain.model_actions.registry.ModelRegistry`: MLflow's
(``MLFLOW_TRACKING_URI`` set) or the bot's own manual one (``incident-bot models add``)."""
