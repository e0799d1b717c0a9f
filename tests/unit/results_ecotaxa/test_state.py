"""The push state machine, transition by transition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aquaflow_results.ecotaxa.settings import EcoTaxaSettings
from aquaflow_results.ecotaxa.state import (
    Backoff,
    JobStatus,
    Push,
    PushState,
    import_folder,
    import_started,
    job_observed,
    requested,
    transient_failure,
    uploaded,
)

NOW = datetime(2024, 6, 12, 10, 0, tzinfo=UTC)


def _importing() -> Push:
    push = uploaded(requested(NOW), project_id=7, server_path="/u/aquaflow_lov_s1.zip", skipped=0, now=NOW)
    return import_started(push, job_id=42, now=NOW, poll_interval_seconds=5)


def test_a_push_goes_pending_uploaded_importing_done() -> None:
    push = requested(NOW)
    assert push.state is PushState.PENDING
    push = uploaded(push, project_id=7, server_path="/u/aquaflow_lov_s1.zip", skipped=1, now=NOW)
    assert (push.state, push.project_id, push.server_path, push.skipped) == (PushState.UPLOADED, 7, push.server_path, 1)
    push = import_started(push, job_id=42, now=NOW, poll_interval_seconds=5)
    assert (push.state, push.job_id, push.next_attempt_at) == (PushState.IMPORTING, 42, NOW + timedelta(seconds=5))
    push = job_observed(push, JobStatus(42, "F", result={"rowcount": 12}), now=NOW, poll_interval_seconds=5)
    assert (push.state, push.imported, push.next_attempt_at) == (PushState.DONE, 12, None)


@pytest.mark.parametrize("state", ["P", "R"])
def test_a_running_job_is_looked_at_again_later(state: str) -> None:
    push = job_observed(_importing(), JobStatus(42, state), now=NOW, poll_interval_seconds=3)
    assert push.state is PushState.IMPORTING
    assert push.next_attempt_at == NOW + timedelta(seconds=3)


def test_a_job_in_error_fails_the_push_with_ecotaxas_errors() -> None:
    job = JobStatus(42, "E", errors=("bad column", "missing image"))
    push = job_observed(_importing(), job, now=NOW, poll_interval_seconds=3)
    assert push.state is PushState.FAILED
    assert push.reason == "bad column; missing image"


def test_a_job_asking_needs_attention_with_the_question() -> None:
    job = JobStatus(42, "A", question={"missing_taxa": ["Copepodus"]})
    push = job_observed(_importing(), job, now=NOW, poll_interval_seconds=3)
    assert push.state is PushState.NEEDS_ATTENTION
    assert push.reason is not None
    assert "Copepodus" in push.reason


def test_transient_failures_back_off_exponentially_and_never_fail() -> None:
    backoff = Backoff(initial_seconds=2, max_seconds=10)
    push = requested(NOW)
    delays = []
    for _ in range(5):
        push = transient_failure(push, reason="ecotaxa unavailable", now=NOW, backoff=backoff)
        assert push.state is PushState.PENDING
        assert push.next_attempt_at is not None
        delays.append((push.next_attempt_at - NOW).total_seconds())
    assert delays == [2, 4, 8, 10, 10]
    assert push.attempts == 5
    assert push.last_error == "ecotaxa unavailable"
    # The next successful step starts counting again.
    assert uploaded(push, project_id=1, server_path="/x.zip", skipped=0, now=NOW).attempts == 0


def test_the_document_round_trips() -> None:
    push = _importing()
    assert Push.from_document(push.to_document()) == push
    naive = push.to_document() | {"updated_at": NOW.replace(tzinfo=None)}
    assert Push.from_document(naive).updated_at == NOW


def test_an_archive_is_imported_from_the_folder_named_after_its_stem() -> None:
    assert import_folder("/data/users/ecotaxa_user.3/aquaflow_lov_s1.zip") == "/aquaflow_lov_s1"
    assert import_folder("aquaflow_lov_s1.zip") == "/aquaflow_lov_s1"


def test_settings_read_tenants_as_json_and_keep_passwords_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AQUAFLOW_ECOTAXA_URL", "https://ecotaxa.example.org")
    monkeypatch.setenv(
        "AQUAFLOW_ECOTAXA_TENANTS", '{"lov": {"username": "lov-bot", "password": "s3cret", "project_id": 4}}'
    )
    monkeypatch.setenv("AQUAFLOW_ECOTAXA_POLL_INTERVAL_SECONDS", "2.5")
    settings = EcoTaxaSettings()
    assert settings.enabled
    account = settings.tenants["lov"]
    assert (account.username, account.project_id) == ("lov-bot", 4)
    assert account.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(settings.model_dump())
    assert settings.poll_interval_seconds == 2.5
