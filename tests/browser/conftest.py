"""The browser tier: every test ends with no console error on its page (one check for all)."""

import pytest


@pytest.fixture(autouse=True)
def no_console_errors(request):
    """After each browser test, its `page` (tests/conftest.py) logged no console error."""
    yield
    page = (request.node.funcargs or {}).get("page")
    if page is not None:
        assert page.console_errors == [], page.console_errors
