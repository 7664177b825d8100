"""The vocabulary the diagrams speak: roles, jurisdiction, form keys, operators, and the hooks into cases."""
