"""NovaMart: a simulated retailer whose true demand is known."""

from matih.sandbox.generator import World, WorldConfig, generate_world
from matih.sandbox.store import load_world, save_world

__all__ = ["World", "WorldConfig", "generate_world", "load_world", "save_world"]
