"""Test-wide settings: offline AWS credentials (never the instance-metadata address), quiet Powertools.
Sockets are blocked by pytest-socket except loopback and unix sockets (see pyproject)."""

from __future__ import annotations

import os

from prepkit.local.stack import OFFLINE_AWS_ENV

os.environ.update(OFFLINE_AWS_ENV)
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
for _name in ("PREPKIT_GEMINI_API_KEY", "DATABASE_URL"):
    os.environ.pop(_name, None)
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
