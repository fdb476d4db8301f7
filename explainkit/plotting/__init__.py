"""Shared figures; matplotlib is imported only when drawing."""

from ._overlay import overlay_rgb, plot_overlay

__all__ = ["overlay_rgb", "plot_overlay"]
