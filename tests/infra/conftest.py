"""Synthesised offline with Template.from_stack: no CLI, no AWS account, no network, no Docker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra_cdk.app import build
from infra_cdk.config import DeployConfig
from infra_cdk.layers import build_core
from infra_cdk.service import ServiceStack
from infra_cdk.stateful import StatefulStack


@pytest.fixture(scope="session")
def layers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real core layer; the deps layer is a stand-in (building it downloads wheels: `make layers`)."""
    out = tmp_path_factory.mktemp("layers")
    build_core(out)
    (out / "deps" / "python").mkdir(parents=True)
    (out / "deps" / "python" / "placeholder.txt").write_text("the real layer: python -m infra_cdk.layers\n")
    return out


class Synth:
    def __init__(self, stateful: StatefulStack, service: ServiceStack):
        self.stateful_stack = stateful
        self.service_stack = service
        self.stateful = Template.from_stack(stateful)
        self.service = Template.from_stack(service)

    def resources(self, template: Template, kind: str) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in template.find_resources(kind).items()}


def synth(layers_dir: Path, **context: object) -> Synth:
    app = cdk.App(context={"layersDir": str(layers_dir), **context})
    stateful, service = build(app, DeployConfig.from_context(app))
    return Synth(stateful, service)


@pytest.fixture(scope="session")
def prod(layers_dir: Path) -> Synth:
    return synth(
        layers_dir, stage="prod", natGateways=2, alarmEmail="ops@example.com", dbInstanceType="t4g.small"
    )


@pytest.fixture(scope="session")
def dev(layers_dir: Path) -> Synth:
    return synth(layers_dir, stage="dev")


def resolve(value: Any, names: dict[str, str] | None = None) -> Any:
    """Fn::Join / Fn::GetAtt / Ref to readable strings, for comparing with what the code means."""
    names = names or {}
    if isinstance(value, dict):
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(str(resolve(p, names)) for p in parts)
        if "Fn::GetAtt" in value:
            logical, attr = value["Fn::GetAtt"]
            return f"<{names.get(logical, logical)}.{attr}>"
        if "Ref" in value:
            return f"<{names.get(value['Ref'], value['Ref'])}>"
        if "Fn::ImportValue" in value:
            return f"<import {json.dumps(value['Fn::ImportValue'])}>"
        return {k: resolve(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, names) for v in value]
    return value
