"""The pages' callbacks, one module per page (declared at import, attached by `create_app`)."""
