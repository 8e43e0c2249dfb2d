"""The hub mode's /login, /logout and /oauth_callback (nbserver.auth.hub.handlers), with a fake hub API."""

import pytest

from tests.support.fake_hub import CLIENT_ID, PREFIX, log_in, through_the_hub


@pytest.mark.gen_test
async def test_login_page_goes_to_the_hub(browser, fake_hub):
    response = await browser.get(PREFIX + "login?next=" + PREFIX + "tree")
    assert response.status == 302 and response.headers["Location"].startswith(fake_hub.api_url + "/oauth2/authorize")


@pytest.mark.gen_test
async def test_logout_ends_the_session_and_goes_to_the_hub(browser, fake_hub):
    await log_in(browser, fake_hub)
    response = await browser.get(PREFIX + "logout")
    assert response.status == 302 and response.headers["Location"] == fake_hub.url + "/hub/logout"
    assert CLIENT_ID not in browser.cookies
    assert (await browser.get(PREFIX + "api/contents")).status == 403


@pytest.mark.gen_test
async def test_callback_with_a_foreign_state_is_400(browser, fake_hub):
    fake_hub.state.logged_in = "alice"
    await browser.get(PREFIX + "tree")  # sets a state cookie for another state
    response = await browser.get(PREFIX + "oauth_callback?code=abc&state=forged")
    assert response.status == 400


@pytest.mark.gen_test
async def test_a_login_code_works_once(browser, fake_hub):
    callback = await through_the_hub(browser, fake_hub)
    cookies = dict(browser.cookies)
    assert (await browser.get(callback)).status == 302
    browser.cookies = cookies  # replayed: the state is used up, and so is the code
    assert (await browser.get(callback)).status == 400


@pytest.mark.gen_test
async def test_a_user_without_access_gets_no_session(browser, fake_hub):
    done = await browser.get(await through_the_hub(browser, fake_hub, user="bob"))
    assert done.status == 403 and CLIENT_ID not in browser.cookies
