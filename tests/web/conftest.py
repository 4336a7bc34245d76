import pytest


@pytest.fixture
def app(world):
    """The whole application (API and pages) over the test world; no dispatcher thread."""
    from o2c.web.app import create_app

    return create_app()
