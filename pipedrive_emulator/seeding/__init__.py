"""Seeding steps by entity family; :mod:`pipedrive_emulator.seed` runs them in order."""
