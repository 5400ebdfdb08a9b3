"""The store: users, orders, products and their variants (tau-bench retail schema)."""
