"""Each function's environment in the synthesized template matches the settings model its handler reads."""

from __future__ import annotations

import pytest

from shared.settings import (
    ApiSettings,
    AuthorizerSettings,
    BatchAnnouncerSettings,
    BatchRunnerSettings,
    BatchStarterSettings,
    FunctionSettings,
    PollerSettings,
    ReconcilerSettings,
    StageSettings,
    WorkerSettings,
)
from tests.infra.conftest import Synthesized
from tests.infra.helpers import RECONCILER, STAGES, WORKER, environment_of, stack_ids

# Which model each handler package reads (``from_environ`` in functions/); Powertools' variables are its own.
SETTINGS_OF_PACKAGE: dict[str, type[FunctionSettings]] = {
    "functions.authorizer.": AuthorizerSettings,
    "functions.api.": ApiSettings,
    "functions.worker.": WorkerSettings,
    "functions.reconciler.": ReconcilerSettings,
    "functions.stages.": StageSettings,
    "functions.poller.": PollerSettings,
    "functions.batches.starter.": BatchStarterSettings,
    "functions.batches.tasks.page_": BatchRunnerSettings,
    "functions.batches.tasks.finish_": BatchRunnerSettings,
    "functions.batches.tasks.announce_": BatchAnnouncerSettings,
}
POWERTOOLS_PREFIX = "POWERTOOLS_"


def _settings_of(handler: str) -> type[FunctionSettings]:
    (settings,) = [model for package, model in SETTINGS_OF_PACKAGE.items() if handler.startswith(package)]
    return settings


def test_every_function_has_its_settings_and_nothing_else(synthesized: Synthesized) -> None:
    functions = synthesized.resources("AWS::Lambda::Function", own=True)
    assert len(functions) == 15

    for logical_id, function in functions.items():
        handler = function["Properties"]["Handler"]
        names = set(function["Properties"]["Environment"]["Variables"])
        required, known = _settings_of(handler).variable_names()

        assert required <= names, f"{logical_id} ({handler}) lacks {sorted(required - names)}"
        unknown = {name for name in names - known if not name.startswith(POWERTOOLS_PREFIX)}
        assert not unknown, f"{logical_id} ({handler}) has variables its settings do not read: {sorted(unknown)}"


def test_an_environment_names_every_required_setting_and_no_unknown_one() -> None:
    assert StageSettings.environment(
        table_name="t", config_prefix="/gensail/dev/config", artifacts_bucket="b", event_bus_name="e"
    ) == {"TABLE_NAME": "t", "CONFIG_PREFIX": "/gensail/dev/config", "ARTIFACTS_BUCKET": "b", "EVENT_BUS_NAME": "e"}
    with pytest.raises(TypeError, match=r"unknown settings \['table'\], missing settings \['table_name'\]"):
        AuthorizerSettings.environment(table="t")


def test_an_environment_reads_back_as_the_same_settings() -> None:
    environment = ReconcilerSettings.environment(
        table_name="t", config_prefix="/gensail/dev/config", state_machine_arn="arn:sm", stuck_after_seconds=60
    )

    settings = ReconcilerSettings.model_validate(environment)

    assert (settings.table_name, settings.state_machine_arn, settings.stuck_after_seconds) == ("t", "arn:sm", 60)


@pytest.mark.parametrize(
    ("handler", "settings"),
    [(WORKER, WorkerSettings), (RECONCILER, ReconcilerSettings), *((stage, StageSettings) for stage in STAGES)],
)
def test_functions_get_every_setting_their_model_requires(
    synthesized: Synthesized, handler: str, settings: type[FunctionSettings]
) -> None:
    environment = environment_of(synthesized, handler)
    ids = stack_ids(synthesized)

    assert environment["TABLE_NAME"] == {"Ref": ids["table"]}
    assert environment["CONFIG_PREFIX"] == "/gensail/dev/config"
    if settings is StageSettings:
        assert environment["ARTIFACTS_BUCKET"] == {"Ref": ids["bucket"]}
        assert environment["EVENT_BUS_NAME"] == {"Ref": ids["bus"]}
    else:
        assert environment["STATE_MACHINE_ARN"] == {"Ref": ids["state_machine"]}
