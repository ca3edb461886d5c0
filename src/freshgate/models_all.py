"""Imports every domain's tables so SQLModel.metadata knows them (for Alembic and tests)."""

from freshgate.registry import models as _registry  # noqa: F401
from freshgate.freshness import models as _freshness  # noqa: F401
from freshgate.scheduler import models as _scheduler  # noqa: F401
from freshgate.lookup import models as _lookup  # noqa: F401
from freshgate.conflicts import models as _conflicts  # noqa: F401
from freshgate.notify import models as _notify  # noqa: F401
from freshgate.lookup import reliance as _reliance  # noqa: F401
from freshgate.feed import models as _feed  # noqa: F401
from freshgate.auth import models as _auth  # noqa: F401
from freshgate.embeddings import models as _embeddings  # noqa: F401
from freshgate.actions import models as _actions  # noqa: F401
from freshgate.reports import rollup as _rollup  # noqa: F401
from freshgate.reports import handoff as _handoff  # noqa: F401
