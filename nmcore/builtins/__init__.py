"""The built-in plugins: the webhook channel and the tenant resolvers.

They register through the same public hooks as any third-party plugin; the plugin host loads them by dotted
name (`nmcore.plugins.DEFAULT_PLUGINS`), so nothing in the core imports them.
"""
