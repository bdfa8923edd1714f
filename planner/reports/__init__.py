"""Reports for decision-makers: the tables (pandas frames), the figures (matplotlib) and
their rendering to HTML, PDF and CSV."""
