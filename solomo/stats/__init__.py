"""Marketer stats: the funnel from place to redemption, read from rollups the hot paths feed."""
