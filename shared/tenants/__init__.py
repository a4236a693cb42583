"""The tenant registry: partners, their organizations, and the organizations' workspaces."""
