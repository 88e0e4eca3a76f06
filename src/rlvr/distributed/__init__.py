"""Placement of the roles: in this process (``backend: local``) or in Ray actors (``backend: ray``)."""
