"""The API's routes, one module per area; each builds an ``APIRouter`` from the shared context."""
