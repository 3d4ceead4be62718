"""Builders: pure functions from sealed snapshots to registry artifacts; core never imports them."""
