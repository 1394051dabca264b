"""One column vocabulary for every table skyfence writes: name -> (unit, meaning).

Every command writes its tables through `skyfence.outputs` with these names; a test checks
that no table carries a column missing here and that the README's table lists them all.
Shares are fractions in [0, 1] of the steps counted; areas are km^2 on the WGS-84 ellipsoid;
times are UTC (Parquet: timestamps with the UTC zone; CSV: ISO 8601 with ``Z``).
"""

from __future__ import annotations

__all__ = ["COLUMNS", "describe", "markdown_table"]

COLUMNS: dict[str, tuple[str, str]] = {
    # identity and place
    "h3_cell": ("", "H3 cell index (hex string); a terminal's is its resolution-5 service cell"),
    "resolution": ("", "H3 resolution of the cell"),
    "region": ("", "scenario region (the first one listed that holds the cell)"),
    "terminal": ("", "terminal name"),
    "id": ("", "terminal identifier"),
    "owner": ("", "owner or account the terminal is registered to"),
    "moving": ("", "whether the terminal follows a track"),
    "speed_kmh": ("km/h", "ground speed (from the track, else the stated speed)"),
    "registered": ("", "whether the terminal's registration is valid at this step"),
    "registered_at_end": ("", "whether the registration is valid at the window's last step"),
    "lat_deg": ("deg", "WGS-84 geodetic latitude"),
    "lon_deg": ("deg", "WGS-84 geodetic longitude"),
    "altitude_m": ("m", "height above the WGS-84 ellipsoid"),
    "area_km2": ("km²", "area on the WGS-84 ellipsoid"),
    "n_cells": ("", "cells in the region"),
    "t_utc": ("UTC", "time step"),
    # coverage
    "n_visible": ("", "usable satellites in view (elevation >= mask, GSO arc clear if asked)"),
    "best_elevation_deg": ("deg", "elevation of the highest usable satellite"),
    "serving_norad_id": ("", "NORAD id of the scheduler's serving satellite (coverage "
                             "strategy, held within a 15 s slot)"),
    "availability": ("share", "steps with at least one usable satellite"),
    "area_share_always_covered": ("share", "area whose cells always have a usable satellite"),
    "mean_in_view": ("", "mean usable satellites in view"),
    "min_in_view": ("", "fewest usable satellites in view at a step"),
    "max_in_view": ("", "most usable satellites in view at a step"),
    "longest_gap_s": ("s", "longest run of steps without a usable satellite x step"),
    "serving_changes": ("", "steps whose serving satellite differs from the previous step's"),
    "mean_best_elevation_deg": ("deg", "mean elevation of the highest usable satellite "
                                       "(covered steps)"),
    "availability_p5": ("share", "area-weighted 5th percentile of cell availability"),
    "availability_p50": ("share", "area-weighted median of cell availability"),
    "availability_p95": ("share", "area-weighted 95th percentile of cell availability"),
    "mean_in_view_p5": ("", "area-weighted 5th percentile of cells' mean satellites in view"),
    "mean_in_view_p50": ("", "area-weighted median of cells' mean satellites in view"),
    "mean_in_view_p95": ("", "area-weighted 95th percentile of cells' mean satellites in view"),
    # policy
    "status": ("", "served (covered and allowed), blocked (covered, switched off) or "
                   "uncovered (no usable satellite)"),
    "rule": ("", "policy rule deciding the status at this step ('default' = the policy's "
                 "default action)"),
    "rule_at_end": ("", "policy rule deciding the point at the window's last step"),
    "dish_code": ("", "the policy's dish-side code when it switches the point off "
                      "(CELL_IS_DISABLED, BLOCKED_COUNTRY, BLOCKED_AREA, "
                      "MOVING_TOO_FAST_FOR_POLICY, UNREGISTERED); empty when allowed"),
    "served_share": ("share", "steps served"),
    "blocked_share": ("share", "steps covered but switched off by the policy"),
    "uncovered_share": ("share", "steps without a usable satellite"),
    "served_km2": ("km²", "area x share of steps served"),
    "blocked_km2": ("km²", "area x share of steps blocked"),
    "uncovered_km2": ("km²", "area x share of steps uncovered"),
    # network
    "routed": ("", "whether the network stage routed this step (every network.rtt_every)"),
    "routed_steps": ("", "routed steps at which the policy served the point"),
    "routed_served_share": ("share", "of those, steps with a path to a PoP"),
    "path_norad_id": ("", "NORAD id of the satellite carrying the routed path"),
    "gateway": ("", "gateway of the routed path"),
    "pop": ("", "point of presence (PoP) of the routed path"),
    "home_pop": ("", "the PoP the point's traffic exits at (its country's, else the nearest)"),
    "n_laser_hops": ("", "laser links on the path (0 = bent pipe)"),
    "path": ("", "nodes of the routed path, serving satellite first, e.g. 'sat:44714 > "
                 "sat:44890 > gw:Wola Krobowska > pop:Warsaw' (satellites by NORAD id; empty "
                 "where unserved or not routed)"),
    "rtt_ms": ("ms", "round-trip time to the PoP as users measure it: the propagation floor "
                     "plus the fitted overhead (network.latency_model)"),
    "rtt_floor_ms": ("ms", "round-trip propagation time to the PoP (no overheads)"),
    "rtt_mean_ms": ("ms", "mean RTT over routed, served steps"),
    "rtt_min_ms": ("ms", "lowest RTT over routed, served steps"),
    "rtt_max_ms": ("ms", "highest RTT over routed, served steps"),
    "rtt_p5_ms": ("ms", "5th percentile of RTT (regions: area-weighted, 0.01 ms bins)"),
    "rtt_p50_ms": ("ms", "median RTT (regions: area-weighted, 0.01 ms bins)"),
    "rtt_p95_ms": ("ms", "95th percentile of RTT (regions: area-weighted, 0.01 ms bins)"),
    "bent_pipe_share": ("share", "routed, served steps without laser links"),
    "laser_path_share": ("share", "area-weighted share of routed, served steps over lasers"),
    "mean_laser_hops": ("", "mean laser links per routed, served step"),
    "gateway_changes": ("", "routed steps whose gateway differs from the previous routed step's"),
    "path_changes": ("", "routed steps whose path differs from the previous routed step's"),
    "main_gateway": ("", "gateway used most often"),
    "main_pop": ("", "PoP used most often"),
    "mean_users": ("", "points served through the gateway, mean per routed step"),
    "max_users": ("", "points served through the gateway, most at a routed step"),
    "n_users": ("", "points counted at the routed step"),
    "n_served": ("", "points with a path at the routed step"),
    "n_bent_pipe": ("", "points served without lasers at the routed step"),
    # what-if (scenario's outages vs all sites up)
    "site": ("", "gateway or PoP taken down"),
    "kind": ("", "gateway or pop"),
    "start_utc": ("UTC", "start of the outage (empty: open)"),
    "end_utc": ("UTC", "end of the outage (empty: open)"),
    "baseline_routed_share": ("share", "area-weighted routed share with every site up"),
    "outage_routed_share": ("share", "area-weighted routed share with the outages"),
    "routed_share_change": ("share", "outage minus baseline routed share"),
    "baseline_rtt_p50_ms": ("ms", "median RTT with every site up"),
    "outage_rtt_p50_ms": ("ms", "median RTT with the outages"),
    "rtt_p50_change_ms": ("ms", "outage minus baseline median RTT"),
    "rtt_change_mean_ms": ("ms", "mean RTT with the outages minus mean RTT with every site up"),
    "cells_losing_service": ("", "cells routed less often with the outages"),
    "baseline_served_steps": ("", "routed steps with a path, every site up"),
    "outage_served_steps": ("", "routed steps with a path, with the outages"),
    # capacity (busy-hour means: steps in each cell's busy hours, local mean solar time)
    "population": ("people", "population proxy (GeoNames cities and national totals spread "
                             "over land cells; regions: sum)"),
    "subscribers": ("", "population x take rate, or the demand file's subscribers "
                        "(regions: sum)"),
    "demand_mbps": ("Mbps", "offered traffic at busy hour (regions: sum over cells; "
                            "capacity_by_time: at the step)"),
    "carried_mbps": ("Mbps", "carried traffic at busy hour (regions: sum over cells; "
                             "capacity_by_time: at the step)"),
    "mbps_per_subscriber": ("Mbps", "busy-hour carried traffic per subscriber (terminals: "
                                    "of the region cell holding them)"),
    "oversubscription": ("", "busy-hour offered / carried traffic"),
    "sold_out_share": ("share", "busy-hour served steps carrying < 99 % of the offered "
                                "traffic (regions: per subscriber-step)"),
    "headroom_mbps": ("Mbps", "busy-hour mean of what one more saturating user of the cell "
                              "could add, others unchanged (served steps)"),
    "headroom_p50_mbps": ("Mbps", "subscriber-weighted median of the cells' headroom"),
    "demand_mean_mbps": ("Mbps", "offered traffic, mean over the window"),
    "carried_mean_mbps": ("Mbps", "carried traffic, mean over the window (satellites, "
                                  "gateways: mean over all steps)"),
    "whatif_carried_mbps": ("Mbps", "busy-hour carried traffic in the capacity what-if "
                                    "(capacity.whatif_on / whatif_off / whatif_policy)"),
    "carried_change_mbps": ("Mbps", "what-if minus scenario busy-hour carried traffic"),
    "whatif_mbps_per_subscriber": ("Mbps", "busy-hour carried traffic per subscriber in the "
                                           "what-if"),
    "whatif_sold_out_share": ("share", "sold-out share in the what-if"),
    "all_up_carried_mbps": ("Mbps", "busy-hour carried traffic with every gateway up "
                                    "(scenario with outages)"),
    "carried_lost_mbps": ("Mbps", "busy-hour carried traffic lost to the gateway outages"),
    "all_up_mbps_per_subscriber": ("Mbps", "busy-hour carried traffic per subscriber with "
                                           "every gateway up"),
    "all_up_carried_mean_mbps": ("Mbps", "gateway's mean carried traffic with every gateway "
                                         "up"),
    "norad_id": ("", "NORAD catalogue number of the satellite"),
    "shell": ("", "orbital shell of the satellite"),
    "generation": ("", "satellite generation of the capacity model (v1, v2mini)"),
    "capacity_mbps": ("Mbps", "satellite capacity, or gateway feeder capacity (antennas x "
                              "per-antenna rate)"),
    "beams": ("", "user beams of the satellite"),
    "antennas": ("", "gateway antennas (satellites tracked at once)"),
    "carried_max_mbps": ("Mbps", "highest carried traffic at a step"),
    "utilization": ("share", "mean carried traffic / capacity"),
    "saturated_share": ("share", "steps at which the satellite's (gateway's) capacity "
                                 "limited the allocation"),
    "active_share": ("share", "steps at which the satellite carried traffic"),
}


def describe(column: str) -> tuple[str, str]:
    """(unit, meaning) of a column, including the ``mean_users``-style per-step extras
    ``rtt_pN_ms`` for any percentile N."""
    if column in COLUMNS:
        return COLUMNS[column]
    if column.startswith("rtt_p") and column.endswith("_ms"):
        return "ms", f"{column[5:-3]}th percentile of RTT across the points counted"
    raise KeyError(column)


def markdown_table() -> str:
    """The vocabulary as a Markdown table (column, unit, meaning), as in the README."""
    lines = ["| column | unit | meaning |", "|---|---|---|"]
    for name, (unit, meaning) in COLUMNS.items():
        lines.append(f"| `{name}` | {unit} | {meaning} |")
    return "\n".join(lines)
