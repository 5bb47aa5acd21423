"""The platform API's HTTP handlers (issue 17, seed 002): auth, incidents, models, drift
assessments, the status page and the OpenAPI document. Mounted from ``container.routes``."""
