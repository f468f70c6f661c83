"""The web side's shared context, below the pages and their callbacks: settings of the
serving app, workspaces opened per process, the callback registry, routes, view state, common
components, login and request limits, and background jobs."""
