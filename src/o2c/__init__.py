"""o2c: order-to-cash."""
