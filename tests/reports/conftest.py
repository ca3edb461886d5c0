"""No embedding model for these tests: the review list and notifications never need it."""

import pytest

from freshgate.config import EmbeddingSettings
from tests.conftest import make_settings


@pytest.fixture
def settings(database_url):
    """Test settings on the parametrised database, embedding model off."""
    return make_settings(database_url, embedding=EmbeddingSettings(enabled=False))
