"""The paper's published numbers (Grangier et al., arXiv 2402.01093) as data files with
their source, and their loader. See `README.md` in this folder for each table's origin.

This room never imports torch.
"""

from planner.reference.tables import (
    CALIBRATION_STRATEGIES,
    DOMAIN_TOKEN_COLUMNS,
    REFERENCE_DIR,
    SOURCES,
    TABLES,
    figure_fact,
    knob_measurements,
    load_table,
    perplexity_observations,
    read_records,
    table8_long,
)

__all__ = [
    "CALIBRATION_STRATEGIES",
    "DOMAIN_TOKEN_COLUMNS",
    "REFERENCE_DIR",
    "SOURCES",
    "TABLES",
    "figure_fact",
    "knob_measurements",
    "load_table",
    "perplexity_observations",
    "read_records",
    "table8_long",
]
