"""The application: API routers of every stage under /api/v1, problem+json errors, OpenAPI."""
from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from o2c.billing.api import router as billing_router
from o2c.catalog.api import router as catalog_router
from o2c.compliance.api import router as screening_router
from o2c.core.runtime import tune_gc
from o2c.credit.api import approvals_router, router as credit_router
from o2c.web.company_api import router as company_router
from o2c.customers.api import router as customers_router
from o2c.customers.governance_api import router as governance_router
from o2c.customers.onboarding_api import router as onboarding_router
from o2c.dunning.api import router as dunning_router
from o2c.fraud.api import router as fraud_router
from o2c.fulfillment.api import router as fulfillment_router
from o2c.integrations.api import router as imports_router
from o2c.inventory.api import router as inventory_router
from o2c.ledger.api import router as ledger_router
from o2c.orders.api import router as orders_router
from o2c.payments.card_api import router as card_payments_router
from o2c.payments.api import router as payments_router
from o2c.receivables.api import router as receivables_router
from o2c.returns.api import router as returns_router
from o2c.shipping.api import router as shipping_router
from o2c.web import problems
from o2c.web.audit_api import router as audit_router
from o2c.web.roles_api import router as roles_router
from o2c.customers.privacy_api import router as privacy_router


@asynccontextmanager
async def _lifespan(app: FastAPI):
    """On the embedded default the dispatcher runs inside the server; on PostgreSQL run `o2c worker`."""
    from o2c.core.events import Dispatcher
    from o2c.core.settings import get_settings

    s = get_settings()
    in_process = s.dispatcher_in_process
    if in_process is None:
        in_process = s.database_url.startswith("sqlite")
    dispatcher = Dispatcher(poll_seconds=s.dispatcher_poll_seconds) if in_process else None
    if dispatcher:
        dispatcher.start()
    yield
    if dispatcher:
        dispatcher.stop()
        dispatcher.join(timeout=10)


def create_app() -> FastAPI:
    tune_gc()
    app = FastAPI(
        lifespan=_lifespan,
        title="o2c",
        version="0.1.0",
        description="Order-to-cash API. Authenticate with 'Authorization: Bearer <API key>'.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    problems.install(app)
    api = APIRouter(prefix="/api/v1")
    api.include_router(onboarding_router)  # first: /customers/applications is not a /customers/{customer_id}
    for r in (company_router, governance_router, customers_router, catalog_router, inventory_router, orders_router, imports_router,
              fulfillment_router, shipping_router, returns_router, billing_router, ledger_router, payments_router,
              dunning_router, receivables_router, card_payments_router, screening_router, audit_router, roles_router,
              privacy_router,
              fraud_router, credit_router, approvals_router):
        api.include_router(r)
    app.include_router(api)

    @app.get("/health", include_in_schema=False)
    def health():
        return {"status": "ok"}

    from o2c.web.ui.routes import install as install_pages

    install_pages(app)  # the back office (/app), the portal (/portal), /login and /static
    return app
