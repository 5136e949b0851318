"""Starting and stopping the local org: LocalOrg and the blocking run_org_server."""

from __future__ import annotations

import pytest
import requests

from workbench.crm.org import LocalOrg, run_org_server

pytestmark = pytest.mark.network


def test_run_org_server_calls_on_ready_once_listening_and_returns_when_stopped(tmp_path):
    seen = {}

    def on_ready(org: LocalOrg) -> None:
        seen["url"], seen["token"] = org.instance_url, org.token
        seen["versions"] = requests.get(f"{org.instance_url}/services/data/", timeout=5).status_code
        seen["faults"] = org.faults
        org.stop()

    run_org_server(
        token="t0k", faults="latency=1ms", db_path=tmp_path / "org.sqlite", on_ready=on_ready
    )
    assert seen["url"].startswith("http://127.0.0.1:") and seen["token"] == "t0k"
    assert seen["versions"] == 200 and seen["faults"] == "latency=1ms"
    assert (tmp_path / "org.sqlite").exists()


def test_faults_set_before_start_apply_once_running_and_stop_is_idempotent():
    org = LocalOrg(seed_demo_data=False)
    org.set_faults("limit=1")
    assert org.faults == "limit=1"
    with org:
        response = org.http_session().get(
            f"{org.instance_url}/services/data/v59.0/limits/",
            headers={"Authorization": f"Bearer {org.token}"},
        )
        assert response.status_code == 403
    org.stop()
    with pytest.raises(RuntimeError, match="not started"):
        org.request_counts()


def test_a_port_in_use_is_a_config_error():
    from workbench.errors import ConfigError

    with LocalOrg(seed_demo_data=False) as first:
        with pytest.raises(ConfigError, match="cannot listen"):
            LocalOrg(port=first.port, seed_demo_data=False).start()
