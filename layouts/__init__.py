"""The pages (Dash pages, `register_page`) and the figures they draw."""
