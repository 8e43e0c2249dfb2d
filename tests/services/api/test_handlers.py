import pytest


@pytest.mark.gen_test
async def test_api_root_reports_version_without_auth(api):
    response = await api.get("api", authenticated=False)
    assert response.status == 200
    assert response.json() == {"version": __import__("nbserver").__version__}
