"""Powertools Logger, Metrics and Tracer, configured once. Structured JSON logs with a correlation id;
nothing here ever logs headers, bodies or tokens."""

from __future__ import annotations

import logging
import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = "prepkit"
NAMESPACE = "PrepKit"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)

# the domain and adapters log through the standard library: give them the same JSON format
copy_config_to_registered_loggers(source_logger=logger, include={"prepkit"})
logging.getLogger("prepkit").setLevel(logger.log_level)


class PowertoolsMetrics:
    """The Metrics port as CloudWatch EMF lines (one per data point, with its own dimensions)."""

    def __init__(self) -> None:
        # single_metric prints even when POWERTOOLS_METRICS_DISABLED is set: honour it here (local stage)
        self._disabled = os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() in ("1", "true")

    def count(self, name: str, value: int = 1, **dimensions: str) -> None:
        if self._disabled:
            return
        with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as metric:
            metric.add_dimension(name="service", value=SERVICE)
            for key, dim in dimensions.items():
                metric.add_dimension(name=key, value=dim)
