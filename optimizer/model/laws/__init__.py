"""Loss laws, one module per family, and the union a scenario chooses from.

Each law is given once, as a formula, an analytic gradient and a cvxpy expression
(:class:`~optimizer.model.laws.law.Law`). To add a law, write its module here and add
its class to :data:`AnyLaw`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from optimizer.model.laws.allocation import Allocation, AllocationLaw
from optimizer.model.laws.chinchilla import ChinchillaLaw
from optimizer.model.laws.data_constrained import DataConstrainedLaw
from optimizer.model.laws.kaplan import KaplanLaw
from optimizer.model.laws.law import Amounts, Law
from optimizer.model.laws.power import PowerLaw, PowerLawExponents

AnyLaw = Annotated[PowerLaw | ChinchillaLaw | KaplanLaw | DataConstrainedLaw | AllocationLaw,
                   Field(discriminator="form")]
"""Every law a scenario can name, chosen by its ``form`` key."""

__all__ = ["Allocation", "AllocationLaw", "Amounts", "AnyLaw", "ChinchillaLaw",
           "DataConstrainedLaw", "KaplanLaw", "Law", "PowerLaw", "PowerLawExponents"]
