"""The whole schema: every module that declares tables, imported so the one metadata (`ioc.db.Base.metadata`)
holds them all. The migrations compare against it (`ioc/migrations/env.py`) and the tests check that a migrated
database matches it; a package that adds a table module lists it here, and nowhere else in the core needs to know.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa

import ioc.audit
import ioc.exercises.tables
import ioc.identity.tables
import ioc.incidents.tables
from ioc.db import Base

TABLE_MODULES: Final = (ioc.audit, ioc.identity.tables, ioc.incidents.tables, ioc.exercises.tables)

metadata: Final[sa.MetaData] = Base.metadata
