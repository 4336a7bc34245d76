"""Every table of every stage, imported once so the metadata (and Alembic) sees them all."""
from o2c.billing import models as _billing  # noqa: F401
from o2c.catalog import models as _catalog  # noqa: F401
from o2c.compliance import models as _compliance  # noqa: F401
from o2c.core import models as _core  # noqa: F401
from o2c.credit import models as _credit  # noqa: F401
from o2c.core.db import Base
from o2c.customers import models as _customers  # noqa: F401
from o2c.dunning import models as _dunning  # noqa: F401
from o2c.fraud import models as _fraud  # noqa: F401
from o2c.fulfillment import models as _fulfillment  # noqa: F401
from o2c.inventory import models as _inventory  # noqa: F401
from o2c.ledger import models as _ledger  # noqa: F401
from o2c.orders import models as _orders  # noqa: F401
from o2c.payments import models as _payments  # noqa: F401
from o2c.receivables import models as _receivables  # noqa: F401
from o2c.returns import models as _returns  # noqa: F401
from o2c.shipping import models as _shipping  # noqa: F401

metadata = Base.metadata
