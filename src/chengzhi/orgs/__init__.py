"""Organisations (组织), people (人员) and duty assignments (定格、定人、定责)."""
