"""Which res-5 cells a policy's region touches: the ground package's exact membership.

A `CatalogueResolver` asks a `TerritoryMembership` for the cells of each region it resolves.
`GroundMembership` answers from `skyfence.ground.membership`:

- a country of the edition: the world table (`territory_shares`, cached on disk): cells that
  hold any of its land (exact polygon overlap integrated on WGS-84) or any of its 12-nautical-
  mile territorial sea, the sea split at the equidistance line with every other coast (so a
  territory's sea never reaches over a neighbour's land, and narrow straits are shared);
- any other region (a built-in disputed area such as Crimea, an admin-1 region such as
  Kherson): `region_shares`, the same method for that region's own coast.

The land share of each cell is kept (policies that decide shared cells by the majority of land
read it); a cell holding only territorial sea has land share 0 and still belongs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .regions import TerritoryCells
from .rules import RESOLUTION

__all__ = ["GroundMembership"]


class GroundMembership:
    """`TerritoryMembership` from `skyfence.ground`'s exact land and territorial-sea shares."""

    def __init__(self, edition: str) -> None:
        self.edition = edition

    def __call__(self, name: str, geometry: Any) -> TerritoryCells:
        from ..ground import Region, get_catalogue, region_shares, territory_shares

        catalogue = get_catalogue(self.edition)
        if name in catalogue:
            table = territory_shares(RESOLUTION, edition=self.edition)
            k = table.territory_index(catalogue.country(name).name)
            rows = np.flatnonzero(table.territory == k)
            cells = np.asarray(table.cell[rows], np.uint64)
            land = np.asarray(table.land_share[rows], np.float64)
        else:
            shares = region_shares(Region(name, geometry, "policy region"), RESOLUTION,
                                   edition=self.edition)
            cells = np.asarray(shares.cells, np.uint64)
            land = np.asarray(shares.land_share, np.float64)
        order = np.argsort(cells, kind="stable")
        return TerritoryCells(cells[order], land[order].astype(np.float32))
