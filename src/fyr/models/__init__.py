"""Data shapes shared by every service: ORM tables and the pydantic contracts."""
