"""Alembic migrations for relaylane's schema (script_location relaylane.store:migrations)."""
