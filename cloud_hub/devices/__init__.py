"""Device registry: provisioning (credentials, broker ACLs), secret verification, listing."""
