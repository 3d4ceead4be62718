"""Record-level explanations of what changed between two artifact versions; pure and total."""
