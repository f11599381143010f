"""The delivery worker's rooms: claim, limits, prepare, record, follow, over one store; ``worker`` composes them."""
