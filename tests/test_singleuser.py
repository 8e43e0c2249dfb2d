"""nbserver-singleuser's configuration from the spawner's environment, its version check and headers."""

import contextlib
import logging

import pytest

from nbserver.auth.hub.authorizer import HubAuthorizer
from nbserver.auth.hub.identity import HubIdentityProvider
from nbserver.singleuser import HUB_PROTOCOL_VERSION, SingleUserServerApp, hub_version_warning
from tests.support.fake_hub import SERVER_TOKEN, fake_hub, hub_env  # noqa: F401 (fixtures)


@contextlib.contextmanager
def app_log_captured(app, caplog):
    """The app's logger does not propagate: hand caplog's handler to it."""
    app.log.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING):
            yield
    finally:
        app.log.removeHandler(caplog.handler)


@pytest.fixture
def singleuser(hub_env, root_dir, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:54321/user/alice/")
    monkeypatch.setenv("JUPYTERHUB_ROOT_DIR", str(root_dir))
    app = SingleUserServerApp()
    app.initialize(argv=[])
    yield app
    SingleUserServerApp.clear_instance()


def test_settings_come_from_the_spawner_environment(singleuser, root_dir):
    assert (singleuser.ip, singleuser.port, singleuser.port_retries) == ("127.0.0.1", 54321, 0)
    assert singleuser.base_url == "/user/alice/" and singleuser.root_dir == str(root_dir)
    assert singleuser.open_browser is False and singleuser.allow_remote_access is True
    assert isinstance(singleuser.identity_provider, HubIdentityProvider)
    assert isinstance(singleuser.authorizer, HubAuthorizer)


def test_makes_no_token_of_its_own(singleuser):
    provider = singleuser.identity_provider
    singleuser.bound_port = 54321  # as start_server sets it
    assert provider.token == "" and singleuser.server_info()["token"] == ""
    assert SERVER_TOKEN in singleuser.log_secrets()


def test_public_links_are_off_unless_configured(singleuser, hub_env, root_dir, monkeypatch):
    assert singleuser.file_services is not None and singleuser.file_services.allow_share_links is False
    SingleUserServerApp.clear_instance()
    monkeypatch.setenv("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:54322/user/alice/")
    app = SingleUserServerApp()
    app.initialize(argv=["--FileServices.allow_share_links=True"])
    assert app.file_services is not None and app.file_services.allow_share_links is True


def test_hub_routes_replace_the_password_login(singleuser):
    routes = dict(singleuser.route_table())
    assert routes["/login"].__module__ == "nbserver.auth.hub.handlers"
    assert "/oauth_callback" in routes


def test_without_the_hub_environment_it_refuses_to_start(root_dir, monkeypatch):
    for name in ("JUPYTERHUB_API_URL", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_CLIENT_ID", "JUPYTERHUB_USER"):
        monkeypatch.delenv(name, raising=False)
    app = SingleUserServerApp(root_dir=str(root_dir))
    with pytest.raises(ValueError, match="Not started by JupyterHub: JUPYTERHUB_API_URL"):
        app.initialize(argv=[])
    SingleUserServerApp.clear_instance()


def test_hub_version_warnings():
    assert hub_version_warning(HUB_PROTOCOL_VERSION) is None
    assert hub_version_warning("5.4.0") is None
    assert "4.1.6" in hub_version_warning("4.1.6")
    assert "no X-JupyterHub-Version" in hub_version_warning(None)
    assert "unreadable" in hub_version_warning("x.y")


@pytest.mark.gen_test
async def test_version_check_warns_of_an_untested_hub(singleuser, fake_hub, caplog):
    fake_hub.state.version = "4.1.6"
    with app_log_captured(singleuser, caplog):
        await singleuser.check_hub_version()
    assert "JupyterHub 4.1.6 is not a version" in caplog.text


@pytest.mark.gen_test
async def test_version_check_warns_when_the_hub_is_down(singleuser, fake_hub, caplog):
    fake_hub.stop()
    fake_hub.socket.close()
    with app_log_captured(singleuser, caplog):
        await singleuser.check_hub_version()
    assert "did not answer" in caplog.text


def test_last_activity_is_the_requests_when_no_kernel_ran(singleuser):
    singleuser.activity_tracker.last_activity = 100.0
    assert singleuser.last_activity() == 100.0
